"""What every part of the server connection shares: its configuration, its events, its
declared state, constants and output helpers.

:class:`~cubeproto._server_connection.ServerConnection` is assembled like the client
(see ``_client_base.py``): ``_server_negotiation.py`` (the client's header, features,
STARTTLS, SASL, bind), ``_server_sm.py`` (XEP-0198 on the server side: counting, acks,
detaching and resuming a session), and ``_server_connection.py`` with the public contract
and the dispatch; the bytes go through the stream layer both roles share (``_stream.py``,
``_framing.py``).  :class:`ServerParts` declares the shared state for the type checker
and the methods one part calls in another (stubs, last in the method resolution order).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lxml import etree

from ._framing import (
    STANZA_NAME_END,
    ServerTcpFraming,
    ServerWebSocketFraming,
)
from ._server_credentials import (
    UserAuth,
)
from ._server_state import ServerState
from ._sm import StreamManagement, Unacked
from ._stream import (
    SM_REQUEST,
    StreamEndpoint,
)
from ._timers import Timers
from ._xmlstream import (
    NS_FRAMING,
    XmlLimits,
)
from .errors import (
    LocalProtocolError,
    RemoteProtocolError,
    StreamErrorCondition,
)
from .events import Event

__all__ = [
    "DEFAULT_SERVER_MECHANISMS",
    "ClientAuthFailed",
    "ClientAuthenticated",
    "ClientBound",
    "ClientClosed",
    "ClientResumed",
    "DetachedSession",
    "ResumeRequested",
    "ServerConfig",
    "ServerParts",
    "ServerTransport",
    "SmEnabled",
    "StanzaReceived",
    "StreamStarted",
    "TlsRequested",
]

DEFAULT_SERVER_MECHANISMS: tuple[str, ...] = (
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1",
    "PLAIN",
)
_OPEN = f"{{{NS_FRAMING}}}open"
_CLOSE = f"{{{NS_FRAMING}}}close"
_R = SM_REQUEST
#: Where the element name of a built ``<iq ...>`` ends (``Framing.frame_stanza``).
_IQ = STANZA_NAME_END["iq"]

_NEGOTIATION_TIMER = ("negotiation",)
_IDLE_TIMER = ("idle",)
_CLOSE_TIMER = ("close",)
_ACK_TIMER = ("ack",)


# ---------------------------------------------------------------------- configuration


class ServerTransport(enum.Enum):
    """How the adapter carries this stream."""

    #: Plain TCP; STARTTLS offered when ``ServerConfig.starttls``.
    TCP = "tcp"
    #: TLS from the first byte; the adapter handshakes before ``start()``.
    DIRECT_TLS = "direct-tls"
    #: RFC 7395 over ``ws://``: the connection answers the HTTP upgrade itself.
    WEBSOCKET = "websocket"
    #: RFC 7395 over ``wss://``: TLS by the adapter, then the upgrade.
    SECURE_WEBSOCKET = "secure-websocket"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """Everything a :class:`ServerConnection` needs; one per listener is typical."""

    domain: str
    #: ``n -> n random bytes`` (the adapter passes ``os.urandom``).
    entropy: Callable[[int], bytes]
    #: SASL username (``{userId}-{appId}``) -> its credentials, or ``None`` (unknown user).
    authenticate: Callable[[str], UserAuth | None]
    transport: ServerTransport = ServerTransport.TCP
    #: TCP: offer STARTTLS (the adapter has a certificate).
    starttls: bool = True
    #: TCP: refuse SASL until the stream is encrypted (``<required/>`` in the offer).
    require_tls: bool = True
    #: Offer PLAIN on an unencrypted stream (loopback tests only).
    allow_plain_unencrypted: bool = False
    mechanisms: tuple[str, ...] = DEFAULT_SERVER_MECHANISMS
    stream_management: bool = True
    #: Resumption window promised in ``<enabled max=.../>``; ``0`` disables resumption.
    resume_seconds: int = 300
    #: Ask for an ack (``<r/>``) after this many unrequested stanzas, and on every drain.
    ack_request_batch: int = 1
    #: The client must be bound (or resumed) this long after ``start()``.
    negotiation_timeout: float = 30.0
    #: Close a bound stream that sent nothing for this long (``None``: never).
    idle_timeout: float | None = None
    #: Failed SASL attempts allowed on one stream before it is closed.
    max_auth_attempts: int = 3
    #: How long ``close()`` waits for the client's stream close.
    close_timeout: float = 2.0
    #: With stream management: a stanza still unacknowledged this long after it was sent
    #: (and ``<r/>`` asked for it) means the client is gone; the connection ends as a
    #: resumable loss (``ClientClosed(resumable=True, condition=connection-timeout)``).
    #: Each ack that covers something restarts the wait.  ``None``: never.
    ack_timeout: float | None = 60.0
    xml_limits: XmlLimits = field(default_factory=XmlLimits)

    def __post_init__(self) -> None:
        if not self.domain or "/" in self.domain or "@" in self.domain:
            raise LocalProtocolError(f"invalid domain {self.domain!r}")
        unknown = set(self.mechanisms) - set(DEFAULT_SERVER_MECHANISMS)
        if unknown:
            raise LocalProtocolError(f"unsupported mechanisms {sorted(unknown)}")
        if self.resume_seconds < 0 or self.ack_request_batch < 1 or self.max_auth_attempts < 1:
            raise LocalProtocolError("resume_seconds, ack_request_batch or attempts out of range")
        for name in ("negotiation_timeout", "close_timeout"):
            if not getattr(self, name) > 0:
                raise LocalProtocolError(f"{name} must be positive")
        for optional in ("idle_timeout", "ack_timeout"):
            value = getattr(self, optional)
            if value is not None and not value > 0:
                raise LocalProtocolError(f"{optional} must be positive or None")

    @property
    def encrypted_from_start(self) -> bool:
        return self.transport in (ServerTransport.DIRECT_TLS, ServerTransport.SECURE_WEBSOCKET)

    @property
    def is_websocket(self) -> bool:
        return self.transport in (ServerTransport.WEBSOCKET, ServerTransport.SECURE_WEBSOCKET)


# ---------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamStarted(Event):
    """The client's stream header (or ``<open/>``) arrived; features were sent."""

    to: str | None
    restart: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsRequested(Event):
    """The client asked for STARTTLS and ``<proceed/>`` is in the output.

    The adapter writes ``data_to_send()``, runs the server-side TLS handshake on the same
    socket and calls ``tls_established()``; ``receive_data`` must not be called before.
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientAuthenticated(Event):
    """SASL succeeded for ``username`` (the authcid, ``{userId}-{appId}``)."""

    username: str
    mechanism: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientAuthFailed(Event):
    """A SASL attempt failed (``<failure/>`` was sent); the client may try again."""

    username: str | None
    mechanism: str | None
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientBound(Event):
    """Resource binding succeeded: the client is online as ``jid``; stanzas may flow."""

    jid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SmEnabled(Event):
    """The client enabled XEP-0198; ``resume_id`` is set when resumption was granted."""

    resume_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResumeRequested(Event):
    """The client sent ``<resume/>``: the application looks up the detached session with
    ``previd`` for ``username`` and calls ``accept_resume()`` or ``refuse_resume()``."""

    username: str
    previd: str
    h: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientResumed(Event):
    """The session ``previd`` continues on this stream as ``jid``; ``resent`` stanzas the
    client had not acknowledged were sent again."""

    jid: str
    previd: str
    resent: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StanzaReceived(Event):
    """A stanza from the bound client, ``from`` already set to its full JID.

    ``kind`` is ``message``, ``presence`` or ``iq``; ``element`` is the parsed stanza
    (detached from the stream; the application may read and modify it).
    """

    kind: str
    element: etree._Element = field(compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientClosed(Event):
    """Terminal event: nothing follows it.

    ``clean`` when both sides closed the stream; ``error`` when the client broke the
    protocol (a stream error was sent); ``resumable`` when :meth:`ServerConnection.detach`
    returns a session the client may resume on a new connection.
    """

    clean: bool
    condition: StreamErrorCondition | None = None
    text: str | None = None
    error: RemoteProtocolError | None = None
    resumable: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class DetachedSession:
    """A stream-management session whose connection dropped, kept by the application
    (for at most ``ServerConfig.resume_seconds``) so that the client can resume it."""

    resume_id: str
    username: str
    jid: str
    inbound_h: int
    acked_h: int
    outbound_h: int
    unacked: tuple[Unacked, ...]


_Framing = ServerTcpFraming | ServerWebSocketFraming


class _Sasl:
    """One SASL exchange in progress."""

    __slots__ = (
        "candidates",
        "client_first",
        "iterations",
        "mechanism",
        "nonce",
        "salt",
        "scram",
        "username",
    )

    def __init__(self, mechanism: str) -> None:
        self.mechanism = mechanism
        self.username: str | None = None
        self.scram: object | None = None
        self.client_first = ""
        self.nonce = ""
        self.candidates: list[tuple[bytes, bytes]] = []
        self.salt = b""
        self.iterations = 0


class ServerParts(StreamEndpoint[ServerState]):
    """The server connection's state, declared once for all of its parts."""

    if not TYPE_CHECKING:  # a mixin adds no slots
        __slots__ = ()

    _config: ServerConfig
    _framing: _Framing
    _events: deque[Event]
    _timers: Timers
    _started: bool
    _terminated: bool
    _encrypted: bool
    _channel_binding: tuple[str, bytes] | None
    _username: str | None
    _jid: str | None
    _headers: int
    _sasl: _Sasl | None
    _auth_failures: int
    _sm: StreamManagement | None
    _resume_id: str | None
    _unrequested: int
    _pending_resume: ResumeRequested | None

    def _is_closed(self) -> bool:
        return self._state is ServerState.CLOSED

    def _new_stream_id(self) -> str:
        return self._config.entropy(12).hex()

    def _nonza(self, xml: str) -> None:
        self._out.append(self._framing.frame(xml))

    # --- implemented by the other parts (see the module docstring) ----------------

    def _fail(
        self,
        condition: StreamErrorCondition,
        text: str,
        *,
        send: bool = True,
        app_condition: str = "",
    ) -> None:
        raise NotImplementedError

    def _finish(self, event: ClientClosed) -> None:
        raise NotImplementedError

    def _arm_idle(self) -> None:
        raise NotImplementedError
