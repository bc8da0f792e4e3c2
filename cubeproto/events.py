"""Events: what a connection reports to the application.

Every event is a frozen, slotted, keyword-only dataclass deriving from :class:`Event`;
concrete events are never subclassed (h11's rule).  ``ClientConnection.next_event()``
returns them one at a time from a single queue fed by received data, timers and commands.

The chat vocabulary (messages, typing, markers, ...) lives in :mod:`cubeproto.chat` and
derives from the same :class:`Event` base; this module holds the events of the stream
itself: negotiation, stream management, IQ tracking, keepalive and termination.

One event is lazier inside: :class:`UnhandledStanza` is a hand-written slotted class
(immutable, keyword-only, compared, hashed and pickled by ``raw`` exactly like the
dataclasses) that keeps the parsed element and serializes it the first time ``raw`` is
read -- serializing was most of the cost of a stanza nobody handles.  On hot paths the
core and the chat layer build dataclass events with
:func:`cubeproto._records.fast_constructor`, which makes the same objects faster.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import FrozenInstanceError, dataclass

from lxml import etree

from ._xmlstream import element_bytes
from .errors import (
    RemoteProtocolError,
    SaslCondition,
    StanzaError,
    StreamErrorCondition,
)

__all__ = [
    "AuthenticationFailed",
    "Authenticated",
    "Bound",
    "CheckpointChanged",
    "CloseReason",
    "ConnectionClosed",
    "Connected",
    "ConnectionDead",
    "Event",
    "IqFailed",
    "IqResultReceived",
    "IqTimedOut",
    "LostReason",
    "MalformedStanza",
    "MessageLost",
    "MessageRejected",
    "MessageSent",
    "MessageUnconfirmed",
    "PingReceived",
    "PingTimedOut",
    "PongReceived",
    "ResumeFailed",
    "StreamManagementEnabled",
    "StreamOpened",
    "StreamResumed",
    "TlsUpgradeRequired",
    "UnhandledStanza",
]


class Event:
    """Base class of every event."""

    __slots__ = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamOpened(Event):
    """The server's stream header (or WebSocket ``<open/>``) arrived."""

    stream_id: str | None
    server: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsUpgradeRequired(Event):
    """The server said ``<proceed/>`` to STARTTLS.

    The adapter must now run the TLS handshake on the same socket and then call
    ``tls_established()``.  Until then the connection produces no output and
    ``receive_data`` must not be called (there are no bytes in flight after ``<proceed/>``).
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class Authenticated(Event):
    """SASL succeeded (server signature verified for SCRAM)."""

    mechanism: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationFailed(Event):
    """SASL failed.  A :class:`ConnectionClosed` follows.

    ``condition`` is ``None`` for a condition RFC 6120 does not define (``condition_name``
    has the element name), or for a local failure such as a bad SCRAM server signature,
    described in ``text``.
    """

    condition: SaslCondition | None
    condition_name: str
    text: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Bound(Event):
    """Resource binding finished; ``jid`` is our full JID."""

    jid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamManagementEnabled(Event):
    """XEP-0198 is active.  ``resume_id`` is set when the server allows resumption."""

    resume_id: str | None
    max_resume_seconds: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamResumed(Event):
    """A previous session was resumed; ``resent`` stanzas were sent again."""

    previous_id: str
    resent: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ResumeFailed(Event):
    """The server refused ``<resume/>``; the connection binds a fresh session instead.

    Every message that was unacknowledged is reported as :class:`MessageLost` first.
    """

    condition_name: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Connected(Event):
    """The session is ready: bound (or resumed), SM enabled if offered, carbons enabled,
    initial presence sent.  Commands may be sent from now on."""

    jid: str
    resumed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageSent(Event):
    """The server acknowledged (XEP-0198 ``<a h/>``) the message with this id."""

    message_id: str


class LostReason(str, enum.Enum):
    """Why a message was reported lost.

    Since issue 12 only ``RESUME_FAILED`` is reported (the server's ``<failed h=.../>``
    proves the message never reached it); ``ACK_TIMEOUT`` and ``CONNECTION_CLOSED`` stay
    for compatibility: an ack timeout is a dead connection now, and a session that ends
    without anyone knowing what arrived reports :class:`MessageUnconfirmed`.
    """

    ACK_TIMEOUT = "ack-timeout"
    RESUME_FAILED = "resume-failed"
    CONNECTION_CLOSED = "connection-closed"


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageLost(Event):
    """Known NOT delivered: the server said (the ``h`` of ``<failed/>``) that it never
    received the message with this id.  A final outcome, like :class:`MessageSent`."""

    message_id: str
    reason: LostReason


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageUnconfirmed(Event):
    """Nobody can know whether the message with this id arrived: the session it was sent
    on ended (resumption refused without ``h``, abandoned, closed) before the server
    acknowledged it.  A final outcome.  With ``ClientConfig(resend_unconfirmed=True)`` the
    message is sent again on the fresh session instead (same id: the receiver's duplicate
    suppression makes that idempotent) and ends as ``MessageSent`` or, again, as this."""

    message_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageRejected(Event):
    """The server ended the stream right after this message, twice in a row (``condition``
    is the last stream error, e.g. ``policy-violation``): it is poison, dropped from the
    resend queue so that the messages behind it proceed.  A final outcome."""

    message_id: str
    condition: StreamErrorCondition | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointChanged(Event):
    """What :meth:`ClientConnection.checkpoint` returns has changed since the last
    ``CheckpointChanged`` was taken from the queue: persist ``conn.checkpoint()`` (it is
    ``None`` when the session can no longer be resumed: delete what was persisted).

    Coalesced: at most one is waiting in the event queue at any time, and the checkpoint
    itself is built only when the application asks for it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PongReceived(Event):
    """Our ping ``ping_id`` was answered after ``round_trip`` seconds.

    ``error`` is set when the answer was an error stanza: the peer is alive but does not
    support XEP-0199 (the official SDK rejects such a ping; we report both facts).
    """

    ping_id: str
    round_trip: float
    error: StanzaError | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PingTimedOut(Event):
    """Our ping ``ping_id`` got no answer in time (or the connection closed first)."""

    ping_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PingReceived(Event):
    """The peer pinged us; the connection has already answered."""

    sender: str | None
    iq_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IqResultReceived(Event):
    """An IQ request sent with ``SendIq`` was answered with ``type="result"``.

    ``payload`` is the serialized child element of the answer, or ``None`` when empty.
    """

    iq_id: str
    payload: bytes | None


@dataclass(frozen=True, slots=True, kw_only=True)
class IqFailed(Event):
    """An IQ request was answered with an error, or with a result we could not parse.

    ``error`` is the peer's stanza error; it is ``None`` when the answer was a result that
    was malformed, in which case ``raw`` keeps the answer's bytes and ``reason`` says why.
    """

    iq_id: str
    error: StanzaError | None
    raw: bytes = b""
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class IqTimedOut(Event):
    """An IQ request got no answer before its timeout (or before the connection closed
    for good)."""

    iq_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MalformedStanza(Event):
    """A stanza we could not interpret.  The stream stays up; ``raw`` keeps its bytes."""

    raw: bytes
    reason: str


class UnhandledStanza(Event):
    """A well-formed stanza nothing in cubeproto understands; ``raw`` keeps its bytes.

    Immutable, keyword-only and compared and hashed by ``raw``, like the dataclass events
    (it is a hand-written slotted class for one reason): the core builds it from the
    parsed element with :meth:`of_element`, and the element is serialized only when
    ``raw`` is first read, then released.  Serializing is most of the cost of an unhandled
    stanza and most applications never look at the bytes; nothing else holds or changes
    the element once it is handed over.
    """

    __slots__ = ("_element", "_raw")
    __match_args__ = ("raw",)

    _element: etree._Element | None
    _raw: bytes | None

    def __init__(self, *, raw: bytes) -> None:
        _set(self, "_raw", raw)
        _set(self, "_element", None)

    @classmethod
    def of_element(cls, element: etree._Element) -> UnhandledStanza:
        """The event for a parsed stanza; ``raw`` is its exact serialization
        (:func:`cubeproto._xmlstream.element_bytes`), made when first read."""
        self = _new(cls)
        _set(self, "_raw", None)
        _set(self, "_element", element)
        return self

    @property
    def raw(self) -> bytes:
        """The stanza's bytes."""
        # Read the element before the bytes, and store the bytes before dropping the
        # element: a reader racing the first serialization then always finds one of them.
        element = self._element
        raw = self._raw
        if raw is None:
            assert element is not None
            raw = element_bytes(element)
            _set(self, "_raw", raw)
            _set(self, "_element", None)
        return raw

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, UnhandledStanza)
        return self.raw == other.raw

    def __hash__(self) -> int:
        return hash((self.raw,))

    def __repr__(self) -> str:
        return f"UnhandledStanza(raw={self.raw!r})"

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple[Callable[..., UnhandledStanza], tuple[bytes]]:
        return _unhandled_from_raw, (self.raw,)


def _unhandled_from_raw(raw: bytes) -> UnhandledStanza:
    return UnhandledStanza(raw=raw)


_set = object.__setattr__
_new = object.__new__


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionDead(Event):
    """Keepalive: the server did not answer a ping in time.  The adapter should drop the
    socket (and reconnect); the connection is closed."""

    idle_seconds: float


class CloseReason(str, enum.Enum):
    """How a connection ended."""

    #: We closed (``close()``) and the peer closed its side too (or the wait timed out).
    LOCAL = "local"
    #: The peer closed the stream or the socket without a stream error.
    REMOTE = "remote"
    #: The peer sent a ``<stream:error/>``.
    STREAM_ERROR_RECEIVED = "stream-error-received"
    #: The peer broke the protocol; we sent a ``<stream:error/>`` (see ``error``).
    PROTOCOL_ERROR = "protocol-error"
    #: Authentication failed.
    AUTH_FAILED = "auth-failed"
    #: Keepalive declared the connection dead.
    DEAD = "dead"
    #: We gave up negotiating: TLS unavailable, no usable SASL mechanism, bind refused.
    NEGOTIATION_FAILED = "negotiation-failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionClosed(Event):
    """Terminal event: nothing follows it.

    ``condition``/``text`` are the stream error condition involved (received or sent), if
    any.  ``error`` is set when the peer broke the protocol (``reason`` is
    ``PROTOCOL_ERROR``).  ``clean`` is true when both sides closed the stream properly.
    ``resumable`` tells the adapter whether ``ClientConnection.resume_state()`` holds a
    session that can be resumed on a new connection.
    """

    reason: CloseReason
    condition: StreamErrorCondition | None = None
    text: str | None = None
    error: RemoteProtocolError | None = None
    clean: bool = False
    resumable: bool = False
