"""The async chat client: one code base for asyncio and trio, through anyio::

    async with AsyncChatClient(config, ca_file="ca.pem") as chat:
        mid = await chat.send_message(to_user=42, body="hi")
        async for event in chat.events():
            ...

The adapter moves bytes and time and nothing else.  A background task opens the
transport (TCP, TLS, WebSocket: the WebSocket framing is in the core), feeds the current
:class:`~cubeproto.ClientConnection` and sleeps until its next timer, and a writer task
sends what the connection produced (commands only queue bytes and wake it, so a burst of
messages leaves in a few large writes); the
:class:`~cubeproto.reconnect.Supervisor` decides everything else (resumption,
backoff, re-joining dialogs, matching answers to requests).  Commands are executed in
the calling task (every core call is synchronous, so no lock is needed around them).

``connect()`` and ``disconnect()`` must run in the same task (``async with`` does that),
because the background task lives in a task group they enter and leave.
"""

from __future__ import annotations

import dataclasses
import math
import random
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AsyncExitStack, suppress
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup
from anyio.lowlevel import checkpoint_if_cancelled
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

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

from ._anyio_wire import TRANSPORT_ERRORS, Wire
from ._checkpoint_io import CheckpointSink, CheckpointSource, CheckpointWriter, load_checkpoint
from ._endpoints import default_port
from ._logging import log_event
from ._tls import ChannelBindingMode, channel_binding, client_context
from .errors import ConnectFailed, IqTimeout, NotConnected, error_for, transport_failure

__all__ = ["AsyncChatClient"]

#: Output buffered beyond this makes a command wait until it is written (backpressure).
HIGH_WATER = 1 << 16

#: Seconds to wait for a join/leave confirmation or any answer without a core timeout.
DEFAULT_CALL_TIMEOUT = 30.0


class _Waiter:
    __slots__ = ("done", "settled")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.settled: CallSettled | None = None


class _EventIterator:
    """The client's event stream; counts what the application took (for
    :meth:`AsyncChatClient.confirm_handled`).  Not an async generator: a generator's
    ``__anext__`` cancelled by a timeout would close it, this one stays usable."""

    __slots__ = ("_client",)

    def __init__(self, client: AsyncChatClient) -> None:
        self._client = client

    def __aiter__(self) -> _EventIterator:
        return self

    async def __anext__(self) -> Event:
        client = self._client
        try:
            event = await client._recv_events.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None
        client._consumed += 1
        return event


class AsyncChatClient:
    """A ConnectyCube chat client for asyncio or trio (whichever runs it).

    ``host``/``port`` default to ``config.chat_host`` and the transport's usual port;
    ``tls`` (an ``ssl.SSLContext``) defaults to one that verifies the server against the
    system store plus ``ca_file``.  ``policy`` controls automatic reconnection.

    Crash-safe receiving (issue 12): with ``ClientConfig(app_controlled_acks=True)``,
    call :meth:`confirm_handled` after handling events durably; ``checkpoint`` (a path,
    written atomically, or a callable taking the JSON text) is kept equal to the
    connection's :meth:`~cubeproto.ClientConnection.checkpoint` whenever it changes, and
    a new process passes the same path (or a :class:`~cubeproto.Checkpoint`) as
    ``resume_from`` to resume the session: the server then redelivers exactly what was
    not confirmed.  The checkpoint is written synchronously in the event loop (an
    ``fsync`` per change).

    ``Connected`` (and the return of ``connect``/``wait_connected``) comes when the server
    has enabled stream management (``<enabled/>``), before it has processed the initial
    presence sent just before: a message sent to this user in that gap can be routed to
    offline storage instead of this session (and arrive as an offline message later).
    ``await wait_connected(settled=True)`` pings once, and the server answers in order,
    so after it the presence is in effect.
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
        self._checkpoint = CheckpointWriter(checkpoint) if checkpoint is not None else None
        if checkpoint is not None and not config.checkpoint_events:
            # The client persists on every CheckpointChanged: the core must emit them.
            config = self.config = dataclasses.replace(config, checkpoint_events=True)
        self._sup = Supervisor(
            config, policy, jitter=random.random, resume=load_checkpoint(resume_from)
        )
        self._send_events: MemoryObjectSendStream[Event]
        self._recv_events: MemoryObjectReceiveStream[Event]
        self._send_events, self._recv_events = anyio.create_memory_object_stream[Event](math.inf)
        self._waiters: dict[str, _Waiter] = {}
        self._send_lock = anyio.Lock()
        self._out = bytearray()  # output waiting for the writer task
        self._write_wanted = anyio.Event()
        self._write_failed = False
        self._wire: Wire | None = None
        self._wait_scope: anyio.CancelScope | None = None
        self._tls_needed = False
        self._up = anyio.Event()
        self._first: Event | None = None
        self._first_seen = anyio.Event()
        self._exit: AsyncExitStack | None = None
        self._tg: TaskGroup | None = None
        # App-controlled acks: events handed towards the application and events it took.
        self._delivered = 0
        self._consumed = 0

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> AsyncChatClient:
        await self.connect()
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.disconnect()

    async def connect(self) -> None:
        """Connect and wait for the session; raises :class:`ConnectFailed` if the first
        attempt fails (later losses are retried automatically)."""
        if self._exit is not None:
            raise LocalProtocolError("connect() was already called")
        self._exit = AsyncExitStack()
        self._tg = await self._exit.enter_async_context(anyio.create_task_group())
        self._tg.start_soon(self._run)
        await self._first_seen.wait()
        if not isinstance(self._first, Connected):
            await self.terminate()
            raise ConnectFailed.of(self._where, self._first)

    async def disconnect(self) -> None:
        """Close the stream gracefully and stop reconnecting; waits until closed."""
        self._dispatch(self._sup.close(now=anyio.current_time()))
        await self._finish(wake=False)

    async def terminate(self) -> None:
        """Drop the connection at once (no stream close) and stop reconnecting."""
        self._dispatch(self._sup.terminate(now=anyio.current_time()))
        await self._finish(wake=True)

    async def _finish(self, *, wake: bool) -> None:
        self._collect()
        if wake and self._wait_scope is not None:
            self._wait_scope.deadline = -math.inf  # wake the reader to notice
        exit_stack, self._exit = self._exit, None
        if exit_stack is not None:
            await exit_stack.aclose()  # the core's close_timeout bounds the wait

    @property
    def is_connected(self) -> bool:
        """A session is ready for commands."""
        return self._sup.is_connected

    async def wait_connected(self, *, settled: bool = False) -> None:
        """Wait until a session is ready (returns at once if it is).

        ``settled=True`` also pings the server once, so that the initial presence has
        been processed when this returns (see the class docstring); the ping's errors
        (:class:`IqTimeout`, :class:`NotConnected`) propagate.
        """
        while not self._sup.is_connected:
            if self._sup.stopped:
                raise NotConnected("the client stopped")
            await self._up.wait()
        if settled:
            await self.ping()

    def events(self) -> AsyncIterator[Event]:
        """Every event, in order; ends when the client has stopped."""
        return _EventIterator(self)

    async def confirm_handled(self) -> bool:
        """With ``app_controlled_acks=True``: every event this client has handed to the
        application so far (through :meth:`events`) has been handled durably, so the
        server may now be told it was received.

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
        # No await before the check: yielding would let the reader task take more
        # events first, and a steady stream would then never let the app catch up.
        if not self.config.app_controlled_acks:
            raise LocalProtocolError("confirm_handled() needs app_controlled_acks=True")
        conn = self._sup.connection
        done = (
            self._consumed >= self._delivered
            and conn is not None
            and conn.state is not StreamState.CLOSED
        )
        if done and conn is not None:
            conn.confirm_handled(now=self._now())
            if self._checkpoint is not None:
                self._checkpoint.persist(conn)  # before any <a/> can tell the server
            self._after(conn)
        await anyio.lowlevel.checkpoint()
        return done

    # ------------------------------------------------------------------ the I/O tasks

    async def _run(self) -> None:
        sup = self._sup
        try:
            while not sup.stopped:
                try:
                    with anyio.fail_after(self._connect_timeout):
                        wire, binding = await self._open()
                except (*TRANSPORT_ERRORS, TimeoutError) as exc:
                    self._dispatch(sup.connect_failed(transport_failure(exc), now=self._now()))
                else:
                    try:
                        if not sup.stopped:  # else: closed while the transport was opening
                            await self._pump(sup.new_connection(), wire, binding)
                    finally:
                        self._wire = None
                        with anyio.CancelScope(shield=True):
                            await wire.aclose()
                delay = sup.next_delay()
                if delay is None:
                    break
                await anyio.sleep(delay)
        finally:
            self._dispatch(
                sup.settle_all(
                    Disconnected(
                        closed=None, error="stopped", reconnect_in=None, attempt=0, resumable=False
                    )
                )
            )
            self._first_seen.set()
            self._up.set()
            self._send_events.close()

    async def _open(self) -> tuple[Wire, tuple[str, bytes] | None]:
        wire = Wire(await anyio.connect_tcp(self.host, self.port))
        if not self.config.encrypted_from_start:
            return wire, None
        try:
            return wire, await self._start_tls(wire)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await wire.aclose()
            raise

    async def _start_tls(self, wire: Wire) -> tuple[str, bytes] | None:
        tls = await wire.start_tls(self._tls, self.config.chat_host)
        return channel_binding(tls, self._cb_mode)

    async def _pump(
        self, conn: ClientConnection, wire: Wire, binding: tuple[str, bytes] | None
    ) -> None:
        """Run one connection: this task reads, a writer task writes what piles up."""
        self._wire = wire
        self._out.clear()
        self._write_failed = False
        conn.start(now=self._now(), channel_binding=binding)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._writer, wire)
            try:
                await self._read(conn, wire)
            finally:
                with anyio.move_on_after(self._connect_timeout, shield=True):
                    await self._write_out(wire)  # the last words (a stream close)
                tg.cancel_scope.cancel()

    async def _read(self, conn: ClientConnection, wire: Wire) -> None:
        self._after(conn)
        while conn.state is not StreamState.CLOSED:
            deadline = conn.get_timer()
            with anyio.CancelScope(deadline=math.inf if deadline is None else deadline) as scope:
                self._wait_scope = scope
                data = await wire.receive()
            self._wait_scope = None
            now = self._now()
            if self._write_failed:
                conn.receive_eof(now=now)
            elif scope.cancelled_caught:
                conn.handle_timer(now=now)
            elif data:
                conn.receive_data(data, now=now)
            else:
                conn.receive_eof(now=now)
            if wire.tls_pending:
                self._write_wanted.set()
            self._after(conn)
            if self._tls_needed:
                self._tls_needed = False
                await self._upgrade(conn, wire)

    async def _upgrade(self, conn: ClientConnection, wire: Wire) -> None:
        """STARTTLS: write what is pending in plain text, then handshake on the same stream."""
        try:
            with anyio.fail_after(self._connect_timeout):
                async with self._send_lock:
                    await self._write_pending(wire)
                    binding = await self._start_tls(wire)
        except (*TRANSPORT_ERRORS, TimeoutError) as exc:
            binding = None
            failure: str | None = transport_failure(exc)
        else:
            failure = None
        # The application may have closed or terminated the connection meanwhile.
        if conn.state is StreamState.TLS_PENDING:
            if failure is None:
                conn.tls_established(now=self._now(), channel_binding=binding)
            else:
                conn.tls_failed(failure, now=self._now())  # the reason reaches the user
        elif conn.state is not StreamState.CLOSED:
            conn.receive_eof(now=self._now())  # reported as a lost connection
        self._after(conn)

    async def _writer(self, wire: Wire) -> None:
        while True:
            await self._write_wanted.wait()
            self._write_wanted = anyio.Event()
            await self._write_out(wire)

    async def _write_out(self, wire: Wire) -> None:
        async with self._send_lock:
            await self._write_pending(wire)

    async def _write_pending(self, wire: Wire) -> None:
        """Send everything produced so far, in as few sends as it takes (the caller
        holds the send lock).  A failed write ends the connection via the reader."""
        while (self._out or wire.tls_pending) and not self._write_failed:
            data = bytes(self._out)
            self._out.clear()
            try:
                await wire.send(data)
            except TRANSPORT_ERRORS:
                self._write_failed = True
                self._out.clear()
                if self._wait_scope is not None:
                    self._wait_scope.deadline = -math.inf  # wake the reader to notice

    def _collect(self) -> None:
        """After a command: pick up the live connection's output and events."""
        conn = self._sup.connection
        if conn is not None:
            self._after(conn)

    def _after(self, conn: ClientConnection) -> None:
        """Take what the connection produced: bytes for the writer, events for the
        application, and its next deadline for the reader's wait."""
        data = conn.data_to_send()
        if data:
            self._out += data
            self._write_wanted.set()
        now = self._now()
        changed = False
        while (event := conn.next_event()) is not None:
            if isinstance(event, TlsUpgradeRequired):
                self._tls_needed = True
            elif isinstance(event, CheckpointChanged):
                changed = True
            self._dispatch(self._sup.process(event, now=now))
        if changed and self._checkpoint is not None:
            # Synchronously, before the writer task can send what the checkpoint
            # records (an <a/>): the server hears of it only once it is persisted.
            self._checkpoint.persist(conn)
        scope = self._wait_scope
        if scope is not None:
            deadline = conn.get_timer()
            if deadline is not None and deadline < scope.deadline:
                scope.deadline = deadline

    def _dispatch(self, items: Iterable[Event | CallSettled]) -> None:
        for item in items:
            if isinstance(item, CallSettled):
                waiter = self._waiters.pop(item.call_id, None)
                if waiter is not None:
                    waiter.settled = item
                    waiter.done.set()
                continue
            if isinstance(item, (Connected, Reconnected)):
                self._up.set()
            elif isinstance(item, Disconnected) and self._up.is_set():
                self._up = anyio.Event()
            log_event(item, self._where)
            if self._first is None and isinstance(item, (Connected, Disconnected)):
                self._first = item
                self._first_seen.set()
            with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                self._send_events.send_nowait(item)
                self._delivered += 1

    def _now(self) -> float:
        return anyio.current_time()

    # ------------------------------------------------------------------ commands

    async def send(self, command: Command) -> str | None:
        """Send any command; returns the stanza id (a message id for messages).

        The bytes are queued for the writer task, so a burst of sends goes out in a few
        large writes; this waits only when more than ``HIGH_WATER`` bytes are queued.
        """
        await checkpoint_if_cancelled()
        try:
            stanza_id = self._sup.send(command, now=self._now())
        except LocalProtocolError as exc:
            if not self._sup.is_connected:
                raise NotConnected(str(exc)) from None
            raise
        self._collect()
        wire = self._wire
        if len(self._out) >= HIGH_WATER and wire is not None:
            await self._write_out(wire)
        return stanza_id

    async def call(self, command: Command, *, timeout: float | None = None) -> Event | None:
        """Send a request and wait for its answer (the event the answer became).

        Raises :class:`IqError` for an error answer and :class:`IqTimeout` when nothing
        answered in time (the command's own timeout, else ``timeout``/``call_timeout``).
        """
        if not self._sup.is_connected:
            raise NotConnected("not connected")
        call_id = self._sup.call(command, now=self._now())
        if call_id is None:
            self._collect()
            return None
        waiter = self._waiters[call_id] = _Waiter()
        self._collect()
        limit = timeout if timeout is not None else getattr(command, "timeout", None)
        try:
            with anyio.fail_after((limit or self._call_timeout) + 1.0):
                await waiter.done.wait()
        except TimeoutError:
            raise IqTimeout(f"no answer to {call_id}") from None
        finally:
            self._waiters.pop(call_id, None)
        settled = waiter.settled
        assert settled is not None
        if not settled.ok:
            raise error_for(settled)
        return settled.event

    # --- the SDK's verbs ------------------------------------------------------------

    async def send_message(
        self,
        *,
        to_user: int | None = None,
        to_dialog: str | None = None,
        body: str | None = None,
        extension: Mapping[str, ExtensionValue] | None = None,
        **options: Any,
    ) -> str:
        """Send a 1-1 (``to_user``) or group (``to_dialog``) message; returns its id.
        ``options`` are the other fields of :class:`~cubeproto.chat.SendMessage`."""
        command = SendMessage(
            to_user=to_user, to_dialog=to_dialog, body=body, extension=extension, **options
        )
        message_id = await self.send(command)
        assert message_id is not None
        return message_id

    async def send_system_message(
        self,
        to_user: int,
        *,
        body: str | None = None,
        extension: Mapping[str, ExtensionValue] | None = None,
    ) -> str:
        """Send a system message (``type="headline"``); returns its id."""
        message_id = await self.send(
            SendSystemMessage(to_user=to_user, body=body, extension=extension or {})
        )
        assert message_id is not None
        return message_id

    async def send_typing(
        self, *, to_user: int | None = None, to_dialog: str | None = None
    ) -> None:
        """ "is typing" (XEP-0085 composing)."""
        await self.send(
            SendChatState(state=ChatState.COMPOSING, to_user=to_user, to_dialog=to_dialog)
        )

    async def send_stop_typing(
        self, *, to_user: int | None = None, to_dialog: str | None = None
    ) -> None:
        """ "stopped typing" (XEP-0085 paused)."""
        await self.send(SendChatState(state=ChatState.PAUSED, to_user=to_user, to_dialog=to_dialog))

    async def send_delivered(
        self, message_id: str, *, to_user: int, dialog_id: str | None = None
    ) -> None:
        """Tell the sender ``message_id`` was delivered."""
        await self.send(
            SendMarker(
                kind=MarkerKind.RECEIVED,
                message_id=message_id,
                to_user=to_user,
                dialog_id=dialog_id,
            )
        )

    async def send_read(
        self, message_id: str, *, to_user: int, dialog_id: str | None = None
    ) -> None:
        """Tell the sender ``message_id`` was read."""
        await self.send(
            SendMarker(
                kind=MarkerKind.DISPLAYED,
                message_id=message_id,
                to_user=to_user,
                dialog_id=dialog_id,
            )
        )

    async def edit_message(self, message_id: str, body: str, **target: Any) -> str | None:
        """Correct a message (``to_user=``/``to_dialog=``, ``last=``, ``extension=``)."""
        return await self.send(EditMessage(message_id=message_id, body=body, **target))

    async def delete_message(self, message_id: str, **target: Any) -> str | None:
        """Delete a message for everyone (``to_user=`` or ``to_dialog=``)."""
        return await self.send(DeleteMessage(message_id=message_id, **target))

    async def join_dialog(self, dialog_id: str) -> DialogJoined:
        """Join a group dialog's room; re-joined automatically after a fresh session."""
        event = await self.call(JoinDialog(dialog_id=dialog_id))
        assert isinstance(event, DialogJoined)
        return event

    async def leave_dialog(self, dialog_id: str) -> None:
        """Leave a group dialog's room."""
        await self.call(LeaveDialog(dialog_id=dialog_id))

    async def online_users(self, dialog_id: str) -> tuple[int, ...]:
        """User ids of the room's occupants."""
        event = await self.call(GetOnlineUsers(dialog_id=dialog_id))
        assert isinstance(event, OnlineUsers)
        return event.user_ids

    async def ping(self, *, timeout: float = 5.0, to: str | None = None) -> float:
        """XEP-0199 ping; returns the round trip in seconds or raises IqTimeout/IqError."""
        event = await self.call(Ping(to=to, timeout=timeout))
        assert isinstance(event, PongReceived)
        if event.error is not None:
            raise error_for(CallSettled(event.ping_id, event, False))
        return event.round_trip

    async def last_activity(self, user_id: int) -> int:
        """Seconds since the user was last active (0: online now)."""
        event = await self.call(GetLastActivity(user_id=user_id))
        assert isinstance(event, LastActivity)
        return event.seconds

    async def subscribe_last_activity(self, user_id: int, *, enable: bool = True) -> None:
        """Receive ``LastActivity`` pushes for the user (``enable=False``: stop)."""
        await self.call(SubscribeLastActivity(user_id=user_id, enable=enable))

    async def mark_active(self) -> None:
        """markActive (XEP-0352 CSI or the SDK's IQ, see ``SetClientState``)."""
        await self.call(SetClientState(active=True))

    async def mark_inactive(self) -> None:
        """markInactive."""
        await self.call(SetClientState(active=False))

    async def create_privacy_list(self, name: str, items: Iterable[PrivacyItem]) -> None:
        """Create (or replace) a privacy list."""
        await self.call(SetPrivacyList(name=name, items=tuple(items)))

    async def get_privacy_list(self, name: str) -> tuple[PrivacyItem, ...]:
        """The items of a privacy list."""
        event = await self.call(GetPrivacyList(name=name))
        assert isinstance(event, PrivacyListReceived)
        return event.items

    async def privacy_list_names(self) -> PrivacyListNames:
        """The names of the lists, and the default and active ones."""
        event = await self.call(GetPrivacyListNames())
        assert isinstance(event, PrivacyListNames)
        return event

    async def update_privacy_list(self, name: str, changes: Iterable[PrivacyItem]) -> None:
        """The SDK's update: get the list, merge the changes, set it (or remove it when
        nothing is left, as the SDK does: :func:`~cubeproto.chat.privacy_update`)."""
        current = await self.get_privacy_list(name)
        await self.call(privacy_update(name, current, changes))

    async def set_default_privacy_list(self, name: str | None) -> None:
        """Make a list the default (``None``: no default)."""
        await self.call(SetDefaultPrivacyList(name=name))

    async def delete_privacy_list(self, name: str) -> None:
        """Delete a privacy list."""
        await self.call(DeletePrivacyList(name=name))

    async def send_iq(self, type: str, payload: str, *, to: str | None = None) -> bytes | None:
        """Any IQ request (escape hatch); returns the answer's payload bytes."""
        event = await self.call(SendIq(type=type, payload=payload, to=to))
        assert isinstance(event, IqResultReceived)
        return event.payload
