"""What the async and the blocking chat clients share that is not I/O: their options,
the supervisor and the checkpoint they are built on, and the bookkeeping of what they
hand to the application.  Each client adds only how it waits (an event loop's tasks,
or a thread and ``select``)."""

from __future__ import annotations

import random
import ssl
from collections.abc import Callable, Iterable
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
    Reconnected,
    ReconnectPolicy,
    Supervisor,
)

from ._checkpoint_io import CheckpointSink, CheckpointSource, checkpointed, load_checkpoint
from ._endpoints import default_port
from ._logging import log_event
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
    ``tls`` (an ``ssl.SSLContext``) defaults to one that verifies the server against the
    system store plus ``ca_file``.  ``policy`` controls automatic reconnection.

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
    ) -> None:
        self.config, self._checkpoint = checkpointed(config, checkpoint)
        self.host = host or config.chat_host
        self.port = port or default_port(config.transport)
        #: ``host:port``, for log records and error messages.
        self._where = f"{self.host}:{self.port}"
        self._tls = tls or client_context(ca_file=ca_file)
        self._cb_mode: ChannelBindingMode = channel_binding
        self._connect_timeout = connect_timeout
        self._call_timeout = call_timeout
        self._sup = Supervisor(
            self.config, policy, jitter=random.random, resume=load_checkpoint(resume_from)
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

    def _first_failure(self) -> ConnectFailed | None:
        """After the first attempt: why it did not give a session (``None``: it did)."""
        if isinstance(self._first, Connected):
            return None
        return ConnectFailed.of(self._where, self._first)

    def _link_change(self, event: Event) -> bool | None:
        """``True`` when ``event`` says a session is up, ``False`` when it says it was
        lost, else ``None``; remembers the first of them (see :meth:`_first_failure`)."""
        if isinstance(event, (Connected, Reconnected)):
            up = True
        elif isinstance(event, Disconnected):
            up = False
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
            up = self._link_change(item)
            if up is not None:
                self._set_up(up)
            log_event(item, self._where)
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
