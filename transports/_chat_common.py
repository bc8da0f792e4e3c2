"""What the async and the blocking chat clients share that is not I/O: their options,
the supervisor and the checkpoint they are built on, and the bookkeeping of what they
hand to the application.  Each client adds only how it waits (an event loop's tasks,
or a thread and ``select``)."""

from __future__ import annotations

import dataclasses
import random
import ssl
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Protocol, TypedDict, TypeVar

from cubeproto import ClientConfig, Connected
from cubeproto.commands import Command
from cubeproto.errors import LocalProtocolError
from cubeproto.events import Event
from cubeproto.reconnect import (
    CallSettled,
    Disconnected,
    Endpoint,
    Reconnected,
    ReconnectPolicy,
    Supervisor,
)
from cubeproto.srv import SrvLookup, SrvQuery, srv_service_name

from ._checkpoint_io import CheckpointSink, CheckpointSource, checkpointed, load_checkpoint
from ._endpoints import default_port, system_nameservers
from ._logging import CONNECTION, WireTrace, log_event
from ._tls import ChannelBindingMode, client_context
from .errors import ConnectFailed, NotConnected

__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "DEFAULT_WAIT_TIMEOUT",
    "ChatClientBase",
    "ChatClientOptions",
    "matches",
]

#: Seconds to wait for a join/leave confirmation or any answer without a core timeout.
DEFAULT_CALL_TIMEOUT = 30.0
#: Seconds ``wait_for`` waits by default.
DEFAULT_WAIT_TIMEOUT = 30.0

E = TypeVar("E", bound=Event)


def matches(
    event: Event,
    event_type: type[E],
    predicate: Callable[[E], bool] | None,
    match: dict[str, object],
) -> bool:
    """``event`` is an ``event_type`` whose attributes equal ``match`` and for which
    ``predicate`` (if any) is true."""
    if not isinstance(event, event_type):
        return False
    if any(getattr(event, name, _MISSING) != value for name, value in match.items()):
        return False
    return predicate is None or predicate(event)


_MISSING = object()


class ChatClientOptions(TypedDict, total=False):
    """The keyword options both chat clients take (see :class:`ChatClientBase`)."""

    host: str | None
    port: int | None
    tls: ssl.SSLContext | None
    ca_file: str | Path | None
    channel_binding: ChannelBindingMode
    policy: ReconnectPolicy | None
    connect_timeout: float
    call_timeout: float
    checkpoint: CheckpointSink | None
    resume_from: CheckpointSource | None
    endpoints: Sequence[Endpoint] | None
    srv: bool
    nameservers: Sequence[tuple[str, int]] | None


#: Seconds an SRV lookup waits for one nameserver's answer (two rounds over the
#: nameservers at most, as the C library's resolver does).
SRV_ANSWER_WAIT = 3.0


class _Signal(Protocol):
    def set(self) -> None: ...


class Waiter(Protocol):
    """A request waiting for its outcome: ``settled`` is set, then ``done``."""

    settled: CallSettled | None

    @property
    def done(self) -> _Signal: ...


class ChatClientBase:
    """The part of a chat client that does not depend on how it waits.

    ``host``/``port`` default to ``config.chat_host`` and the transport's usual port;
    ``endpoints`` (instead of them) names several servers, the nodes of a cluster: the
    client starts on one drawn at random and moves to the next when an attempt there fails
    (resuming the session if the node can, else binding a fresh one and re-joining the
    dialogs: ``Reconnected`` says which); the first ``connect()`` tries each endpoint once
    before it raises; :attr:`endpoint` is the one in use.  Every
    endpoint uses the config's transport (and, for WebSocket, its ``websocket_host``);
    ``tls`` (an ``ssl.SSLContext``) defaults to one that verifies the server against the
    system store plus ``ca_file``.  ``policy`` controls automatic reconnection.

    ``srv=True`` (instead of host, port and endpoints; TCP and direct TLS only) finds the
    servers of ``config.chat_host`` through DNS SRV before the first connection
    (``_xmpp-client._tcp`` or ``_xmpps-client._tcp``, :mod:`cubeproto.srv`): its targets
    become the endpoints, in RFC 2782 order; without a record, or without a usable
    answer, the client falls back to ``chat_host`` on the transport's port; a domain
    whose record is ``.`` offers no service, and ``connect()`` raises
    :class:`ConnectFailed`.  When every endpoint has failed since the last session, the
    client looks again before its next attempt (the targets found replace the old ones;
    without any, the old ones stay).  The lookup asks ``nameservers`` (``(address, port)`` pairs;
    by default those of ``/etc/resolv.conf``), and is logged on ``cubeproto.connection``.
    TLS still verifies ``chat_host``, not the target (RFC 6125).

    Crash-safe receiving (issue 12): with ``ClientConfig(app_controlled_acks=True)``,
    call ``confirm_handled()`` after handling events durably; ``checkpoint`` (a path,
    written atomically, or a callable taking the JSON text) is kept equal to the
    connection's :meth:`~cubeproto.ClientConnection.checkpoint` whenever it changes, and
    a new process passes the same path (or a :class:`~cubeproto.Checkpoint`) as
    ``resume_from`` to resume the session: the server then redelivers exactly what was
    not confirmed.

    ``Connected`` (and the return of ``connect``/``wait_connected``) comes when the server
    has enabled stream management (``<enabled/>``), before it has processed the initial
    presence sent just before: a message sent to this user in that gap can be routed to
    offline storage instead of this session (and arrive as an offline message later).
    ``wait_connected(settled=True)`` pings once, and the server answers in order, so
    after it the presence is in effect.
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
        endpoints: Sequence[Endpoint] | None = None,
        srv: bool = False,
        nameservers: Sequence[tuple[str, int]] | None = None,
    ) -> None:
        self.config, self._checkpoint = checkpointed(config, checkpoint)
        if endpoints is not None and (host is not None or port is not None or not endpoints):
            raise LocalProtocolError("give endpoints (at least one) or host/port, not both")
        if srv and (endpoints is not None or host is not None or port is not None):
            raise LocalProtocolError("srv=True finds the servers: give no host, port or endpoints")
        if srv:
            try:  # a name the query can carry (labels of 1-63 octets, 255 in all)
                SrvQuery(srv_service_name(config.chat_host, config.transport), 0)
            except ValueError as exc:
                raise LocalProtocolError(f"srv=True: {exc}") from None
        if nameservers is not None and not srv:
            raise LocalProtocolError("nameservers are for the SRV lookup: give srv=True")
        self._srv = srv
        #: the first SRV lookup is over (later ones follow failures everywhere)
        self._srv_done = False
        self._nameservers = tuple(nameservers) if nameservers is not None else None
        self.host = host or config.chat_host
        self.port = port or default_port(config.transport)
        if endpoints:
            self.host, self.port = endpoints[0].host, endpoints[0].port
        self._fixed = Endpoint(self.host, self.port)
        if WireTrace.wanted() and self.config.wire_trace is None:
            # The cubeproto.wire logger listens: every frame both ways, redacted.
            trace = WireTrace(lambda: self._where)
            self.config = dataclasses.replace(self.config, wire_trace=trace)
        self._tls = tls or client_context(ca_file=ca_file)
        self._cb_mode: ChannelBindingMode = channel_binding
        self._connect_timeout = connect_timeout
        self._call_timeout = call_timeout
        self._sup = Supervisor(
            self.config,
            policy,
            jitter=random.random,
            resume=load_checkpoint(resume_from),
            retry_first=False,  # connect() raises a first failure: no retry follows it
            endpoints=endpoints or (),
        )
        #: The outcome of the first connection attempt (``Connected`` or ``Disconnected``).
        self._first: Event | None = None
        # App-controlled acks: events handed towards the application and events it took.
        self._delivered = 0
        self._consumed = 0
        #: Requests waiting for their outcome, by call id (under ``_guard``).
        self._waiters: dict[str, Waiter] = {}
        #: Events :meth:`wait_for` passed over, in order, still to be handed out (under
        #: ``_guard``).
        self._held: list[Event] = []
        #: What serializes the state application threads share (the blocking client's
        #: lock; nothing for the async client, whose tasks share one thread).
        self._guard: AbstractContextManager[object] = nullcontext()

    def _srv_lookup(self) -> SrvLookup | None:
        """The SRV lookup due before the next attempt (``None``: none): before the
        first, and again once every endpoint has failed since the last session was ready
        (the domain's servers may have changed)."""
        if not self._srv or (self._srv_done and not self._sup.failed_everywhere):
            return None
        nameservers = self._nameservers or system_nameservers()
        return SrvLookup(
            self.config.chat_host,
            self.config.transport,
            nameservers,
            entropy=self.config.entropy,
        )

    def _srv_found(self, lookup: SrvLookup, now: float) -> list[Event | CallSettled]:
        """The lookup is over: its endpoints are the client's (logged); when the domain
        offers no service, the first attempt's failure (``connect()`` raises it).  A
        lookup after the first that finds no target keeps the endpoints there are."""
        outcome = lookup.outcome
        assert outcome is not None
        first, self._srv_done = not self._srv_done, True
        if not first:
            if outcome.endpoints:
                CONNECTION.info("SRV lookup again: %s", outcome.detail)
                self._sup.use_endpoints(outcome.endpoints)
            else:
                CONNECTION.warning("SRV lookup again: %s; keeping %s", outcome.detail, self._where)
            return []
        if outcome.unavailable:
            CONNECTION.error("SRV lookup: %s", outcome.detail)
            return self._sup.connect_failed(f"SRV lookup: {outcome.detail}", now=now)
        if outcome.endpoints:
            CONNECTION.info("SRV lookup: %s", outcome.detail)
            self._sup.use_endpoints(outcome.endpoints)
        else:
            CONNECTION.warning("SRV lookup: %s; connecting to %s", outcome.detail, self._fixed)
        return []

    @property
    def endpoint(self) -> Endpoint:
        """The server the live connection uses (or the next attempt will): with several
        ``endpoints``, the client moves to the next one when an attempt fails."""
        return self._sup.endpoint or self._fixed

    @property
    def _where(self) -> str:
        """``host:port``, naming the server in log records and errors."""
        return str(self.endpoint)

    def _first_failure(self) -> ConnectFailed | None:
        """After the first attempt: why it did not give a session (``None``: it did)."""
        if isinstance(self._first, Connected):
            return None
        return ConnectFailed.of(self._where_of(self._first), self._first)

    def _where_of(self, event: Event | None) -> str:
        """The server ``event`` concerns: a ``Disconnected`` names the endpoint it was
        with (the client has moved on to the next one by the time it is reported)."""
        if isinstance(event, Disconnected) and event.endpoint is not None:
            return str(event.endpoint)
        return self._where

    def _link_change(self, event: Event) -> bool | None:
        """``True`` when ``event`` says a session is up, ``False`` when it says it was
        lost, else ``None``; remembers the first of them (see :meth:`_first_failure`)."""
        if isinstance(event, (Connected, Reconnected)):
            up = True
        elif isinstance(event, Disconnected):
            up = False
            if self._first is None and event.reconnect_in is not None:
                return up  # not the outcome yet: the next endpoint is tried first
        else:
            return None
        if self._first is None and not isinstance(event, Reconnected):
            self._first = event
        return up

    def _take_held(
        self, event_type: type[E], predicate: Callable[[E], bool] | None, match: dict[str, object]
    ) -> E | None:
        """The first event :meth:`wait_for` passed over earlier that matches, removed."""
        with self._guard:
            for index, event in enumerate(self._held):
                if matches(event, event_type, predicate, match):
                    del self._held[index]
                    return event  # type: ignore[return-value]  # matches() checked the type
        return None

    def _next_held(self) -> Event | None:
        """The oldest event :meth:`wait_for` passed over, removed (``None``: none)."""
        with self._guard:
            return self._held.pop(0) if self._held else None

    def _hold(self, event: Event) -> None:
        with self._guard:
            self._held.append(event)

    def _hand_over(self, command: Command, *, now: float) -> str | None:
        """Give ``command`` to the live connection (its stanza id back);
        :class:`NotConnected` when there is none ready."""
        try:
            return self._sup.send(command, now=now)
        except LocalProtocolError as exc:
            if not self._sup.is_connected:
                raise NotConnected(str(exc)) from None
            raise

    def _dispatch(self, items: Iterable[Event | CallSettled]) -> None:
        """Hand on what the supervisor produced, in order: a settled request to its
        waiter, an event to the application (after noting whether a session is up)."""
        for item in items:
            if isinstance(item, CallSettled):
                with self._guard:
                    waiter = self._waiters.pop(item.call_id, None)
                if waiter is not None:
                    waiter.settled = item
                    waiter.done.set()
                continue
            log_event(item, self._where_of(item))
            up = self._link_change(item)
            if up is not None:
                self._set_up(up)
            if self._first is item:
                self._first_reached()
            self._deliver(item)

    def _set_up(self, up: bool) -> None:
        """A session is up (``True``) or was lost: wake or re-arm ``wait_connected``."""
        raise NotImplementedError

    def _first_reached(self) -> None:
        """The first connection attempt has its outcome: wake ``connect()``."""
        raise NotImplementedError

    def _deliver(self, event: Event) -> None:
        """Give ``event`` to the application."""
        raise NotImplementedError
