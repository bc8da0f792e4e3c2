"""The blocking chat client: plain sockets and ``ssl``, one I/O thread, no event loop::

    with ChatClient(config, ca_file="ca.pem") as chat:
        mid = chat.send_message(to_user=42, body="hi")
        for event in chat.events():
            ...

One background thread owns the socket: it opens the transport (TCP, TLS, WebSocket:
the WebSocket framing is in the core), writes what the current
:class:`~cubeproto.ClientConnection` produces, waits in ``select`` for data, for the
connection's next timer or for a wake-up from another thread, and sleeps the reconnect
delays the :class:`~cubeproto.reconnect.Supervisor` gives it.  Application threads call
into the core under one lock and wake the I/O thread to write; they never touch the
socket, so a TLS socket is only ever used by one thread.

Events are delivered to ``on_event`` (called in the I/O thread; it must not block) or,
without a callback, queued for :meth:`ChatClient.events` / :meth:`ChatClient.next_event`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import random
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from cubeproto import ClientConfig, ClientConnection, Ping, SendIq, StreamState
from cubeproto.chat import (
    ChatState,
    DeleteMessage,
    DeletePrivacyList,
    DialogJoined,
    EditMessage,
    ExtensionValue,
    GetLastActivity,
    GetOnlineUsers,
    GetPrivacyList,
    GetPrivacyListNames,
    JoinDialog,
    LastActivity,
    LeaveDialog,
    MarkerKind,
    OnlineUsers,
    PrivacyItem,
    PrivacyListNames,
    PrivacyListReceived,
    SendChatState,
    SendMarker,
    SendMessage,
    SendSystemMessage,
    SetClientState,
    SetDefaultPrivacyList,
    SetPrivacyList,
    SubscribeLastActivity,
    privacy_update,
)
from cubeproto.commands import Command
from cubeproto.errors import LocalProtocolError
from cubeproto.events import (
    CheckpointChanged,
    Connected,
    Event,
    IqResultReceived,
    PongReceived,
    TlsUpgradeRequired,
)
from cubeproto.reconnect import CallSettled, Disconnected, Reconnected, ReconnectPolicy, Supervisor

from ._checkpoint_io import CheckpointSink, CheckpointSource, CheckpointWriter, load_checkpoint
from ._endpoints import default_port
from ._logging import log_event
from ._tls import ChannelBindingMode, channel_binding, client_context
from .errors import ConnectFailed, IqTimeout, NotConnected, error_for, transport_failure

__all__ = ["ChatClient"]

DEFAULT_CALL_TIMEOUT = 30.0
#: Bound on one blocking write (a peer that stops reading is a dead connection).
WRITE_TIMEOUT = 30.0
_STOP = object()


class _Waiter:
    __slots__ = ("done", "settled")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.settled: CallSettled | None = None


class ChatClient:
    """A ConnectyCube chat client for blocking code.  Thread-safe.

    Arguments as :class:`~cubeproto.transports.anyio_chat.AsyncChatClient` (including
    ``checkpoint`` and ``resume_from``), plus ``on_event``: a callback for every event
    (instead of the queue).  The checkpoint is written in the I/O thread (or in the
    thread calling :meth:`confirm_handled`) under the client's lock.

    ``Connected`` (and the return of ``connect``/``wait_connected``) comes when the server
    has enabled stream management (``<enabled/>``), before it has processed the initial
    presence sent just before: a message sent to this user in that gap can be routed to
    offline storage instead of this session.  ``wait_connected(settled=True)`` pings once
    (answered in order, so after it the presence is in effect).
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        host: str | None = None,
        port: int | None = None,
        tls: ssl.SSLContext | None = None,
        ca_file: str | Path | None = None,
        channel_binding: ChannelBindingMode = "auto",
        policy: ReconnectPolicy | None = None,
        connect_timeout: float = 10.0,
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
        on_event: Callable[[Event], None] | None = None,
        checkpoint: CheckpointSink | None = None,
        resume_from: CheckpointSource | None = None,
    ) -> None:
        self.config = config
        self.host = host or config.chat_host
        self.port = port or default_port(config.transport)
        self._where = f"{self.host}:{self.port}"
        self._tls = tls or client_context(ca_file=ca_file)
        self._cb_mode: ChannelBindingMode = channel_binding
        self._connect_timeout = connect_timeout
        self._call_timeout = call_timeout
        self._on_event = on_event
        self._checkpoint = CheckpointWriter(checkpoint) if checkpoint is not None else None
        if checkpoint is not None and not config.checkpoint_events:
            # The client persists on every CheckpointChanged: the core must emit them.
            config = self.config = dataclasses.replace(config, checkpoint_events=True)
        self._sup = Supervisor(
            config, policy, jitter=random.random, resume=load_checkpoint(resume_from)
        )
        self._lock = threading.RLock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._waiters: dict[str, _Waiter] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sleep = threading.Event()
        self._up = threading.Event()
        self._first: Event | None = None
        self._first_seen = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        # App-controlled acks: events handed towards the application (counted under the
        # lock when taken from the connection) and events the application has taken.
        self._delivered = 0
        self._consumed = 0

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> ChatClient:
        self.connect()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.disconnect()

    def connect(self) -> None:
        """Connect and wait for the session; raises :class:`ConnectFailed` if the first
        attempt fails (later losses are retried automatically)."""
        if self._thread is not None:
            raise LocalProtocolError("connect() was already called")
        self._thread = threading.Thread(target=self._run, name="cubeproto-chat", daemon=True)
        self._thread.start()
        self._first_seen.wait()
        if not isinstance(self._first, Connected):
            self.terminate()
            raise ConnectFailed.of(self._where, self._first)

    def disconnect(self) -> None:
        """Close the stream gracefully and stop reconnecting; waits until closed."""
        with self._lock:
            items = self._count(self._sup.close(now=time.monotonic()))
        self._finish(items)

    def terminate(self) -> None:
        """Drop the connection at once (no stream close) and stop reconnecting."""
        with self._lock:
            items = self._count(self._sup.terminate(now=time.monotonic()))
        self._finish(items)

    def _finish(self, items: list[Event | CallSettled]) -> None:
        self._dispatch(items)
        self._sleep.set()
        self._wake()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    @property
    def is_connected(self) -> bool:
        """A session is ready for commands."""
        with self._lock:
            return self._sup.is_connected

    def wait_connected(self, timeout: float | None = None, *, settled: bool = False) -> bool:
        """Wait until a session is ready; False on timeout.  Raises NotConnected once
        the client has stopped.  ``settled=True`` also pings the server once, so that
        the initial presence has been processed when this returns (see the class
        docstring); the ping's errors propagate."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_connected:
            if self._sup.stopped:
                raise NotConnected("the client stopped")
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            self._up.wait(left if left is None else min(left, 0.5))
        if settled:
            self.ping()
        return True

    def next_event(self, timeout: float | None = None) -> Event | None:
        """The next queued event; ``None`` on timeout or once the client stopped."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _STOP:
            self._queue.put(_STOP)  # keep telling later callers
            return None
        assert isinstance(item, Event)
        with self._lock:
            self._consumed += 1
        return item

    def events(self) -> Iterator[Event]:
        """Every queued event, in order; ends when the client has stopped."""
        while (event := self.next_event()) is not None:
            yield event

    def confirm_handled(self) -> bool:
        """With ``app_controlled_acks=True``: every event this client has handed to the
        application so far (through :meth:`next_event`/:meth:`events` or ``on_event``)
        has been handled durably, so the server may now be told it was received.

        Call it after handling an event, not before: what is not confirmed is redelivered
        by the server after a resumption (also in a new process that resumes from a
        checkpoint), so a crash between receiving and handling loses nothing.  The
        connection's acknowledgement counter moves only when the application has caught
        up with the events already taken from the connection (confirming an event while
        later ones wait in the queue would acknowledge those too); then this returns
        ``True``.  ``False``: events are still waiting, or there is no connection (the
        next confirmation after taking them will cover them).  Raises
        ``LocalProtocolError`` without ``app_controlled_acks``.
        """
        if not self.config.app_controlled_acks:
            raise LocalProtocolError("confirm_handled() needs app_controlled_acks=True")
        with self._lock:
            conn = self._sup.connection
            if self._consumed < self._delivered or conn is None:
                return False
            if conn.state is StreamState.CLOSED:
                return False
            conn.confirm_handled(now=time.monotonic())
            if self._checkpoint is not None:
                self._checkpoint.persist(conn)  # before any <a/> can tell the server
        self._wake()
        return True

    # ------------------------------------------------------------------ the I/O thread

    def _run(self) -> None:
        sup = self._sup
        try:
            while not sup.stopped:
                try:
                    sock, binding = self._open()
                except (OSError, ssl.SSLError) as exc:
                    with self._lock:
                        items = self._count(
                            sup.connect_failed(transport_failure(exc), now=time.monotonic())
                        )
                    self._dispatch(items)
                else:
                    self._pump(sock, binding)
                delay = sup.next_delay()
                if delay is None:
                    break
                self._sleep.wait(delay)
        finally:
            with self._lock:
                items = self._count(
                    sup.settle_all(
                        Disconnected(
                            closed=None,
                            error="stopped",
                            reconnect_in=None,
                            attempt=0,
                            resumable=False,
                        )
                    )
                )
            self._dispatch(items)
            self._first_seen.set()
            self._up.set()
            self._queue.put(_STOP)

    def _open(self) -> tuple[socket.socket, tuple[str, bytes] | None]:
        sock = socket.create_connection((self.host, self.port), timeout=self._connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.config.encrypted_from_start:
            return self._start_tls(sock)
        sock.settimeout(WRITE_TIMEOUT)
        return sock, None

    def _start_tls(self, sock: socket.socket) -> tuple[socket.socket, tuple[str, bytes] | None]:
        sock.settimeout(self._connect_timeout)
        try:
            tls = self._tls.wrap_socket(sock, server_hostname=self.config.chat_host)
        except BaseException:
            sock.close()
            raise
        tls.settimeout(WRITE_TIMEOUT)
        return tls, channel_binding(tls, self._cb_mode)

    def _pump(self, sock: socket.socket, binding: tuple[str, bytes] | None) -> None:
        """Run one connection until it closes; closes the socket."""
        self._sock = sock
        try:
            self._pump_connection(sock, binding)
        finally:
            if self._sock is not None:
                self._sock.close()

    def _pump_connection(self, sock: socket.socket, binding: tuple[str, bytes] | None) -> None:
        with self._lock:
            if self._sup.stopped:  # closed while the transport was opening
                return
            conn = self._sup.new_connection()
            conn.start(now=time.monotonic(), channel_binding=binding)
        while True:
            with self._lock:
                out = conn.data_to_send()
                items, tls_needed = self._drain(conn)
                deadline = conn.get_timer()
                closed = conn.state is StreamState.CLOSED
            if out:
                try:
                    sock.sendall(out)
                except OSError:
                    with self._lock:
                        conn.receive_eof(now=time.monotonic())
                    self._dispatch(items)
                    continue  # deliver the close next
            self._dispatch(items)
            if tls_needed:
                try:
                    sock, binding = self._start_tls(sock)  # the plain socket is detached
                    self._sock = sock
                except (OSError, ssl.SSLError) as exc:
                    with self._lock:
                        if conn.state is StreamState.TLS_PENDING:
                            # the reason (a certificate refused ...) reaches the user
                            conn.tls_failed(transport_failure(exc), now=time.monotonic())
                        elif conn.state is not StreamState.CLOSED:
                            conn.receive_eof(now=time.monotonic())
                    continue
                with self._lock:
                    # The application may have closed or terminated it meanwhile.
                    if conn.state is StreamState.TLS_PENDING:
                        conn.tls_established(now=time.monotonic(), channel_binding=binding)
                    elif conn.state is not StreamState.CLOSED:
                        conn.receive_eof(now=time.monotonic())
                continue
            if closed:
                return
            self._wait_and_read(conn, sock, deadline)

    def _wait_and_read(
        self, conn: ClientConnection, sock: socket.socket, deadline: float | None
    ) -> None:
        pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
        if not pending:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([sock, self._wake_r], [], [], timeout)
            if self._wake_r in ready:
                with contextlib.suppress(OSError):
                    while self._wake_r.recv(4096):
                        pass
            pending = sock in ready
        data: bytes | None = None
        if pending:
            try:
                data = sock.recv(65536)
            except (ssl.SSLWantReadError, BlockingIOError, TimeoutError):
                data = None
            except OSError:
                data = b""
        with self._lock:
            now = time.monotonic()
            if conn.state is StreamState.CLOSED:
                return
            if data:
                conn.receive_data(data, now=now)
            elif data == b"":
                conn.receive_eof(now=now)
            if deadline is not None and now >= deadline:
                conn.handle_timer(now=now)

    def _drain(self, conn: ClientConnection) -> tuple[list[Event | CallSettled], bool]:
        now = time.monotonic()
        items: list[Event | CallSettled] = []
        tls_needed = False
        changed = False
        while (event := conn.next_event()) is not None:
            if isinstance(event, TlsUpgradeRequired):
                tls_needed = True
            elif isinstance(event, CheckpointChanged):
                changed = True
            items.extend(self._sup.process(event, now=now))
        if changed and self._checkpoint is not None:
            # Under the lock, before the output taken with these events is written: the
            # server hears of what the checkpoint records only once it is persisted.
            self._checkpoint.persist(conn)
        self._count(items)
        return items, tls_needed

    def _count(self, items: list[Event | CallSettled]) -> list[Event | CallSettled]:
        """Count the events among ``items`` as handed to the application (call under the
        lock, in the same locked section that produced them, so that
        :meth:`confirm_handled` never sees an event taken but not yet counted)."""
        self._delivered += sum(1 for item in items if not isinstance(item, CallSettled))
        return items

    def _dispatch(self, items: Iterable[Event | CallSettled]) -> None:
        for item in items:
            if isinstance(item, CallSettled):
                with self._lock:
                    waiter = self._waiters.pop(item.call_id, None)
                if waiter is not None:
                    waiter.settled = item
                    waiter.done.set()
                continue
            if isinstance(item, (Connected, Reconnected)):
                self._up.set()
            elif isinstance(item, Disconnected):
                self._up.clear()
            log_event(item, self._where)
            if self._first is None and isinstance(item, (Connected, Disconnected)):
                self._first = item
                self._first_seen.set()
            if self._on_event is not None:
                with self._lock:
                    self._consumed += 1
                self._on_event(item)
            else:
                self._queue.put(item)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    # ------------------------------------------------------------------ commands

    def send(self, command: Command) -> str | None:
        """Send any command; returns the stanza id (a message id for messages)."""
        with self._lock:
            try:
                stanza_id = self._sup.send(command, now=time.monotonic())
            except LocalProtocolError as exc:
                if not self._sup.is_connected:
                    raise NotConnected(str(exc)) from None
                raise
        self._wake()
        return stanza_id

    def call(self, command: Command, *, timeout: float | None = None) -> Event | None:
        """Send a request and wait for its answer (the event the answer became).

        Raises :class:`IqError` for an error answer and :class:`IqTimeout` when nothing
        answered in time (the command's own timeout, else ``timeout``/``call_timeout``).
        """
        with self._lock:
            if not self._sup.is_connected:
                raise NotConnected("not connected")
            call_id = self._sup.call(command, now=time.monotonic())
            waiter = None
            if call_id is not None:
                waiter = self._waiters[call_id] = _Waiter()
        self._wake()
        if call_id is None or waiter is None:
            return None
        limit = timeout if timeout is not None else getattr(command, "timeout", None)
        try:
            if not waiter.done.wait((limit or self._call_timeout) + 1.0):
                raise IqTimeout(f"no answer to {call_id}")
        finally:
            with self._lock:
                self._waiters.pop(call_id, None)
        settled = waiter.settled
        assert settled is not None
        if not settled.ok:
            raise error_for(settled)
        return settled.event

    # --- the SDK's verbs (as in AsyncChatClient) --------------------------------------

    def send_message(
        self,
        *,
        to_user: int | None = None,
        to_dialog: str | None = None,
        body: str | None = None,
        extension: Mapping[str, ExtensionValue] | None = None,
        **options: Any,
    ) -> str:
        """Send a 1-1 (``to_user``) or group (``to_dialog``) message; returns its id."""
        command = SendMessage(
            to_user=to_user, to_dialog=to_dialog, body=body, extension=extension, **options
        )
        message_id = self.send(command)
        assert message_id is not None
        return message_id

    def send_system_message(
        self,
        to_user: int,
        *,
        body: str | None = None,
        extension: Mapping[str, ExtensionValue] | None = None,
    ) -> str:
        """Send a system message (``type="headline"``); returns its id."""
        message_id = self.send(
            SendSystemMessage(to_user=to_user, body=body, extension=extension or {})
        )
        assert message_id is not None
        return message_id

    def send_typing(self, *, to_user: int | None = None, to_dialog: str | None = None) -> None:
        """ "is typing" (XEP-0085 composing)."""
        self.send(SendChatState(state=ChatState.COMPOSING, to_user=to_user, to_dialog=to_dialog))

    def send_stop_typing(self, *, to_user: int | None = None, to_dialog: str | None = None) -> None:
        """ "stopped typing" (XEP-0085 paused)."""
        self.send(SendChatState(state=ChatState.PAUSED, to_user=to_user, to_dialog=to_dialog))

    def send_delivered(
        self, message_id: str, *, to_user: int, dialog_id: str | None = None
    ) -> None:
        """Tell the sender ``message_id`` was delivered."""
        self.send(
            SendMarker(
                kind=MarkerKind.RECEIVED,
                message_id=message_id,
                to_user=to_user,
                dialog_id=dialog_id,
            )
        )

    def send_read(self, message_id: str, *, to_user: int, dialog_id: str | None = None) -> None:
        """Tell the sender ``message_id`` was read."""
        self.send(
            SendMarker(
                kind=MarkerKind.DISPLAYED,
                message_id=message_id,
                to_user=to_user,
                dialog_id=dialog_id,
            )
        )

    def edit_message(self, message_id: str, body: str, **target: Any) -> str | None:
        """Correct a message (``to_user=``/``to_dialog=``, ``last=``, ``extension=``)."""
        return self.send(EditMessage(message_id=message_id, body=body, **target))

    def delete_message(self, message_id: str, **target: Any) -> str | None:
        """Delete a message for everyone (``to_user=`` or ``to_dialog=``)."""
        return self.send(DeleteMessage(message_id=message_id, **target))

    def join_dialog(self, dialog_id: str) -> DialogJoined:
        """Join a group dialog's room; re-joined automatically after a fresh session."""
        event = self.call(JoinDialog(dialog_id=dialog_id))
        assert isinstance(event, DialogJoined)
        return event

    def leave_dialog(self, dialog_id: str) -> None:
        """Leave a group dialog's room."""
        self.call(LeaveDialog(dialog_id=dialog_id))

    def online_users(self, dialog_id: str) -> tuple[int, ...]:
        """User ids of the room's occupants."""
        event = self.call(GetOnlineUsers(dialog_id=dialog_id))
        assert isinstance(event, OnlineUsers)
        return event.user_ids

    def ping(self, *, timeout: float = 5.0, to: str | None = None) -> float:
        """XEP-0199 ping; returns the round trip in seconds or raises IqTimeout/IqError."""
        event = self.call(Ping(to=to, timeout=timeout))
        assert isinstance(event, PongReceived)
        if event.error is not None:
            raise error_for(CallSettled(event.ping_id, event, False))
        return event.round_trip

    def last_activity(self, user_id: int) -> int:
        """Seconds since the user was last active (0: online now)."""
        event = self.call(GetLastActivity(user_id=user_id))
        assert isinstance(event, LastActivity)
        return event.seconds

    def subscribe_last_activity(self, user_id: int, *, enable: bool = True) -> None:
        """Receive ``LastActivity`` pushes for the user (``enable=False``: stop)."""
        self.call(SubscribeLastActivity(user_id=user_id, enable=enable))

    def mark_active(self) -> None:
        """markActive (XEP-0352 CSI or the SDK's IQ, see ``SetClientState``)."""
        self.call(SetClientState(active=True))

    def mark_inactive(self) -> None:
        """markInactive."""
        self.call(SetClientState(active=False))

    def create_privacy_list(self, name: str, items: Iterable[PrivacyItem]) -> None:
        """Create (or replace) a privacy list."""
        self.call(SetPrivacyList(name=name, items=tuple(items)))

    def get_privacy_list(self, name: str) -> tuple[PrivacyItem, ...]:
        """The items of a privacy list."""
        event = self.call(GetPrivacyList(name=name))
        assert isinstance(event, PrivacyListReceived)
        return event.items

    def privacy_list_names(self) -> PrivacyListNames:
        """The names of the lists, and the default and active ones."""
        event = self.call(GetPrivacyListNames())
        assert isinstance(event, PrivacyListNames)
        return event

    def update_privacy_list(self, name: str, changes: Iterable[PrivacyItem]) -> None:
        """The SDK's update: get the list, merge the changes, set it (or remove it when
        nothing is left, as the SDK does: :func:`~cubeproto.chat.privacy_update`)."""
        self.call(privacy_update(name, self.get_privacy_list(name), changes))

    def set_default_privacy_list(self, name: str | None) -> None:
        """Make a list the default (``None``: no default)."""
        self.call(SetDefaultPrivacyList(name=name))

    def delete_privacy_list(self, name: str) -> None:
        """Delete a privacy list."""
        self.call(DeletePrivacyList(name=name))

    def send_iq(self, type: str, payload: str, *, to: str | None = None) -> bytes | None:
        """Any IQ request (escape hatch); returns the answer's payload bytes."""
        event = self.call(SendIq(type=type, payload=payload, to=to))
        assert isinstance(event, IqResultReceived)
        return event.payload
