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
import queue
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from cubeproto import ClientConfig, ClientConnection, StreamState
from cubeproto.chat.verbs import BlockingVerbs, Once, Plan, PlanRun, Send, Step
from cubeproto.commands import Command
from cubeproto.errors import LocalProtocolError
from cubeproto.events import Event
from cubeproto.reconnect import CallSettled, answer_of, call_wait
from cubeproto.srv import SrvLookup

from ._chat_common import DEFAULT_CALL_TIMEOUT as DEFAULT_CALL_TIMEOUT
from ._chat_common import (
    DEFAULT_WAIT_TIMEOUT,
    SRV_ANSWER_WAIT,
    ChatClientBase,
    ChatClientOptions,
    matches,
)
from ._checkpoint_io import confirm_handled
from ._tls import channel_binding
from .errors import IqTimeout, NotConnected, transport_failure

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["ChatClient"]

T = TypeVar("T")
E = TypeVar("E", bound=Event)

#: Bound on one blocking write (a peer that stops reading is a dead connection).
WRITE_TIMEOUT = 30.0
_STOP = object()


class _Waiter:
    __slots__ = ("done", "settled")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.settled: CallSettled | None = None


class ChatClient(ChatClientBase, BlockingVerbs):
    """A ConnectyCube chat client for blocking code.  Thread-safe.

    The options and what ``Connected`` means are :class:`ChatClientBase`'s, plus
    ``on_event``: a callback for every event, called in the I/O thread (it must not
    block), instead of the queue.  The checkpoint is written in the I/O thread (or in
    the thread calling :meth:`confirm_handled`) under the client's lock.
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        on_event: Callable[[Event], None] | None = None,
        **options: Unpack[ChatClientOptions],
    ) -> None:
        super().__init__(config, **options)
        self._on_event = on_event
        self._lock = threading.RLock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._guard = self._lock
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sleep = threading.Event()
        self._up = threading.Event()
        self._first_seen = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

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
        failure = self._first_failure()
        if failure is not None:
            self.terminate()
            raise failure

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
        event = self._next_held()
        if event is None:
            event, _ = self._take_queued(timeout)
        if event is not None:
            with self._lock:
                self._consumed += 1
        return event

    def wait_for(
        self,
        event_type: type[E],
        predicate: Callable[[E], bool] | None = None,
        *,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        **match: object,
    ) -> E:
        """The next event of ``event_type`` whose attributes equal ``match`` (e.g.
        ``wait_for(MessageReceived, sender_id=42)``) and for which ``predicate`` is true.

        Events passed over are kept, in order: :meth:`next_event`, :meth:`events` and
        later ``wait_for`` calls still see them, so waiting for one thing loses nothing
        else.  Raises ``TimeoutError`` after ``timeout`` seconds (``None``: no limit) and
        :class:`NotConnected` when the client stops first.  Reads the queue, so not
        with ``on_event``.
        """
        if self._on_event is not None:
            raise LocalProtocolError("wait_for() reads the event queue; events go to on_event")
        found = self._take_held(event_type, predicate, match)
        deadline = None if timeout is None else time.monotonic() + timeout
        while found is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"no {event_type.__name__} within {timeout} s")
            event, stopped = self._take_queued(left)
            if stopped:
                raise NotConnected(f"the client stopped before a {event_type.__name__}")
            if event is not None and matches(event, event_type, predicate, match):
                found = event  # type: ignore[assignment]  # matches() checked the type
            elif event is not None:
                self._hold(event)
        with self._lock:
            self._consumed += 1
        return found

    def _take_queued(self, timeout: float | None) -> tuple[Event | None, bool]:
        """The next event from the queue (``None`` on timeout) and whether the client
        has stopped (no event will come)."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None, False
        if item is _STOP:
            self._queue.put(_STOP)  # keep telling later callers
            return None, True
        assert isinstance(item, Event)
        return item, False

    def events(self) -> Iterator[Event]:
        """Every queued event, in order; ends when the client has stopped."""
        while (event := self.next_event()) is not None:
            yield event

    def confirm_handled(self) -> bool:
        """Every event taken from :meth:`next_event`/:meth:`events` or given to
        ``on_event`` so far has been handled durably (``app_controlled_acks=True``): see
        :func:`~._checkpoint_io.confirm_handled`.  Call it after handling an event, not
        before; ``True`` when the connection's acknowledgement counter moved."""
        with self._lock:
            caught_up = self._consumed >= self._delivered
            conn = self._sup.connection
            done = confirm_handled(
                self.config, conn, self._checkpoint, caught_up=caught_up, now=time.monotonic()
            )
        if done:
            self._wake()
        return done

    # ------------------------------------------------------------------ the I/O thread

    def _run(self) -> None:
        sup = self._sup
        try:
            while not sup.stopped:
                lookup = self._srv_lookup()
                if lookup is not None:
                    self._resolve(lookup)
                    if lookup.outcome is not None:
                        with self._lock:
                            items = self._count(self._srv_found(lookup, now=time.monotonic()))
                        self._dispatch(items)
                    if sup.stopped:
                        break
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
                items = self._count(sup.finished())
            self._dispatch(items)
            self._first_seen.set()
            self._up.set()
            self._queue.put(_STOP)

    def _resolve(self, lookup: SrvLookup) -> None:
        """Run the DNS SRV lookup: each query on its own UDP socket, waiting at most
        ``SRV_ANSWER_WAIT`` seconds for its answer; stops early if the client is closed."""
        while not self._sup.stopped and (query := lookup.next_query()) is not None:
            host, port = query.server
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            try:
                with socket.socket(family, socket.SOCK_DGRAM) as udp:
                    udp.connect((host, port))
                    udp.send(query.datagram)
                    deadline = time.monotonic() + SRV_ANSWER_WAIT
                    while True:
                        udp.settimeout(max(deadline - time.monotonic(), 0.001))
                        if lookup.receive(udp.recv(65535)):
                            break
            except TimeoutError:
                lookup.no_answer(f"no answer within {SRV_ANSWER_WAIT:g} s")
            except OSError as exc:
                lookup.no_answer(transport_failure(exc))

    def _open(self) -> tuple[socket.socket, tuple[str, bytes] | None]:
        target = self.endpoint
        sock = socket.create_connection((target.host, target.port), timeout=self._connect_timeout)
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
        harvest = self._sup.harvest(conn, now=time.monotonic())
        if harvest.checkpoint_changed and self._checkpoint is not None:
            # Under the lock, before the output taken with these events is written: the
            # server hears of what the checkpoint records only once it is persisted.
            self._checkpoint.persist(conn)
        return self._count(harvest.items), harvest.tls_needed

    def _count(self, items: list[Event | CallSettled]) -> list[Event | CallSettled]:
        """Count the events among ``items`` as handed to the application (call under the
        lock, in the same locked section that produced them, so that
        :meth:`confirm_handled` never sees an event taken but not yet counted)."""
        self._delivered += sum(1 for item in items if not isinstance(item, CallSettled))
        return items

    def _set_up(self, up: bool) -> None:
        if up:
            self._up.set()
        else:
            self._up.clear()

    def _first_reached(self) -> None:
        self._first_seen.set()

    def _deliver(self, event: Event) -> None:
        if self._on_event is not None:
            with self._lock:
                self._consumed += 1
            self._on_event(event)
        else:
            self._queue.put(event)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    # ------------------------------------------------------------------ commands

    def send(self, command: Command) -> str | None:
        """Send any command; returns the stanza id (a message id for messages)."""
        with self._lock:
            stanza_id = self._hand_over(command, now=time.monotonic())
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
        try:
            if not waiter.done.wait(call_wait(command, timeout, self._call_timeout)):
                raise IqTimeout(f"no answer to {call_id}")
        finally:
            with self._lock:
                self._waiters.pop(call_id, None)
        return answer_of(waiter.settled)

    def _perform(self, plan: Plan[T]) -> T:
        """Run one verb (:mod:`cubeproto.chat.verbs`): send and call what it asks for
        (a verb of one step without a stepping object: the outbound hot path)."""
        if isinstance(plan, Once):
            return plan.then(self._perform_step(plan.step))
        run = PlanRun(plan)
        while (step := run.step) is not None:
            run.answer(self._perform_step(step))
        return run.result

    def _perform_step(self, step: Step) -> object:
        return self.send(step.command) if isinstance(step, Send) else self.call(step.command)
