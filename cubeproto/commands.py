"""Commands: what the application asks a connection to do.

Every command is a frozen dataclass that validates its own fields when it is constructed
(so a bad value raises :class:`~cubeproto.errors.LocalProtocolError` before anything is
queued).  Commands are handed to ``ClientConnection.send(command, now=...)``.

There are two kinds:

* core commands (:class:`Ping`, :class:`SendIq`) that the connection executes itself;
* :class:`StanzaCommand` subclasses, which know how to *build* their stanza given a
  :class:`StanzaContext` (who we are, how ids are made).  The chat vocabulary in
  :mod:`cubeproto.chat` is made of these.  Building is pure: the connection calls
  :meth:`StanzaCommand.build` first and only changes state when it succeeded.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from .errors import LocalProtocolError

if TYPE_CHECKING:
    from lxml import etree

    from .events import Event

__all__ = [
    "DEFAULT_IQ_TIMEOUT",
    "DEFAULT_PING_TIMEOUT",
    "UNSTATED",
    "Addressing",
    "Command",
    "HandlerResult",
    "OutboundStanza",
    "Ping",
    "ResultParser",
    "SendIq",
    "StanzaCommand",
    "StanzaHandler",
    "StanzaContext",
    "StanzaKind",
]

#: Seconds before an unanswered IQ resolves as timed out.  The official SDK waits forever
#: for most IQs; 30 s matches its stream-management ack timeout and slixmpp's default.
DEFAULT_IQ_TIMEOUT = 30.0
#: The official SDK's ``pingWithTimeout`` default (5000 ms).
DEFAULT_PING_TIMEOUT = 5.0


class Command:
    """Base class of every command.  Never instantiated directly."""

    __slots__ = ()


class StanzaContext(Protocol):
    """What a stanza builder or classifier may know about the connection.

    Implemented by the connection; read-only for builders.
    """

    @property
    def jid(self) -> str:
        """Our full JID as bound by the server (``{userId}-{appId}@{host}/{resource}``)."""

    @property
    def user_id(self) -> int:
        """Our ConnectyCube user id."""

    @property
    def app_id(self) -> int:
        """The ConnectyCube application id."""

    @property
    def chat_host(self) -> str:
        """The XMPP domain (``chat.connectycube.com`` in production)."""

    @property
    def muc_host(self) -> str:
        """The MUC service domain (``muc.`` + chat host)."""

    @property
    def features(self) -> frozenset[str]:
        """Namespaces of the stream features the server advertised after authentication
        (e.g. ``urn:xmpp:csi:0``), and of ``<sm/>``/``<bind/>``; empty before that."""

    def new_message_id(self) -> str:
        """A fresh 24-hex BSON ObjectId from the injected wall clock and entropy."""

    def new_iq_id(self, purpose: str) -> str:
        """A fresh IQ id, ``{uuid4}:{purpose}`` like the official SDK's."""


#: Turns the ``<iq type="result">`` answering a request into the event to report.
#: It may raise :class:`ValueError` for a malformed answer; the connection then reports
#: the IQ as failed with the raw bytes kept, and the stream stays up.
ResultParser = Callable[["etree._Element"], "Event"]


class Addressing(enum.Enum):
    """The one value of :attr:`OutboundStanza.to` that is not an address."""

    #: The builder did not say where the stanza goes: the connection reads ``to`` from
    #: the XML (the behaviour of builders written before the field existed).
    UNSTATED = "unstated"


UNSTATED = Addressing.UNSTATED

#: What a built element is (:attr:`OutboundStanza.kind`): one of the three stanzas, or
#: ``"nonza"`` for a top-level element that is not one (XEP-0352's ``<active/>``), which
#: stream management does not count and WebSocket framing writes as it is.
StanzaKind = Literal["message", "presence", "iq", "nonza"]


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundStanza:
    """A built stanza ready for the wire.

    ``xml`` is one complete top-level element serialized without a namespace prefix; the
    stream's default namespace (``jabber:client``) applies.  ``countable`` marks a message
    whose stream-management ack becomes :class:`~cubeproto.events.MessageSent`.  For an
    ``<iq type="get"|"set">`` request, ``result_parser`` and ``timeout`` make the
    connection track the answer; ``to`` is the request's addressee (its ``to`` attribute;
    ``None`` for one without, which goes to our own server or account), against which the
    connection checks the answer's ``from``.  Builders should state it: left
    :data:`UNSTATED`, the connection has to parse ``xml`` again to find it.

    ``kind`` says what ``xml`` is (:data:`StanzaKind`): whether stream management counts
    it, and, for a stanza, where its element name ends, after which WebSocket framing
    adds ``xmlns="jabber:client"`` (RFC 7395 3.3.3; a stanza of a stated kind therefore
    declares no namespace of its own).  Left ``None`` (builders written before the field
    existed), the connection reads it from the start of ``xml``.
    """

    xml: str
    stanza_id: str | None = None
    countable: bool = False
    result_parser: ResultParser | None = None
    timeout: float | None = None
    to: str | Addressing | None = UNSTATED
    kind: StanzaKind | None = None


class StanzaCommand(Command):
    """A command that is one stanza on the wire.  Subclasses are frozen dataclasses."""

    __slots__ = ()

    def build(self, ctx: StanzaContext) -> OutboundStanza:
        """Build the stanza.  Pure; raises ``LocalProtocolError`` for unsendable values."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True, kw_only=True)
class HandlerResult:
    """What a :class:`StanzaHandler` made of one inbound stanza: events to report and
    stanzas to send in reply (e.g. an automatic delivered marker)."""

    events: tuple[Event, ...] = ()
    replies: tuple[OutboundStanza, ...] = ()


class StanzaHandler(Protocol):
    """The extension point through which the chat layer (:mod:`cubeproto.chat`) plugs into
    a connection.  The connection owns one handler per session and calls it:

    * ``handle_stanza`` for every inbound ``<message>``, ``<presence>`` and ``<iq>`` the
      core itself does not consume (SM, pings, answers to tracked IQs are consumed);
      ``element`` is the parsed stanza (``{jabber:client}message`` etc.), detached and
      owned by the handler afterwards.  Must never raise for peer input: a malformed
      stanza becomes a ``MalformedStanza``-like event in the result.
    * ``stanza_sent`` after a ``StanzaCommand`` was built and queued for the wire;
    * ``message_acked`` / ``message_lost`` when stream management settles a countable
      message (the core has already emitted ``MessageSent``/``MessageLost``).

    Optional methods, looked up with ``getattr`` (issue 12), so that existing handlers
    keep working: ``message_unconfirmed(message_id) -> Sequence[Event]`` (the core emitted
    ``MessageUnconfirmed``); ``defer_dedup_until_confirmed(ctx) -> Callable[[int], None]``
    (with ``app_controlled_acks``: called by each new connection; the returned hook gets the
    confirmed inbound sequence number, see ``ClientConnection.inbound_seq``);
    ``checkpoint_state() -> JSON data`` and ``restore_checkpoint_state(data)`` (the
    handler's part of a :class:`~cubeproto.Checkpoint`).

    Timed optional methods (issue 15: the chat layer's end-to-end delivery mode), looked
    up once per connection: ``stanza_sent_at(command, stanza, now) -> Sequence[Event]``
    is called *instead of* ``stanza_sent`` when present (the same, plus the time of the
    send); ``next_deadline() -> float | None`` and ``deadline_reached(now, ctx) ->
    HandlerResult`` (both or neither) give the handler deadlines of its own: while a
    session is ready the connection's ``get_timer`` includes ``next_deadline()``, and
    ``handle_timer`` calls ``deadline_reached`` when it is due, emitting its events and
    writing its replies (a countable reply without ``stanza_id`` is acknowledged
    silently).  A handler whose ``keep_across_sessions`` attribute is true is given by
    the :class:`~cubeproto.reconnect.Supervisor` to the next connection even when the old
    session could not be resumed (``ClientConnection(config, handler=...)``).
    """

    def handle_stanza(self, element: etree._Element, ctx: StanzaContext) -> HandlerResult: ...

    def stanza_sent(self, command: StanzaCommand, stanza: OutboundStanza) -> Sequence[Event]: ...

    def message_acked(self, message_id: str) -> Sequence[Event]: ...

    def message_lost(self, message_id: str) -> Sequence[Event]: ...


def _check_timeout(timeout: float) -> None:
    if not timeout > 0:
        raise LocalProtocolError(f"timeout must be a positive number of seconds, not {timeout!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping(Command):
    """XEP-0199 ping.  Resolves as ``PongReceived`` (with the round-trip time) or
    ``PingTimedOut``.  ``to`` defaults to the chat host, as the official SDK does."""

    to: str | None = None
    timeout: float = DEFAULT_PING_TIMEOUT

    def __post_init__(self) -> None:
        _check_timeout(self.timeout)


@dataclass(frozen=True, slots=True, kw_only=True)
class SendIq(Command):
    """Send an arbitrary IQ request (an escape hatch for XEPs cubeproto does not model).

    ``payload`` is one serialized child element; ``type`` is ``get`` or ``set``.  The
    answer arrives as ``IqResultReceived`` or ``IqFailed``, or ``IqTimedOut``.
    """

    type: str
    payload: str
    to: str | None = None
    timeout: float = DEFAULT_IQ_TIMEOUT
    purpose: str = "iq"

    def __post_init__(self) -> None:
        if self.type not in ("get", "set"):
            raise LocalProtocolError(f"an IQ request is get or set, not {self.type!r}")
        _check_timeout(self.timeout)
