"""Automatic reconnection and request/answer matching, sans-IO, shared by every adapter.

An adapter's high-level client owns one :class:`Supervisor` for its whole life.  The
supervisor makes each :class:`~cubeproto.ClientConnection` (resuming the previous session
when it can), turns their events into the client's event stream, decides whether and
when to try again (:func:`backoff_delay`), re-joins group dialogs after a fresh session,
and matches answers to the requests the application is waiting for.  The adapter only
opens transports, moves bytes, sleeps for the delays it is given and wakes its waiters.

Policy (:class:`ReconnectPolicy`): after a connection is lost, try again after
``backoff_delay(attempt)``: exponential from ``floor`` (1 s) doubling to ``cap`` (5 min),
with "equal jitter" (a uniform draw in the upper half of the step, never below the
floor) so that many clients cut at once do not come back at once.  A resumable
session is resumed first (XEP-0198); if the server refuses, the connection binds a fresh
session, reports unacknowledged messages lost, and the supervisor re-joins every dialog
that was joined.  Authentication failures and a ``conflict`` stream error (another login
replaced us) stop retrying: trying again cannot help and would fight the other login.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from lxml import etree

from ._checkpoint import Checkpoint
from ._connection import ClientConnection, ResumableSession
from ._state import StreamState
from .commands import (
    Command,
    OutboundStanza,
    Ping,
    SendIq,
    StanzaCommand,
    StanzaContext,
    StanzaHandler,
)
from .config import ClientConfig
from .errors import CubeProtoError, LocalProtocolError, StanzaError, StreamErrorCondition
from .events import (
    CheckpointChanged,
    CloseReason,
    Connected,
    ConnectionClosed,
    Event,
    IqFailed,
    IqResultReceived,
    IqTimedOut,
    PingTimedOut,
    PongReceived,
    ResumeFailed,
    TlsUpgradeRequired,
)

__all__ = [
    "CallAnswered",
    "CallSettled",
    "Harvest",
    "Disconnected",
    "Endpoint",
    "IqError",
    "IqTimeout",
    "NotConnected",
    "ReconnectPolicy",
    "Reconnected",
    "Supervisor",
    "SupervisorExtension",
    "answer_of",
    "backoff_delay",
    "call_wait",
    "error_for",
    "register_extension",
]


def backoff_delay(attempt: int, *, floor: float, cap: float, jitter: float) -> float:
    """Seconds to wait before reconnect attempt number ``attempt`` (0 = the first retry).

    ``base = min(cap, floor * 2**attempt)``; the delay is ``base * (0.5 + jitter / 2)``
    clamped to ``[floor, cap]``, where ``jitter`` is a uniform draw from ``[0, 1)`` that
    the caller supplies (the core has no randomness of its own).
    """
    if attempt < 0 or not 0.0 <= jitter <= 1.0 or floor < 0 or cap < floor:
        raise LocalProtocolError("backoff_delay: attempt >= 0, 0 <= jitter <= 1, 0 <= floor <= cap")
    base = cap if attempt >= 64 else min(cap, floor * 2.0**attempt)
    return min(cap, max(floor, base * (0.5 + jitter / 2.0)))


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One server a client may connect to (a node of a cluster, say): ``host`` and
    ``port`` of its listener for the client's transport."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconnectPolicy:
    """When the client reconnects.  ``enabled=False``: a lost connection stays lost."""

    enabled: bool = True
    floor: float = 1.0
    cap: float = 300.0
    #: Give up after this many consecutive failed attempts (``None``: never).
    max_attempts: int | None = None
    #: Re-join the joined group dialogs when a fresh session replaces a lost one.
    rejoin_dialogs: bool = True

    def __post_init__(self) -> None:
        if self.floor < 0 or self.cap < self.floor:
            raise LocalProtocolError("need 0 <= floor <= cap")
        if self.max_attempts is not None and self.max_attempts < 0:
            raise LocalProtocolError("max_attempts must be >= 0 or None")


@dataclass(frozen=True, slots=True, kw_only=True)
class Disconnected(Event):
    """The client lost its connection (or an attempt to connect failed).

    ``closed`` is the connection's terminal event (``None`` when the transport could not
    even be opened; ``error`` then says why).  ``reconnect_in`` is the delay before the
    next attempt, ``None`` when the client stops (closed by the application, retrying
    disabled or exhausted, or a failure that retrying cannot fix).  ``resumable`` says
    whether the next attempt will try to resume the session.  ``endpoint`` is the server
    that connection or attempt was with (``None`` for a client not given endpoints: its
    one server).
    """

    closed: ConnectionClosed | None
    error: str | None
    reconnect_in: float | None
    attempt: int
    resumable: bool
    endpoint: Endpoint | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconnected(Event):
    """A connection is up again after a loss; ``resumed`` says whether the previous
    session was resumed (nothing lost) or a fresh one was bound (dialogs re-joined)."""

    jid: str
    resumed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAnswered(Event):
    """The answer to an IQ request sent through :meth:`Supervisor.call`: ``event`` is what
    the command's result parser made of it.  Consumed by the supervisor."""

    iq_id: str
    event: Event


@dataclass(frozen=True, slots=True)
class CallSettled:
    """A request the application waits for has its outcome: ``event`` is the answer
    (``ok``) or the failure (``IqFailed``, ``IqTimedOut``, ``PingTimedOut``,
    ``DialogJoinFailed``, ``ConnectionClosed`` when the client stopped)."""

    call_id: str
    event: Event
    ok: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class _Correlated(StanzaCommand):
    """Wraps an IQ-request command so that its parsed answer carries the request id."""

    inner: StanzaCommand
    had_parser: list[bool] = field(default_factory=list, compare=False)

    def build(self, ctx: StanzaContext) -> OutboundStanza:
        stanza = self.inner.build(ctx)
        parser = stanza.result_parser
        iq_id = stanza.stanza_id
        if parser is None or iq_id is None:
            return stanza
        self.had_parser.append(True)

        def parse(element: etree._Element) -> Event:
            return CallAnswered(iq_id=iq_id, event=parser(element))

        return dataclasses.replace(stanza, result_parser=parse)


class IqError(CubeProtoError):
    """The server (or peer) answered a request with an error.

    ``error`` is the stanza error as it arrived; it is ``None`` when the answer was a
    result we could not parse (``reason`` says why).
    """

    def __init__(self, error: StanzaError | None, reason: str = "") -> None:
        name = error.condition_name if error is not None else "malformed answer"
        text = error.text if error is not None and error.text else reason
        super().__init__(f"{name}: {text}" if text else name)
        self.error = error
        self.reason = reason


class IqTimeout(CubeProtoError):
    """No answer arrived in time."""


class NotConnected(CubeProtoError):
    """The client has no ready session (connecting, reconnecting or closed)."""


def error_for(settled: CallSettled) -> CubeProtoError:
    """The exception a client raises for a failed request outcome."""
    event = settled.event
    if isinstance(event, IqFailed):
        return IqError(event.error, event.reason)
    if isinstance(event, (IqTimedOut, PingTimedOut)):
        return IqTimeout(f"no answer to {settled.call_id}")
    if isinstance(event, ConnectionClosed):
        return NotConnected(f"the client stopped before {settled.call_id} was answered")
    error = getattr(event, "error", None)
    if isinstance(error, StanzaError):
        return IqError(error)
    return CubeProtoError(f"{settled.call_id} failed: {event!r}")


def answer_of(settled: CallSettled | None) -> Event:
    """The answer of a request a client waited for, or its failure raised
    (:func:`error_for`)."""
    if settled is None:
        raise LocalProtocolError("the request has not been settled")
    if not settled.ok:
        raise error_for(settled)
    return settled.event


def call_wait(command: Command, timeout: float | None, default: float) -> float:
    """Seconds a client waits for the outcome of ``command`` before it raises
    ``IqTimeout``: ``timeout``, else the command's own ``timeout``, else ``default``,
    plus a second, so that the connection's own timer (which reports the request timed
    out, and frees its bookkeeping) fires first."""
    limit = timeout if timeout is not None else getattr(command, "timeout", None)
    return (limit or default) + 1.0


@dataclass(frozen=True, slots=True)
class Harvest:
    """What :meth:`Supervisor.harvest` took from a connection: the items for the client
    (events and settled requests, in order), whether the connection waits for a TLS
    upgrade, and whether its checkpoint changed (to be persisted before the bytes taken
    with these events are written)."""

    items: list[Event | CallSettled]
    tls_needed: bool
    checkpoint_changed: bool


class SupervisorExtension(Protocol):
    """What a layer above the core adds to a :class:`Supervisor`: requests whose outcome
    is not an IQ answer, and state to restore after a fresh session.

    The core knows no chat vocabulary; the chat layer registers its extension (the
    group dialogs a client is in, :class:`cubeproto.chat.rooms.DialogRooms`) with
    :func:`register_extension` when it is imported.
    """

    #: The commands whose outcome this extension settles (by exact type).
    command_types: tuple[type[Command], ...]
    #: The events that settle them (by exact type).
    event_types: tuple[type[Event], ...]

    def track(self, command: Command) -> str:
        """``command`` (one of :attr:`command_types`) was sent: the call id under which
        its outcome will be settled."""

    def settle(self, event: Event) -> tuple[str, bool]:
        """``event`` (one of :attr:`event_types`) arrived: the call id it settles and
        whether that is a success (whether or not anyone waits for that id)."""

    def fresh_session(self, handler: object) -> None:
        """The server refused to resume: the connection's stanza handler (carried over
        from the old session) must forget what the server has forgotten."""

    def adopt(self, handler: object) -> None:
        """A new process resumes a checkpoint's session: take over what the connection's
        stanza handler restored from it (the rooms the old process was in), so that a
        later fresh session rebuilds it as it would this process's own."""

    def restore(self) -> Iterable[Command]:
        """Commands that rebuild this extension's state after a fresh session replaced a
        lost one (re-joining rooms)."""


#: Factories of the extensions every new :class:`Supervisor` gets.
_EXTENSIONS: list[Callable[[], SupervisorExtension]] = []


def register_extension(factory: Callable[[], SupervisorExtension]) -> None:
    """Give every :class:`Supervisor` created from now on an extension made by
    ``factory`` (registering the same factory twice has no further effect)."""
    if factory not in _EXTENSIONS:
        _EXTENSIONS.append(factory)


class Supervisor:
    """Connections, reconnection and waiting requests of one high-level client.

    The adapter's loop: ``conn = sup.new_connection()`` once a transport is open (or
    ``sup.connect_failed(error)`` when it could not be opened); feed ``conn`` as usual and
    pass every event it yields through :meth:`process`; when ``process`` reports the
    connection closed, drop the transport and sleep :meth:`next_delay` (``None``: stop).
    Requests go through :meth:`call` (awaitable ones) or :meth:`send`.
    """

    def __init__(
        self,
        config: ClientConfig,
        policy: ReconnectPolicy | None = None,
        *,
        jitter: Callable[[], float],
        resume: Checkpoint | None = None,
        retry_first: bool = True,
        endpoints: Sequence[Endpoint] = (),
    ) -> None:
        """``resume``: a checkpoint persisted by an earlier process; the first connection
        resumes that session (issue 12) instead of binding a fresh one.
        ``retry_first=False``: a failure before the first session is final (the clients'
        ``connect()`` raises it), so its ``Disconnected`` says it will not reconnect --
        with several endpoints, once each was tried (the next at once, ``reconnect_in``
        0).

        ``endpoints``: the servers to use (:attr:`endpoint` is the one for the next
        attempt).  The first is drawn with ``jitter``, so that clients spread over the
        nodes of a cluster; an attempt that fails before its session is ready (the
        transport refused, TLS, negotiation, a node gone) moves to the next one, while a
        session that was up and is lost is tried on the same node first.  Resumption is
        tried wherever the next attempt lands (a cluster shares sessions), then a fresh
        session, as with one server."""
        self.config = config
        self.policy = policy if policy is not None else ReconnectPolicy()
        self._jitter = jitter
        self.connection: ClientConnection | None = None
        self._resume: ResumableSession | Checkpoint | None = resume
        self._resumable_conn: ClientConnection | None = None
        self._attempt = 0
        self._delay: float | None = None
        self._ever_connected = False
        self._retry_first = retry_first
        #: Failed attempts before the first session (``retry_first=False``: each
        #: endpoint is tried once before a failure is final).
        self._first_failures = 0
        #: Attempts that failed (or sessions lost) since a session was last ready.
        self._failed_in_a_row = 0
        self._endpoints = tuple(endpoints)
        count = len(self._endpoints)
        self._at = min(int(jitter() * count), count - 1) if count > 1 else 0
        #: The live connection reached its session (an attempt that ends before it did
        #: moves on to the next endpoint).
        self._ready = False
        self._stopping = False
        self._stopped = False
        #: A handler that asks to be kept (``keep_across_sessions``: the chat layer in the
        #: end-to-end mode) from a connection whose session cannot be resumed: the next
        #: fresh connection gets it instead of a new one.
        self._carried: StanzaHandler | None = None
        #: call id -> kind: "iq" (wrapped stanza, SendIq), "ping", or an extension's
        self._calls: dict[str, str] = {}
        self._extensions = tuple(factory() for factory in _EXTENSIONS)
        self._by_command = {t: ext for ext in self._extensions for t in ext.command_types}
        self._by_event = {t: ext for ext in self._extensions for t in ext.event_types}

    # ------------------------------------------------------------------ state

    @property
    def is_connected(self) -> bool:
        """A session is ready for commands."""
        conn = self.connection
        return conn is not None and conn.state is StreamState.READY

    @property
    def endpoint(self) -> Endpoint | None:
        """Where the next (or the live) connection goes; ``None`` without endpoints."""
        return self._endpoints[self._at] if self._endpoints else None

    def use_endpoints(self, endpoints: Sequence[Endpoint]) -> None:
        """From the next attempt on, connect to ``endpoints`` in this order, starting
        with the first (not drawn at random: the order is meant, as a DNS SRV lookup's
        is).  Only between connections; an empty sequence keeps the ones there are."""
        if self.connection is not None:
            raise LocalProtocolError("the endpoints are set between connections")
        if endpoints:
            self._endpoints = tuple(endpoints)
            self._at = 0
            self._failed_in_a_row = 0

    @property
    def failed_everywhere(self) -> bool:
        """Every endpoint (the one server, without endpoints) has failed since the last
        session was ready: where the client looked its servers up (DNS SRV), it is time
        to look again."""
        return self._failed_in_a_row >= max(1, len(self._endpoints))

    def _next_endpoint(self) -> None:
        if self._endpoints:
            self._at = (self._at + 1) % len(self._endpoints)

    @property
    def stopped(self) -> bool:
        """No further connection will be made."""
        return self._stopped

    @property
    def joined_dialogs(self) -> frozenset[str]:
        """The group dialogs the client is in (re-joined after a fresh session), as the
        chat layer's extension keeps them."""
        joined: frozenset[str] = frozenset()
        for ext in self._extensions:
            joined |= getattr(ext, "joined_dialogs", frozenset())
        return joined

    def next_delay(self) -> float | None:
        """Seconds to wait before the next connection attempt; ``None``: stop."""
        return None if self._stopped else self._delay

    # ------------------------------------------------------------------ connections

    def new_connection(self) -> ClientConnection:
        """A connection for a freshly opened transport, resuming the last session if
        there is one to resume.  Call ``start()`` on it next."""
        if self._stopped:
            raise LocalProtocolError("the client was closed")
        carried = self._carried if self._resume is None else None
        conn = ClientConnection(self.config, resume=self._resume, handler=carried)
        if isinstance(self._resume, Checkpoint):
            for ext in self._extensions:
                ext.adopt(conn.handler)
        if carried is not None:
            # The old session is gone: the handler must forget what it had there.
            for ext in self._extensions:
                ext.fresh_session(carried)
        self.connection = conn
        self._ready = False
        return conn

    def connect_failed(self, error: str, *, now: float) -> list[Event | CallSettled]:
        """The transport could not be opened (or TLS failed) before a connection existed."""
        self.connection = None
        where = self.endpoint
        self._next_endpoint()
        out: list[Event | CallSettled] = [self._lost(None, error, where)]
        if self._stopped:
            out.extend(self._stop(now))
        return out

    def close(self, *, now: float) -> list[Event | CallSettled]:
        """The application wants to stop: close the live connection gracefully (its
        ``ConnectionClosed`` then arrives through :meth:`process`), or, between
        connections, give the pending resumption up (unacknowledged messages are
        reported lost).  Returns what to deliver now."""
        self._stopping = True
        conn = self.connection
        if conn is not None and conn.state is not StreamState.CLOSED:
            if conn.state is not StreamState.CLOSING:
                conn.close(now=now)
            return []
        return self._stop(now)

    def terminate(self, *, now: float) -> list[Event | CallSettled]:
        """Stop at once without closing the stream (the adapter drops the transport);
        unacknowledged messages are reported lost and waiting requests fail."""
        self._stopping = True
        conn = self.connection
        if conn is not None and conn.state is not StreamState.CLOSED:
            conn.drop(now=now)
            return self._drain(conn, now)
        return self._stop(now)

    def _stop(self, now: float) -> list[Event | CallSettled]:
        """No more connections: abandon a pending resumption, fail waiting requests."""
        self._stopped = True
        self._delay = None
        out: list[Event | CallSettled] = []
        old = self._resumable_conn
        self._resume = None
        self._resumable_conn = None
        if old is not None and old.state is StreamState.CLOSED:
            old.abandon(now=now)
            out.extend(self._drain(old, now))
        out.extend(self.settle_all(ConnectionClosed(reason=CloseReason.LOCAL)))
        return out

    def _drain(self, conn: ClientConnection, now: float) -> list[Event | CallSettled]:
        out: list[Event | CallSettled] = []
        while (event := conn.next_event()) is not None:
            out.extend(self.process(event, now=now))
        return out

    # ------------------------------------------------------------------ commands

    def send(self, command: Command, *, now: float) -> str | None:
        """Send a command on the live connection (raises ``LocalProtocolError`` when
        there is none ready); keeps track of dialogs joined and left."""
        conn = self.connection
        if conn is None or conn.state is not StreamState.READY:
            raise LocalProtocolError("not connected")
        return conn.send(command, now=now)

    def call(self, command: Command, *, now: float) -> str | None:
        """Send a request whose outcome the application waits for; return its call id
        (``None`` when nothing will answer, e.g. a CSI nonza: it is done once sent).

        The outcome arrives as a :class:`CallSettled` from :meth:`process`.
        """
        extension = self._by_command.get(type(command))
        if extension is not None:
            self.send(command, now=now)
            key = extension.track(command)
            self._calls[key] = type(command).__name__
            return key
        if isinstance(command, (Ping, SendIq)):
            call_id = self.send(command, now=now)
            assert call_id is not None
            self._calls[call_id] = "ping" if isinstance(command, Ping) else "iq"
            return call_id
        if isinstance(command, StanzaCommand):
            wrapped = _Correlated(inner=command)
            call_id = self.send(wrapped, now=now)
            if call_id is None or not wrapped.had_parser:
                return None
            self._calls[call_id] = "iq"
            return call_id
        raise LocalProtocolError(f"cannot wait for {type(command).__name__}")

    # ------------------------------------------------------------------ events

    def process(self, event: Event, *, now: float) -> Sequence[Event | CallSettled]:
        """Turn one connection event into what the client reports: events for the
        application's stream and :class:`CallSettled` outcomes for waiting requests."""
        calls = self._calls
        if isinstance(event, CallAnswered):
            if calls.pop(event.iq_id, None) is not None:
                return [CallSettled(event.iq_id, event.event, True)]
            return []
        if isinstance(event, (IqFailed, IqTimedOut)) and event.iq_id in calls:
            del calls[event.iq_id]
            return [CallSettled(event.iq_id, event, False)]
        if isinstance(event, IqResultReceived) and event.iq_id in calls:
            del calls[event.iq_id]
            return [CallSettled(event.iq_id, event, True)]
        if isinstance(event, (PongReceived, PingTimedOut)):
            if calls.pop(event.ping_id, None) is None:
                return [event]
            return [CallSettled(event.ping_id, event, isinstance(event, PongReceived))]
        extension = self._by_event.get(type(event))
        if extension is not None:
            key, ok = extension.settle(event)
            if calls.pop(key, None) is not None:
                return [event, CallSettled(key, event, ok)]
            return [event]
        if isinstance(event, ResumeFailed):
            self._fresh_session()
            return [event]
        if isinstance(event, Connected):
            return self._connected(event, now)
        if isinstance(event, ConnectionClosed):
            return self._closed(event, now)
        return [event]

    def _fresh_session(self) -> None:
        """The resumption was refused: the handler carried over from the old session
        (the chat layer) must forget what the server has forgotten (its rooms)."""
        conn = self.connection
        if conn is not None:
            for ext in self._extensions:
                ext.fresh_session(conn.handler)

    def _connected(self, event: Connected, now: float) -> list[Event | CallSettled]:
        self._attempt = 0
        self._delay = None
        self._resume = None
        self._resumable_conn = None
        first = not self._ever_connected
        self._ever_connected = True
        self._ready = True
        self._failed_in_a_row = 0
        if not event.resumed and self.policy.rejoin_dialogs and self.connection is not None:
            # A fresh session replaced a lost one (this process's, or, on the first
            # connection, the one of the checkpoint it was given): rebuild what it had.
            for ext in self._extensions:
                for command in ext.restore():
                    self.connection.send(command, now=now)
        if first:
            return [event]
        return [Reconnected(jid=event.jid, resumed=event.resumed)]

    def _closed(self, event: ConnectionClosed, now: float) -> list[Event | CallSettled]:
        conn = self.connection
        if event.resumable and conn is not None:
            self._resume = conn.resume_state()
            self._resumable_conn = conn if self._resume is not None else None
        else:
            self._resume = None
            self._resumable_conn = None
        if self._resume is None and conn is not None:
            handler = conn.handler
            if getattr(handler, "keep_across_sessions", False):
                self._carried = handler
        self.connection = None
        where = self.endpoint
        if not self._ready:
            self._next_endpoint()  # it never got its session there: try the next node
        self._ready = False
        hopeless = event.reason is CloseReason.AUTH_FAILED or (
            event.condition is StreamErrorCondition.CONFLICT
        )
        if hopeless:
            self._stopping = True
        out: list[Event | CallSettled] = [self._lost(event, event.text, where)]
        if self._stopped:
            out.extend(self._stop(now))
        return out

    def _lost(
        self, closed: ConnectionClosed | None, error: str | None, where: Endpoint | None
    ) -> Disconnected:
        policy = self.policy
        self._failed_in_a_row += 1
        # retry_first=False: before the first session, a failure is final -- once every
        # endpoint was tried (the next one is tried at once, as RFC 6120 3.2.1 tries the
        # SRV targets in turn).
        first_pass = not (self._ever_connected or self._retry_first)
        if first_pass:
            self._first_failures += 1
        untried = first_pass and self._first_failures < len(self._endpoints)
        give_up = (
            self._stopping
            or not policy.enabled
            or (first_pass and not untried)
            or (policy.max_attempts is not None and self._attempt >= policy.max_attempts)
        )
        if give_up:
            self._stopped = True
            self._delay = None
        else:
            self._delay = (
                0.0
                if untried
                else backoff_delay(
                    self._attempt, floor=policy.floor, cap=policy.cap, jitter=self._jitter()
                )
            )
            self._attempt += 1
        return Disconnected(
            closed=closed,
            error=error,
            reconnect_in=self._delay,
            attempt=self._attempt,
            # only a next attempt resumes: a client that stops promises nothing
            resumable=self._resume is not None and not give_up,
            endpoint=where,
        )

    def harvest(self, conn: ClientConnection, *, now: float) -> Harvest:
        """Every event ``conn`` has ready, passed through :meth:`process`."""
        items: list[Event | CallSettled] = []
        tls_needed = checkpoint_changed = False
        while (event := conn.next_event()) is not None:
            if isinstance(event, TlsUpgradeRequired):
                tls_needed = True
            elif isinstance(event, CheckpointChanged):
                checkpoint_changed = True
            items.extend(self.process(event, now=now))
        return Harvest(items, tls_needed, checkpoint_changed)

    def finished(self) -> list[Event | CallSettled]:
        """The client's loop has ended: every waiting request fails as stopped."""
        return self.settle_all(
            Disconnected(
                closed=None, error="stopped", reconnect_in=None, attempt=0, resumable=False
            )
        )

    def settle_all(self, failure: Event) -> list[Event | CallSettled]:
        """Fail every waiting request (the client stopped; nothing will answer)."""
        out: list[Event | CallSettled] = [
            CallSettled(call_id, failure, False) for call_id in self._calls
        ]
        self._calls.clear()
        return out
