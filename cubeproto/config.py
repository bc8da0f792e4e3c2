"""Configuration of a client connection: who we are, how to reach the server, and every
tunable of the protocol machinery, with the reason for each default."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from ._sasl import DEFAULT_MECHANISMS
from ._xmlstream import XmlLimits
from .commands import DEFAULT_IQ_TIMEOUT, StanzaHandler
from .errors import LocalProtocolError

__all__ = ["ClientConfig", "Transport"]


class Transport(enum.Enum):
    """How the adapter carries the stream."""

    #: Plain TCP, upgraded with STARTTLS (port 5222).
    TCP = "tcp"
    #: TLS from the first byte (port 5223); the adapter handshakes before ``start()``.
    DIRECT_TLS = "direct-tls"
    #: RFC 7395 over ``ws://`` (insecure) -- the core performs the HTTP upgrade.
    WEBSOCKET = "websocket"
    #: RFC 7395 over ``wss://``; the adapter handshakes TLS before ``start()``.
    SECURE_WEBSOCKET = "secure-websocket"


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    """Everything a :class:`~cubeproto.ClientConnection` needs.

    ``entropy`` (``n -> n random bytes``) and ``wall_clock`` (unix seconds) are injected
    because the core may neither read a clock nor use hidden randomness: adapters pass
    ``os.urandom`` and ``time.time``; tests pass deterministic functions.  They make SCRAM
    nonces, IQ ids and the ObjectId message ids.
    """

    app_id: int
    user_id: int
    #: The user's password, or the REST session token (custom identity / Firebase users).
    password: str
    entropy: Callable[[int], bytes]
    wall_clock: Callable[[], float]
    chat_host: str = "chat.connectycube.com"
    transport: Transport = Transport.TCP
    #: For WebSocket: the Host header and request target of the upgrade.
    websocket_host: str | None = None
    websocket_path: str = "/ws"
    #: Refuse to authenticate on a TCP stream the server will not encrypt.
    require_tls: bool = True
    #: Allow PLAIN on an unencrypted stream.  Only for loopback tests.
    allow_plain_unencrypted: bool = False
    mechanisms: tuple[str, ...] = DEFAULT_MECHANISMS
    #: Resource to ask for; ``None`` lets the server choose (as the official SDK does).
    resource: str | None = None
    #: Enable XEP-0198 when offered; ask for resumption.
    stream_management: bool = True
    resume: bool = True
    #: Send ``<r/>`` at the latest after this many unrequested stanzas (and always when
    #: the output is drained).  1 = after every countable message.
    ack_request_batch: int = 1
    #: A countable message unacknowledged this long after its ``<r/>`` means the
    #: connection is dead: it closes (``ConnectionClosed(reason=DEAD)``, resumable when
    #: the session is) and the resumption's ``h`` settles the message -- nothing is
    #: reported lost on a timeout.  30 s is the official SDK's ``acknowledgementTimeout``.
    ack_timeout: float = 30.0
    #: Advance our inbound ``h`` only when the application calls ``confirm_handled()``.
    #: The chat layer then counts a message id as seen (duplicate suppression) only once
    #: its stanza is confirmed, so a redelivery of an unconfirmed one is reported again.
    app_controlled_acks: bool = False
    #: Emit ``CheckpointChanged`` whenever what ``checkpoint()`` returns changes (so the
    #: application can persist it).  Off by default: it adds an event to the stream, and
    #: nothing is spent on checkpoints unless the application asks for them.
    checkpoint_events: bool = False
    #: After a refused resumption, send the messages whose fate nobody knows again on the
    #: fresh session, with their original ids (the receiver's duplicate suppression makes
    #: that idempotent): they end as ``MessageSent`` instead of ``MessageUnconfirmed``.
    resend_unconfirmed: bool = False
    #: ``send()`` of a stanza longer than this (UTF-8 bytes) raises ``LocalProtocolError``
    #: and queues nothing.  262144 (256 KiB) is ejabberd's (and ConnectyCube's) c2s
    #: ``max_stanza_size``; a smaller limit the server advertises (XEP-0478
    #: ``<limits><max-bytes>``) wins.  ``None``: only the server's advertised limit.
    max_outbound_stanza_bytes: int | None = 262144
    #: XEP-0280 carbons and initial presence, in the official SDK's order.
    enable_carbons: bool = True
    send_initial_presence: bool = True
    iq_timeout: float = DEFAULT_IQ_TIMEOUT
    #: Bound of the outstanding-IQ table; sending beyond it is a LocalProtocolError.
    max_pending_iqs: int = 1024
    #: Ping the server after this many idle seconds (``None``: no keepalive).
    keepalive_interval: float | None = None
    #: ... and declare the connection dead when that ping is unanswered this long.
    keepalive_timeout: float = 10.0
    #: How long ``close()`` waits for the server's stream close.  2 s is xmpp.js's.
    close_timeout: float = 2.0
    #: After this many seconds without input, free the XML parser's libxml2 context (about
    #: 10 KB per connection; rebuilt on the next byte, which costs ~30 µs).  ``None``: keep it.
    release_parser_when_idle: float | None = 10.0
    xml_limits: XmlLimits = field(default_factory=XmlLimits)
    #: Makes the handler (the chat layer) for a new session; ``None``: the core reports
    #: every stanza it does not consume as ``UnhandledStanza``.
    handler_factory: Callable[[], StanzaHandler] | None = None
    #: ``wire_trace(direction, xml)`` is told every piece of the XML stream: ``"in"`` as
    #: received (after WebSocket deframing), ``"out"`` as written.  UNREDACTED: the SASL
    #: exchange carries the password or token; pass the pieces through
    #: :class:`cubeproto.diagnostics.WireRedactor` (one per direction) before showing them,
    #: as the clients' ``cubeproto.wire`` logger does.  ``None`` (the default) costs
    #: nothing.
    wire_trace: Callable[[str, bytes], None] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.app_id <= 0 or self.user_id <= 0:
            raise LocalProtocolError("app_id and user_id must be positive integers")
        if not self.password:
            raise LocalProtocolError("a password (or session token) is required")
        if not self.chat_host or "/" in self.chat_host or "@" in self.chat_host:
            raise LocalProtocolError(f"invalid chat host {self.chat_host!r}")
        if self.ack_request_batch < 1:
            raise LocalProtocolError("ack_request_batch must be >= 1")
        for name in ("ack_timeout", "iq_timeout", "keepalive_timeout", "close_timeout"):
            if not getattr(self, name) > 0:
                raise LocalProtocolError(f"{name} must be positive")
        if self.keepalive_interval is not None and not self.keepalive_interval > 0:
            raise LocalProtocolError("keepalive_interval must be positive or None")
        if self.release_parser_when_idle is not None and not self.release_parser_when_idle > 0:
            raise LocalProtocolError("release_parser_when_idle must be positive or None")
        if self.max_outbound_stanza_bytes is not None and self.max_outbound_stanza_bytes < 64:
            raise LocalProtocolError("max_outbound_stanza_bytes must be >= 64 or None")
        if self.max_pending_iqs < 1:
            raise LocalProtocolError("max_pending_iqs must be >= 1")

    @property
    def username(self) -> str:
        """The SASL authcid and JID local part: ``{userId}-{appId}``."""
        return f"{self.user_id}-{self.app_id}"

    @property
    def bare_jid(self) -> str:
        return f"{self.username}@{self.chat_host}"

    @property
    def encrypted_from_start(self) -> bool:
        return self.transport in (Transport.DIRECT_TLS, Transport.SECURE_WEBSOCKET)

    @property
    def is_websocket(self) -> bool:
        return self.transport in (Transport.WEBSOCKET, Transport.SECURE_WEBSOCKET)
