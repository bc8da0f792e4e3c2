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

import math
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, suppress
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

import anyio
from anyio.abc import TaskGroup
from anyio.lowlevel import checkpoint_if_cancelled
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from cubeproto import ClientConfig, ClientConnection, StreamState
from cubeproto.chat.verbs import AsyncVerbs, Once, Plan, PlanRun, Send, Step
from cubeproto.commands import Command
from cubeproto.errors import LocalProtocolError
from cubeproto.events import Event
from cubeproto.reconnect import CallSettled, answer_of, call_wait
from cubeproto.srv import SrvLookup

from ._anyio_wire import TRANSPORT_ERRORS, Wire
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

__all__ = ["AsyncChatClient"]

T = TypeVar("T")
E = TypeVar("E", bound=Event)

#: Output buffered beyond this makes a command wait until it is written (backpressure).
HIGH_WATER = 1 << 16


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
        event = client._next_held()
        if event is None:
            try:
                event = await client._recv_events.receive()
            except anyio.EndOfStream:
                raise StopAsyncIteration from None
        client._consumed += 1
        return event


class AsyncChatClient(ChatClientBase, AsyncVerbs):
    """A ConnectyCube chat client for asyncio or trio (whichever runs it).

    The options and what ``Connected`` means are :class:`ChatClientBase`'s.  The
    checkpoint is written synchronously in the event loop (an ``fsync`` per change).
    """

    def __init__(self, config: ClientConfig, **options: Unpack[ChatClientOptions]) -> None:
        super().__init__(config, **options)
        self._send_events: MemoryObjectSendStream[Event]
        self._recv_events: MemoryObjectReceiveStream[Event]
        self._send_events, self._recv_events = anyio.create_memory_object_stream[Event](math.inf)
        self._send_lock = anyio.Lock()
        self._out = bytearray()  # output waiting for the writer task
        self._write_wanted = anyio.Event()
        self._write_failed = False
        self._wire: Wire | None = None
        self._wait_scope: anyio.CancelScope | None = None
        self._tls_needed = False
        self._up = anyio.Event()
        self._first_seen = anyio.Event()
        self._exit: AsyncExitStack | None = None
        self._tg: TaskGroup | None = None
        # The task that called connect(): only it may exit the task group's cancel
        # scope (anyio's rule), so a stop requested from another task waits for the
        # run task to end and leaves the exit to the owner (see _finish).
        self._owner: int | None = None
        self._stopped = anyio.Event()

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
        self._owner = anyio.get_current_task().id
        self._tg = await self._exit.enter_async_context(anyio.create_task_group())
        self._tg.start_soon(self._run)
        await self._first_seen.wait()
        failure = self._first_failure()
        if failure is not None:
            await self.terminate()
            raise failure

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
        if self._exit is None:
            return
        if anyio.get_current_task().id != self._owner:
            # Called from another task: the run task stops by itself (the supervisor
            # said stop); the owner's disconnect() or ``async with`` exit closes the
            # emptied task group.
            await self._stopped.wait()
            return
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

    async def wait_for(
        self,
        event_type: type[E],
        predicate: Callable[[E], bool] | None = None,
        *,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        **match: object,
    ) -> E:
        """The next event of ``event_type`` whose attributes equal ``match`` and for
        which ``predicate`` is true; events passed over stay for :meth:`events` and
        later calls.  As :meth:`ChatClient.wait_for
        <cubeproto.transports.blocking_chat.ChatClient.wait_for>`: ``TimeoutError``
        after ``timeout`` seconds (``None``: no limit), :class:`NotConnected` when the
        client stops first."""
        found = self._take_held(event_type, predicate, match)
        if found is None:
            with anyio.fail_after(timeout):
                found = await self._wait_queued(event_type, predicate, match)
        self._consumed += 1
        return found

    async def _wait_queued(
        self, event_type: type[E], predicate: Callable[[E], bool] | None, match: dict[str, object]
    ) -> E:
        while True:
            try:
                event = await self._recv_events.receive()
            except anyio.EndOfStream:
                raise NotConnected(f"the client stopped before a {event_type.__name__}") from None
            if matches(event, event_type, predicate, match):
                return event  # type: ignore[return-value]  # matches() checked the type
            self._hold(event)

    async def confirm_handled(self) -> bool:
        """Every event taken from :meth:`events` so far has been handled durably
        (``app_controlled_acks=True``): see :func:`~._checkpoint_io.confirm_handled`.
        Call it after handling an event, not before; ``True`` when the connection's
        acknowledgement counter moved."""
        # No await before the check: yielding would let the reader task take more
        # events first, and a steady stream would then never let the app catch up.
        conn = self._sup.connection
        caught_up = self._consumed >= self._delivered
        done = confirm_handled(
            self.config, conn, self._checkpoint, caught_up=caught_up, now=self._now()
        )
        if done and conn is not None:
            self._after(conn)
        await anyio.lowlevel.checkpoint()
        return done

    # ------------------------------------------------------------------ the I/O tasks

    async def _run(self) -> None:
        sup = self._sup
        try:
            while not sup.stopped:
                lookup = self._srv_lookup()
                if lookup is not None:
                    await self._resolve(lookup)
                    if lookup.outcome is not None:
                        self._dispatch(self._srv_found(lookup, now=self._now()))
                    if sup.stopped:
                        break
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
            self._dispatch(sup.finished())
            self._first_seen.set()
            self._up.set()
            self._send_events.close()
            self._stopped.set()

    async def _resolve(self, lookup: SrvLookup) -> None:
        """Run the DNS SRV lookup: each query on its own UDP socket, waiting at most
        ``SRV_ANSWER_WAIT`` seconds for its answer; stops early if the client is closed."""
        while not self._sup.stopped and (query := lookup.next_query()) is not None:
            host, port = query.server
            try:
                with anyio.fail_after(SRV_ANSWER_WAIT):
                    async with await anyio.create_connected_udp_socket(host, port) as udp:
                        await udp.send(query.datagram)
                        while not lookup.receive(await udp.receive()):
                            pass
            except TimeoutError:
                lookup.no_answer(f"no answer within {SRV_ANSWER_WAIT:g} s")
            except TRANSPORT_ERRORS as exc:
                # anyio reports the ICMP refusal of a UDP query as a broken socket
                cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
                lookup.no_answer(transport_failure(cause))

    async def _open(self) -> tuple[Wire, tuple[str, bytes] | None]:
        target = self.endpoint
        wire = Wire(await anyio.connect_tcp(target.host, target.port))
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
        harvest = self._sup.harvest(conn, now=self._now())
        self._tls_needed |= harvest.tls_needed
        self._dispatch(harvest.items)
        if harvest.checkpoint_changed and self._checkpoint is not None:
            # Synchronously, before the writer task can send what the checkpoint
            # records (an <a/>): the server hears of it only once it is persisted.
            self._checkpoint.persist(conn)
        scope = self._wait_scope
        if scope is not None:
            deadline = conn.get_timer()
            if deadline is not None and deadline < scope.deadline:
                scope.deadline = deadline

    def _set_up(self, up: bool) -> None:
        if up:
            self._up.set()
        elif self._up.is_set():
            self._up = anyio.Event()

    def _first_reached(self) -> None:
        self._first_seen.set()

    def _deliver(self, event: Event) -> None:
        with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._send_events.send_nowait(event)
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
        stanza_id = self._hand_over(command, now=self._now())
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
        try:
            with anyio.fail_after(call_wait(command, timeout, self._call_timeout)):
                await waiter.done.wait()
        except TimeoutError:
            raise IqTimeout(f"no answer to {call_id}") from None
        finally:
            self._waiters.pop(call_id, None)
        return answer_of(waiter.settled)

    async def _perform(self, plan: Plan[T]) -> T:
        """Run one verb (:mod:`cubeproto.chat.verbs`): send and call what it asks for
        (a verb of one step without a stepping object: the outbound hot path)."""
        if isinstance(plan, Once):
            return plan.then(await self._perform_step(plan.step))
        run = PlanRun(plan)
        while (step := run.step) is not None:
            run.answer(await self._perform_step(step))
        return run.result

    async def _perform_step(self, step: Step) -> object:
        if isinstance(step, Send):
            return await self.send(step.command)
        return await self.call(step.command)
