"""The server side of one XMPP stream, sans-IO: what the local server is built on.

The mirror image of :class:`~cubeproto.ClientConnection`, with the same contract: bytes
in (``receive_data``/``receive_eof``), bytes out (``data_to_send``), typed events out
(``next_event``), time as an argument (``get_timer``/``handle_timer``).  It owns stream
negotiation -- features, STARTTLS (an event asks the adapter for the TLS handshake), SASL
PLAIN and SCRAM (scramp's server side; ``-PLUS`` when the adapter gives channel binding),
resource binding -- and XEP-0198 on the server side: it counts what the client sent,
answers ``<r/>``, asks for acks, keeps every unacknowledged stanza and resumes a session
that the *application* kept after a cut (:meth:`ServerConnection.detach` /
:meth:`ServerConnection.accept_resume`).  Routing is not here: every stanza of a bound
client is handed out as :class:`StanzaReceived`, with ``from`` stamped to the client's
full JID (RFC 6120 section 8.1.2.1), and the application sends stanzas back with
:meth:`ServerConnection.send_stanza`.

Passwords are checked through ``ServerConfig.authenticate``, a callable that returns the
user's :class:`UserAuth` (SCRAM keys, never the password).  Randomness (stream ids,
resources, SCRAM server nonces) comes from ``ServerConfig.entropy``.

Peer faults never raise: they end in a stream error sent to the client and one terminal
:class:`ClientClosed` carrying a ``RemoteProtocolError``.
"""

from __future__ import annotations

import enum
import hmac
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from lxml import etree
from scramp import ScramException, ScramMechanism

from ._framing import (
    TRANSPORT_CLOSED,
    TRANSPORT_READY,
    Item,
    ServerTcpFraming,
    ServerWebSocketFraming,
)
from ._memo import remember
from ._sasl import SaslError, b64decode_sasl, b64encode_sasl
from ._server_state import ServerInput, ServerState, server_transition
from ._sm import MOD, AckError, StreamManagement, Unacked
from ._stream import (
    NS_BIND,
    NS_PING,
    NS_SASL,
    NS_SESSION,
    NS_SM,
    NS_TLS,
    SM_REQUEST,
    STANZA_TAGS,
    StreamEndpoint,
)
from ._timers import Timers
from ._xmlstream import (
    NS_CLIENT,
    NS_FRAMING,
    NS_STREAM,
    StreamFooter,
    StreamHeader,
    XmlLimits,
    escape_attr,
    escape_text,
    top_level_fault,
)
from .errors import (
    NS_STANZAS,
    LocalProtocolError,
    RemoteProtocolError,
    StreamErrorCondition,
)
from .events import Event

__all__ = [
    "ClientAuthFailed",
    "ClientAuthenticated",
    "ClientBound",
    "ClientClosed",
    "ClientResumed",
    "DetachedSession",
    "ResumeRequested",
    "ServerConfig",
    "ServerConnection",
    "ServerTransport",
    "SmEnabled",
    "StanzaReceived",
    "StreamStarted",
    "TlsRequested",
    "UserAuth",
    "check_plain_password",
    "make_user_auth",
]

_SCRAM_HASHES = {"SCRAM-SHA-1": "SHA-1", "SCRAM-SHA-256": "SHA-256"}
_HASHLIB = {"SHA-1": "sha1", "SHA-256": "sha256"}
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

_NEGOTIATION_TIMER = ("negotiation",)
_IDLE_TIMER = ("idle",)
_CLOSE_TIMER = ("close",)
_ACK_TIMER = ("ack",)


# ---------------------------------------------------------------------- credentials


@dataclass(frozen=True, slots=True, kw_only=True)
class UserAuth:
    """What the server keeps to check one user's password: SCRAM keys, not the password.

    ``keys`` maps a hash name (``"SHA-1"``, ``"SHA-256"``) to ``(stored_key, server_key)``
    derived from the password with ``salt`` and ``iterations`` (RFC 5802).  PLAIN logins
    are checked by deriving the same keys from the offered password.  ``tokens`` are other
    secrets accepted in place of the password, over PLAIN and SCRAM alike: ConnectyCube
    lets a user log in to chat with a live REST session token instead of the password.

    How SCRAM checks one of several secrets: the server-first message carries a salt and
    an iteration count before the client has proved anything, so the server cannot first
    learn which secret the client holds.  Every secret of a user is therefore salted with
    the *same* ``salt`` and ``iterations`` (a token's keys are derived with the user's
    salt, see :meth:`scram_keys`), which makes the server-first message the same whatever
    the client holds.  The client's proof is ``ClientKey XOR HMAC(StoredKey, AuthMessage)``;
    for each candidate ``StoredKey`` the server recovers ``ClientKey`` and accepts exactly
    when ``H(ClientKey) == StoredKey`` (a wrong candidate matches with probability about
    2**-160).  The ``ServerSignature`` in the success message is made with the ServerKey of
    the candidate that matched, so the client still authenticates the server.  Every
    candidate is tried, with no early exit, so the time taken does not say which secret
    matched.
    """

    salt: bytes
    iterations: int
    keys: Mapping[str, tuple[bytes, bytes]]
    tokens: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.iterations < 1 or not self.salt:
            raise LocalProtocolError("UserAuth needs a salt and at least one iteration")
        if not set(self.keys) <= set(_HASHLIB):
            raise LocalProtocolError(f"unknown hash in UserAuth.keys: {sorted(self.keys)}")

    def scram_keys(self, hash_name: str) -> list[tuple[bytes, bytes]]:
        """Every ``(stored_key, server_key)`` a SCRAM exchange over ``hash_name`` may be
        proved against: the password's keys first, then each token's, derived with this
        user's ``salt`` and ``iterations`` (one PBKDF2 per token and hash, remembered for
        the process: about 5 ms each at 4096 iterations, so a user's first SCRAM login
        after N new tokens costs N derivations on the caller's thread)."""
        candidates = [self.keys[hash_name]] if hash_name in self.keys else []
        for token in sorted(self.tokens):
            key = (token, self.salt, self.iterations, hash_name)
            derived = _TOKEN_KEYS.get(key)
            if derived is None:
                derived = remember(
                    _TOKEN_KEYS, key, _derive(token, self.salt, self.iterations, hash_name), 4096
                )
            if derived:
                candidates.append((derived[0], derived[1]))
        return candidates


# Token keys derived so far, by (token, salt, iterations, hash): a token costs one PBKDF2
# per hash, once.  ``()`` remembers a secret scramp refuses.
_TOKEN_KEYS: dict[tuple[str, bytes, int, str], tuple[bytes, ...]] = {}


def _derive(secret: str, salt: bytes, iterations: int, hash_name: str) -> tuple[bytes, ...]:
    """SCRAM ``(stored_key, server_key)`` for ``secret``; ``()`` when scramp refuses it."""
    mechanism = "SCRAM-SHA-256" if hash_name == "SHA-256" else "SCRAM-SHA-1"
    try:
        _, stored_key, server_key, _ = ScramMechanism(mechanism).make_auth_info(
            secret, iteration_count=iterations, salt=salt
        )
    except (ScramException, ValueError, UnicodeError):
        return ()
    return stored_key, server_key


#: The shortest salt the server derives keys with (scramp's own minimum).
MIN_SALT_BYTES = 12
#: The lowest iteration count (RFC 7677 section 4: "at least 4096").
MIN_ITERATIONS = 4096


def make_user_auth(
    password: str, *, salt: bytes, iterations: int = 4096, tokens: frozenset[str] = frozenset()
) -> UserAuth:
    """Derive a :class:`UserAuth` for ``password`` (both SHA-1 and SHA-256 keys).

    Refuses a salt under :data:`MIN_SALT_BYTES` or fewer than :data:`MIN_ITERATIONS`
    iterations itself: scramp 1.5 does too, but the scramp that Python 3.10 installs
    (1.4) does not, and the rule must not depend on which one is present.
    """
    if len(salt) < MIN_SALT_BYTES or iterations < MIN_ITERATIONS:
        raise LocalProtocolError(
            f"cannot derive SCRAM keys: the salt must have at least {MIN_SALT_BYTES} bytes "
            f"(got {len(salt)}) and the iteration count be at least {MIN_ITERATIONS} "
            f"(got {iterations})"
        )
    keys = {}
    for mechanism, hash_name in _SCRAM_HASHES.items():
        try:
            _, stored_key, server_key, _ = ScramMechanism(mechanism).make_auth_info(
                password, iteration_count=iterations, salt=salt
            )
        except ScramException as exc:  # salt < 12 bytes, iterations < 4096 (RFC 7677)
            raise LocalProtocolError(f"cannot derive SCRAM keys: {exc}") from None
        keys[hash_name] = (stored_key, server_key)
    return UserAuth(salt=salt, iterations=iterations, keys=keys, tokens=tokens)


def check_plain_password(auth: UserAuth, password: str) -> bool:
    """Whether ``password`` (or a token) matches ``auth``; constant-time comparisons."""
    ok = False
    for token in auth.tokens:
        ok |= hmac.compare_digest(token.encode(), password.encode())
    if ok:
        return True
    hash_name = "SHA-256" if "SHA-256" in auth.keys else next(iter(auth.keys), None)
    if hash_name is None:
        return False
    mechanism = "SCRAM-SHA-256" if hash_name == "SHA-256" else "SCRAM-SHA-1"
    try:
        _, stored_key, _, _ = ScramMechanism(mechanism).make_auth_info(
            password, iteration_count=auth.iterations, salt=auth.salt
        )
    except (ScramException, ValueError, UnicodeError):
        return False
    return hmac.compare_digest(stored_key, auth.keys[hash_name][0])


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


# ---------------------------------------------------------------------- the connection


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


class ServerConnection(StreamEndpoint[ServerState]):
    """The server side of one client's XMPP stream, sans-IO.

    The adapter's loop, after **every** call: write ``data_to_send()``, handle
    ``next_event()`` until ``None``, re-arm one timer at ``get_timer()``.  ``now`` is any
    monotonic clock of the adapter's choosing.  Not thread-safe.
    """

    def __init__(self, config: ServerConfig) -> None:
        """Pure construction; call :meth:`start` when the transport is up."""
        self._config = config
        self._state = ServerState.AWAITING_HEADER
        self._framing: _Framing = (
            ServerWebSocketFraming(config.xml_limits)
            if config.is_websocket
            else ServerTcpFraming(config.xml_limits)
        )
        self._out: list[bytes] = []
        self._events: deque[Event] = deque()
        self._timers = Timers()
        self._started = False
        self._eof = False
        self._terminated = False
        self._encrypted = config.encrypted_from_start
        self._channel_binding: tuple[str, bytes] | None = None
        self._username: str | None = None
        self._jid: str | None = None
        self._headers = 0
        self._sasl: _Sasl | None = None
        self._auth_failures = 0
        self._last_rx = 0.0
        self._sm: StreamManagement | None = None
        self._resume_id: str | None = None
        self._unrequested = 0
        self._pending_resume: ResumeRequested | None = None

    # ------------------------------------------------------------------ public state

    @property
    def state(self) -> ServerState:
        return self._state

    @property
    def username(self) -> str | None:
        """The authenticated SASL username, once authenticated."""
        return self._username

    @property
    def jid(self) -> str | None:
        """The client's full JID once bound or resumed."""
        return self._jid

    @property
    def encrypted(self) -> bool:
        return self._encrypted

    @property
    def sm_enabled(self) -> bool:
        return self._sm is not None

    @property
    def resume_id(self) -> str | None:
        return self._resume_id

    # ------------------------------------------------------------------ entry points

    def start(self, *, now: float, channel_binding: tuple[str, bytes] | None = None) -> None:
        """The transport is up (for direct TLS / ``wss://``: after the TLS handshake,
        optionally with ``channel_binding=(type, data)`` for SCRAM ``-PLUS``).  The server
        waits for the client to speak first.  Raises ``LocalProtocolError`` if called
        twice."""
        if self._started:
            raise LocalProtocolError("start() was already called")
        self._started = True
        if self._config.is_websocket:
            self._state = server_transition(self._state, ServerInput.START_WEBSOCKET)
        self._channel_binding = channel_binding
        self._last_rx = now
        self._timers.set(_NEGOTIATION_TIMER, now + self._config.negotiation_timeout)

    def tls_established(
        self, *, now: float, channel_binding: tuple[str, bytes] | None = None
    ) -> None:
        """The adapter finished the TLS handshake asked for by :class:`TlsRequested`; the
        client will open a new stream.  Raises ``LocalProtocolError`` otherwise."""
        self._state = server_transition(self._state, ServerInput.TLS_DONE)
        self._encrypted = True
        self._channel_binding = channel_binding
        self._framing.restart()
        self._last_rx = now

    def receive_data(self, data: bytes, *, now: float) -> None:
        """Feed bytes from the client.  Never raises because of their content; raises
        ``LocalProtocolError`` if called before :meth:`start` or after
        :meth:`receive_eof`."""
        if not self._started:
            raise LocalProtocolError("receive_data() before start()")
        items = self._admit(data, now)
        if items is None:
            return
        for item in items:
            self._handle_item(item, now)
            if self._is_closed():
                break
        self._arm_idle()

    def receive_eof(self, *, now: float) -> None:
        """The client's side of the transport ended.  Idempotent."""
        if self._eof:
            return
        self._eof = True
        if self._state is ServerState.CLOSED:
            return
        clean = self._state is ServerState.CLOSING
        self._finish(ClientClosed(clean=clean, resumable=not clean and self._resumable()))

    def send_stanza(self, xml: str, *, now: float) -> None:
        """Send one serialized stanza (``<message>``, ``<presence>`` or ``<iq>``) to the
        bound client; with stream management it is kept until the client acks it.
        Raises ``LocalProtocolError`` unless the client is bound."""
        if self._state is not ServerState.READY:
            raise LocalProtocolError(f"cannot send a stanza in state {self._state.value}")
        if not xml.startswith(("<message", "<presence", "<iq")):
            raise LocalProtocolError("send_stanza() takes a message, presence or iq")
        self._send_counted(xml)
        self._arm_ack(now)

    def accept_resume(
        self, session: DetachedSession, *, now: float, extra: Sequence[str] = ()
    ) -> None:
        """Answer the pending :class:`ResumeRequested` with ``session`` (found by the
        application): ``<resumed/>``, then every stanza the client had not acknowledged,
        then ``extra`` (stanzas routed to the session while it was detached).  Raises
        ``LocalProtocolError`` if no resumption is pending or the session belongs to
        another user or id."""
        pending = self._pending_resume
        if self._state is not ServerState.RESUMING or pending is None:
            raise LocalProtocolError("no <resume/> is pending")
        if session.username != self._username or session.resume_id != pending.previd:
            raise LocalProtocolError("that session is not the one the client asked for")
        sm = StreamManagement()
        sm.inbound_h = session.inbound_h
        sm.acked_h = session.acked_h
        sm.outbound_h = session.outbound_h
        sm.unacked = deque(session.unacked)
        try:
            sm.ack(pending.h)
        except AckError as exc:
            self._pending_resume = None
            self._fail(
                StreamErrorCondition.UNDEFINED_CONDITION,
                str(exc),
                app_condition=(
                    f'<handled-count-too-high xmlns="{NS_SM}" h="{exc.h}" '
                    f'send-count="{sm.outbound_h}"/>'
                ),
            )
            return
        self._pending_resume = None
        self._state = server_transition(self._state, ServerInput.RESUMED)
        self._timers.cancel(_NEGOTIATION_TIMER)
        self._sm = sm
        self._resume_id = session.resume_id
        self._jid = session.jid
        self._nonza(
            f'<resumed xmlns="{NS_SM}" h="{sm.inbound_h}" '
            f'previd="{escape_attr(session.resume_id)}"/>'
        )
        resent = list(sm.unacked)
        for item in resent:
            self._out.append(self._framing.frame(item.xml))
        for xml in extra:
            self._send_counted(xml)
        if resent:
            self._unrequested += 1
        self._events.append(
            ClientResumed(jid=session.jid, previd=session.resume_id, resent=len(resent))
        )
        self._arm_idle()
        self._arm_ack(now)

    def refuse_resume(self, *, now: float) -> None:
        """Answer the pending :class:`ResumeRequested` with ``<failed/>``
        (``item-not-found``); the client then binds a new resource."""
        if self._state is not ServerState.RESUMING or self._pending_resume is None:
            raise LocalProtocolError("no <resume/> is pending")
        self._pending_resume = None
        self._state = server_transition(self._state, ServerInput.RESUME_REFUSED)
        self._nonza(f'<failed xmlns="{NS_SM}"><item-not-found xmlns="{NS_STANZAS}"/></failed>')

    def close(self, *, now: float) -> None:
        """Close the stream (``</stream:stream>``) and wait for the client's close.
        A deliberate close ends the session: it is not resumable."""
        state = self._state
        self._state = server_transition(state, ServerInput.CLOSE)
        if not self._framing.ready or state in (
            ServerState.TLS_PENDING,
            ServerState.AWAITING_UPGRADE,
        ):
            self._finish(ClientClosed(clean=False))
            return
        if state is ServerState.AWAITING_HEADER:
            self._out.append(self._framing.open_reply(self._new_stream_id(), self._config.domain))
        self._resume_id = None
        self._out.append(self._framing.close_stream())
        self._timers.set(_CLOSE_TIMER, now + self._config.close_timeout)

    def stream_error(self, condition: StreamErrorCondition, text: str = "", *, now: float) -> None:
        """Close the stream with a stream error chosen by the application (``conflict``
        when the same resource logs in again, ``system-shutdown``...).  Not resumable."""
        if self._state is ServerState.CLOSED:
            raise LocalProtocolError("the connection is closed")
        self._resume_id = None
        self._stream_error(condition, text, "")
        self._finish(ClientClosed(clean=False, condition=condition, text=text or None))

    def detach(self) -> DetachedSession | None:
        """After a ``ClientClosed(resumable=True)``: the session to keep for resumption."""
        sm = self._sm
        if (
            self._state is not ServerState.CLOSED
            or sm is None
            or self._resume_id is None
            or self._username is None
            or self._jid is None
        ):
            return None
        return DetachedSession(
            resume_id=self._resume_id,
            username=self._username,
            jid=self._jid,
            inbound_h=sm.inbound_h,
            acked_h=sm.acked_h,
            outbound_h=sm.outbound_h,
            unacked=tuple(sm.unacked),
        )

    def unacked_stanzas(self) -> list[str]:
        """Stanzas sent with stream management that the client has not acknowledged
        (what a server stores offline when the session ends for good)."""
        return [item.xml for item in self._sm.unacked] if self._sm is not None else []

    def data_to_send(self) -> bytes:
        """Everything to write to the transport now (may be ``b""``).  With stream
        management, one ``<r/>`` covering everything sent since the last request is
        appended."""
        if self._unrequested and self._sm is not None and self._state is ServerState.READY:
            self._unrequested = 0
            self._out.append(self._framing.frame(_R))
        if not self._out:
            return b""
        out = b"".join(self._out)
        self._out.clear()
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        return self._timers.next_deadline()

    def handle_timer(self, *, now: float) -> None:
        """Fire due deadlines: negotiation timeout, idle timeout, close wait."""
        for key in self._timers.pop_due(now):
            if self._state is ServerState.CLOSED:
                return
            if key == _NEGOTIATION_TIMER and self._state is not ServerState.READY:
                self._fail(StreamErrorCondition.CONNECTION_TIMEOUT, "negotiation took too long")
            elif key == _IDLE_TIMER:
                timeout = self._config.idle_timeout
                if timeout is not None and now - self._last_rx >= timeout:
                    self._resume_id = None
                    self._stream_error(
                        StreamErrorCondition.CONNECTION_TIMEOUT, "idle for too long", ""
                    )
                    self._finish(
                        ClientClosed(clean=False, condition=StreamErrorCondition.CONNECTION_TIMEOUT)
                    )
                else:
                    self._arm_idle()
            elif key == _CLOSE_TIMER:
                self._finish(ClientClosed(clean=False))
            elif key == _ACK_TIMER and self._sm is not None and self._sm.unacked:
                self._finish(
                    ClientClosed(
                        clean=False,
                        condition=StreamErrorCondition.CONNECTION_TIMEOUT,
                        text="no ack for a sent stanza",
                        resumable=self._resumable(),
                    )
                )

    # ------------------------------------------------------------------ helpers

    def _is_closed(self) -> bool:
        return self._state is ServerState.CLOSED

    def _new_stream_id(self) -> str:
        return self._config.entropy(12).hex()

    def _nonza(self, xml: str) -> None:
        self._out.append(self._framing.frame(xml))

    def _send_counted(self, xml: str) -> None:
        self._out.append(self._framing.frame(xml))
        sm = self._sm
        if sm is not None:
            sm.sent(xml, None)
            self._unrequested += 1
            if self._unrequested >= self._config.ack_request_batch:
                self._unrequested = 0
                self._out.append(self._framing.frame(_R))

    def _arm_ack(self, now: float) -> None:
        """Start the ack wait if stanzas are outstanding and no wait is running."""
        timeout = self._config.ack_timeout
        sm = self._sm
        if timeout is None or sm is None or not sm.unacked or self._state is not ServerState.READY:
            return
        if not self._timers.is_set(_ACK_TIMER):
            self._timers.set(_ACK_TIMER, now + timeout)

    def _arm_idle(self) -> None:
        timeout = self._config.idle_timeout
        if timeout is not None and self._state is ServerState.READY:
            self._timers.set(_IDLE_TIMER, self._last_rx + timeout)

    def _resumable(self) -> bool:
        return (
            self._resume_id is not None
            and self._sm is not None
            and self._state in (ServerState.READY, ServerState.CLOSING)
        )

    def _finish(self, event: ClientClosed) -> None:
        if self._terminated:
            return
        self._terminated = True
        if self._state is not ServerState.CLOSED:
            self._state = server_transition(self._state, ServerInput.END)
        self._timers.clear()
        if not event.resumable:
            self._resume_id = None
        self._events.append(event)

    def _stream_error(self, condition: StreamErrorCondition, text: str, app: str) -> None:
        if not self._framing.ready or self._state in (
            ServerState.TLS_PENDING,
            ServerState.CLOSED,
        ):
            return
        if self._state is ServerState.AWAITING_HEADER:
            # RFC 6120 4.9.1.1: open a stream first so the error can be sent on it.
            self._out.append(self._framing.open_reply(self._new_stream_id(), self._config.domain))
        self._write_stream_error(condition, text, app, empty_text=False)

    _ENDED = ServerState.CLOSED
    _AWAITING_TLS = ServerState.TLS_PENDING

    def _fail(
        self,
        condition: StreamErrorCondition,
        text: str,
        *,
        send: bool = True,
        app_condition: str = "",
    ) -> None:
        """The client broke the protocol: stream error, close, one terminal event.  A
        session with resumption stays resumable (the client may have been cut mid-way)."""
        if self._state is ServerState.CLOSED:
            return
        resumable = self._resumable()
        if send:
            self._stream_error(condition, text, app_condition)
        self._finish(
            ClientClosed(
                clean=False,
                condition=condition,
                text=text,
                error=RemoteProtocolError(condition, text),
                resumable=resumable,
            )
        )

    # ------------------------------------------------------------------ inbound

    def _handle_item(self, item: Item, now: float) -> None:
        if isinstance(item, etree._Element):
            tag = item.tag if isinstance(item.tag, str) else ""
            kind = STANZA_TAGS.get(tag)
            if kind is not None:
                self._on_stanza(kind, item, now)
            else:
                self._on_nonza(item, now)
        elif isinstance(item, StreamHeader):
            self._on_header(item)
        elif isinstance(item, StreamFooter) or item is TRANSPORT_CLOSED:
            self._on_footer()
        elif item is TRANSPORT_READY:
            if self._state is not ServerState.AWAITING_UPGRADE:
                self._fail(StreamErrorCondition.BAD_FORMAT, "a second WebSocket upgrade")
                return
            self._state = server_transition(self._state, ServerInput.UPGRADED)

    def _on_header(self, header: StreamHeader) -> None:
        if self._state is not ServerState.AWAITING_HEADER:
            self._fail(StreamErrorCondition.BAD_FORMAT, "unexpected stream header")
            return
        attrs = header.attributes
        to = attrs.get("to")
        # Answer with our header first, so that any error below can be sent on a stream.
        self._out.append(self._framing.open_reply(self._new_stream_id(), self._config.domain))
        self._state = server_transition(self._state, ServerInput.HEADER)
        if not attrs.get("version", "").startswith("1."):
            self._fail(StreamErrorCondition.UNSUPPORTED_VERSION, "version 1.0 is required")
            return
        if to is not None and to != self._config.domain:
            self._fail(StreamErrorCondition.HOST_UNKNOWN, f"this server is {self._config.domain}")
            return
        if header.default_namespace not in (NS_CLIENT, NS_FRAMING):
            self._fail(StreamErrorCondition.INVALID_NAMESPACE, "the stream must be jabber:client")
            return
        self._headers += 1
        self._nonza(self._features())
        self._events.append(StreamStarted(to=to, restart=self._headers > 1))

    def _offered_mechanisms(self) -> list[str]:
        config = self._config
        out = []
        for mechanism in config.mechanisms:
            if mechanism.endswith("-PLUS") and self._channel_binding is None:
                continue
            if mechanism == "PLAIN" and not self._encrypted and not config.allow_plain_unencrypted:
                continue
            out.append(mechanism)
        return out

    def _tls_offered(self) -> bool:
        config = self._config
        return config.transport is ServerTransport.TCP and config.starttls and not self._encrypted

    def _features(self) -> str:
        parts: list[str] = []
        if self._username is None:
            if self._tls_offered():
                required = "<required/>" if self._config.require_tls else ""
                parts.append(f'<starttls xmlns="{NS_TLS}">{required}</starttls>')
            if self._encrypted or not self._config.require_tls or not self._tls_offered():
                mechanisms = "".join(
                    f"<mechanism>{m}</mechanism>" for m in self._offered_mechanisms()
                )
                parts.append(f'<mechanisms xmlns="{NS_SASL}">{mechanisms}</mechanisms>')
        else:
            parts.append(f'<bind xmlns="{NS_BIND}"/>')
            parts.append(f'<session xmlns="{NS_SESSION}"><optional/></session>')
            if self._config.stream_management:
                parts.append(f'<sm xmlns="{NS_SM}"/>')
        return f'<stream:features xmlns:stream="{NS_STREAM}">{"".join(parts)}</stream:features>'

    def _on_footer(self) -> None:
        if self._state is ServerState.CLOSING:
            self._out.append(self._framing.shutdown())
            self._finish(ClientClosed(clean=True))
            return
        # The client closed: a deliberate end of the session (XEP-0198: not resumable).
        self._resume_id = None
        if self._framing.ready:
            if self._state is ServerState.AWAITING_HEADER and self._headers == 0:
                self._out.append(
                    self._framing.open_reply(self._new_stream_id(), self._config.domain)
                )
            self._out.append(self._framing.close_stream())
            self._out.append(self._framing.shutdown())
        self._finish(ClientClosed(clean=True))

    # --- nonzas -------------------------------------------------------------------

    def _on_nonza(self, element: etree._Element, now: float) -> None:
        # A name the stream may not carry (a second stream header, a non-stanza of
        # jabber:client) gets the XML layer's condition, the same as in the client role.
        fault = top_level_fault(element.tag)
        if fault is not None:
            self._fail(fault.condition, fault.text)
            return
        ns, local = _split_tag(element.tag)
        state = self._state
        if ns == NS_SM and self._sm is not None and state is ServerState.READY:
            if local == "r":
                self._nonza(f'<a xmlns="{NS_SM}" h="{self._sm.inbound_h}"/>')
                return
            if local == "a":
                self._on_ack(element, now)
                return
        if ns == NS_SM and local == "enable":
            self._on_enable(element)
            return
        if ns == NS_SM and local == "resume":
            self._on_resume(element)
            return
        if ns == NS_SM and local in ("r", "a") and state is ServerState.READY:
            return  # before <enable/>: ignored (XEP-0198)
        if state is ServerState.NEGOTIATING and ns == NS_TLS and local == "starttls":
            self._on_starttls()
            return
        if ns == NS_SASL and local == "auth" and state is ServerState.NEGOTIATING:
            self._on_auth(element)
            return
        if ns == NS_SASL and local == "response" and state is ServerState.AUTHENTICATING:
            self._on_sasl_response(element)
            return
        if ns == NS_SASL and local == "abort" and state is ServerState.AUTHENTICATING:
            self._sasl_failed("aborted", "the client aborted")
            return
        if state is ServerState.READY and ns == "urn:xmpp:csi:0":
            return  # client state indication: accepted, nothing to do at this layer
        self._fail(
            StreamErrorCondition.UNSUPPORTED_STANZA_TYPE,
            f"unexpected <{local or '?'}/> in state {state.value}",
        )

    def _on_starttls(self) -> None:
        if not self._tls_offered() or self._username is not None:
            self._nonza(f'<failure xmlns="{NS_TLS}"/>')
            self._out.append(self._framing.close_stream())
            self._finish(ClientClosed(clean=False, text="STARTTLS not available"))
            return
        self._nonza(f'<proceed xmlns="{NS_TLS}"/>')
        self._state = server_transition(self._state, ServerInput.STARTTLS)
        self._events.append(TlsRequested())

    # --- SASL ----------------------------------------------------------------------

    def _on_auth(self, element: etree._Element) -> None:
        if self._username is not None:
            self._fail(StreamErrorCondition.UNSUPPORTED_STANZA_TYPE, "already authenticated")
            return
        if self._tls_offered() and self._config.require_tls:
            self._fail(StreamErrorCondition.POLICY_VIOLATION, "STARTTLS is required first")
            return
        mechanism = element.get("mechanism") or ""
        if mechanism not in self._offered_mechanisms():
            self._sasl = _Sasl(mechanism)
            self._sasl_failed("invalid-mechanism", f"mechanism {mechanism[:40]!r} not offered")
            return
        sasl = self._sasl = _Sasl(mechanism)
        data = _b64decode(element.text)
        if data is None:
            self._sasl_failed("incorrect-encoding", "initial response is not base64")
            return
        if mechanism == "PLAIN":
            self._plain(sasl, data)
        else:
            self._scram_first(sasl, data)

    def _plain(self, sasl: _Sasl, data: bytes) -> None:
        parts = data.split(b"\0")
        if len(parts) != 3:
            self._sasl_failed("malformed-request", "PLAIN needs authzid NUL authcid NUL passwd")
            return
        try:
            authzid, authcid, password = (p.decode() for p in parts)
        except UnicodeDecodeError:
            self._sasl_failed("malformed-request", "PLAIN message is not UTF-8")
            return
        sasl.username = authcid
        domain = self._config.domain
        if authzid not in ("", authcid, f"{authcid}@{domain}"):
            self._sasl_failed("invalid-authzid", "authorization identity differs")
            return
        auth = self._lookup(authcid)
        if auth is None or not check_plain_password(auth, password):
            self._sasl_failed("not-authorized", "wrong user or password")
            return
        self._sasl_success(sasl, b"")

    def _lookup(self, username: str) -> UserAuth | None:
        if not username or len(username) > 1023:
            return None
        return self._config.authenticate(username)

    def _scram_first(self, sasl: _Sasl, data: bytes) -> None:
        mechanism = sasl.mechanism
        hash_name = _SCRAM_HASHES[mechanism.removesuffix("-PLUS")]

        def auth_fn(username: str) -> tuple[bytes, bytes, bytes, int]:
            auth = self._lookup(username)
            sasl.username = username
            candidates = auth.scram_keys(hash_name) if auth is not None else []
            if auth is None or not candidates:
                raise ScramException("unknown user")
            sasl.candidates = candidates
            sasl.salt, sasl.iterations = auth.salt, auth.iterations
            stored_key, server_key = candidates[0]
            return auth.salt, stored_key, server_key, auth.iterations

        try:
            client_first = data.decode()
            nonce = self._config.entropy(18).hex()
            server = self._scram_server(auth_fn, nonce)
            server.set_client_first(client_first)  # type: ignore[attr-defined]
            challenge: str = server.get_server_first()  # type: ignore[attr-defined]
        except (ScramException, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            self._sasl_failed("not-authorized", f"SCRAM client-first refused: {exc}")
            return
        sasl.scram = server
        sasl.client_first = client_first
        sasl.nonce = nonce
        self._state = server_transition(self._state, ServerInput.SASL_STEP)
        self._nonza(
            f'<challenge xmlns="{NS_SASL}">{b64encode_sasl(challenge.encode())}</challenge>'
        )

    def _scram_server(
        self, auth_fn: Callable[[str], tuple[bytes, bytes, bytes, int]], nonce: str
    ) -> object:
        mechanism = self._sasl.mechanism if self._sasl is not None else ""
        return ScramMechanism(mechanism).make_server(
            auth_fn,
            channel_binding=self._channel_binding if mechanism.endswith("-PLUS") else None,
            s_nonce=nonce,
        )

    def _on_sasl_response(self, element: etree._Element) -> None:
        sasl = self._sasl
        if sasl is None or sasl.scram is None:
            self._fail(StreamErrorCondition.UNSUPPORTED_STANZA_TYPE, "unexpected SASL response")
            return
        data = _b64decode(element.text)
        if data is None:
            self._sasl_failed("incorrect-encoding", "response is not base64")
            return
        try:
            client_final = data.decode()
        except UnicodeDecodeError:
            self._sasl_failed("not-authorized", "SCRAM proof refused: not UTF-8")
            return
        # The proof is checked against every candidate secret (see UserAuth): each check
        # replays the exchange in a fresh scramp server with the same nonce, salt and
        # iteration count -- so the same server-first -- and that candidate's keys.
        final: str | None = None
        reason = "no candidate"
        for keys in sasl.candidates:

            def auth_fn(
                username: str, keys: tuple[bytes, bytes] = keys
            ) -> tuple[bytes, bytes, bytes, int]:
                return sasl.salt, keys[0], keys[1], sasl.iterations

            server = self._scram_server(auth_fn, sasl.nonce)
            try:
                server.set_client_first(sasl.client_first)  # type: ignore[attr-defined]
                server.get_server_first()  # type: ignore[attr-defined]
                server.set_client_final(client_final)  # type: ignore[attr-defined]
                answer: str = server.get_server_final()  # type: ignore[attr-defined]
            except (ScramException, ValueError, KeyError, TypeError) as exc:
                reason = str(exc)
                continue
            if final is None:
                final = answer
        if final is None:
            self._sasl_failed("not-authorized", f"SCRAM proof refused: {reason}")
            return
        self._sasl_success(sasl, final.encode())

    def _sasl_success(self, sasl: _Sasl, additional: bytes) -> None:
        assert sasl.username is not None
        self._username = sasl.username
        self._sasl = None
        data = b64encode_sasl(additional) if additional else ""
        self._nonza(f'<success xmlns="{NS_SASL}">{data}</success>')
        self._state = server_transition(self._state, ServerInput.SASL_DONE)
        self._framing.restart()
        self._events.append(ClientAuthenticated(username=sasl.username, mechanism=sasl.mechanism))

    def _sasl_failed(self, condition: str, reason: str) -> None:
        sasl = self._sasl
        self._sasl = None
        self._nonza(f'<failure xmlns="{NS_SASL}"><{condition}/></failure>')
        self._state = server_transition(self._state, ServerInput.SASL_FAILED)
        self._auth_failures += 1
        self._events.append(
            ClientAuthFailed(
                username=sasl.username if sasl else None,
                mechanism=sasl.mechanism if sasl else None,
                reason=reason,
            )
        )
        if self._auth_failures >= self._config.max_auth_attempts:
            self._fail(StreamErrorCondition.POLICY_VIOLATION, "too many failed logins")

    # --- stream management -------------------------------------------------------------

    def _on_enable(self, element: etree._Element) -> None:
        if self._state is not ServerState.READY or not self._config.stream_management:
            self._nonza(
                f'<failed xmlns="{NS_SM}"><unexpected-request xmlns="{NS_STANZAS}"/></failed>'
            )
            return
        if self._sm is not None:
            self._nonza(
                f'<failed xmlns="{NS_SM}"><unexpected-request xmlns="{NS_STANZAS}"/></failed>'
            )
            return
        self._sm = StreamManagement()
        wants = element.get("resume") in ("true", "1") and self._config.resume_seconds > 0
        if wants:
            self._resume_id = self._config.entropy(16).hex()
            self._nonza(
                f'<enabled xmlns="{NS_SM}" id="{self._resume_id}" resume="true" '
                f'max="{self._config.resume_seconds}"/>'
            )
        else:
            self._nonza(f'<enabled xmlns="{NS_SM}"/>')
        self._events.append(SmEnabled(resume_id=self._resume_id))

    def _on_ack(self, element: etree._Element, now: float) -> None:
        assert self._sm is not None
        h = element.get("h") or ""
        if not h.isdigit() or len(h) > 10 or int(h) >= MOD:
            self._fail(StreamErrorCondition.BAD_FORMAT, f"invalid h {h[:32]!r}")
            return
        try:
            settled = self._sm.ack(int(h))
        except AckError as exc:
            self._fail(
                StreamErrorCondition.UNDEFINED_CONDITION,
                str(exc),
                app_condition=(
                    f'<handled-count-too-high xmlns="{NS_SM}" h="{exc.h}" '
                    f'send-count="{self._sm.outbound_h}"/>'
                ),
            )
            return
        if settled:  # progress: the wait restarts for what is still outstanding
            self._timers.cancel(_ACK_TIMER)
            self._arm_ack(now)

    def _on_resume(self, element: etree._Element) -> None:
        if (
            self._state is not ServerState.NEGOTIATING
            or self._username is None
            or self._jid is not None
        ):
            self._nonza(
                f'<failed xmlns="{NS_SM}"><unexpected-request xmlns="{NS_STANZAS}"/></failed>'
            )
            return
        previd = element.get("previd") or ""
        h = element.get("h") or ""
        if not previd or not h.isdigit() or len(h) > 10 or int(h) >= MOD:
            self._fail(StreamErrorCondition.BAD_FORMAT, "<resume/> needs previd and a valid h")
            return
        self._state = server_transition(self._state, ServerInput.RESUME)
        request = ResumeRequested(username=self._username, previd=previd, h=int(h))
        self._pending_resume = request
        self._events.append(request)

    # --- stanzas -------------------------------------------------------------------

    def _on_stanza(self, kind: str, element: etree._Element, now: float) -> None:
        state = self._state
        if state is ServerState.NEGOTIATING and self._username is not None and kind == "iq":
            self._negotiation_iq(element, now)
            return
        if state is not ServerState.READY:
            if state is ServerState.CLOSING:
                return  # we are closing: what the client still sends is dropped
            self._fail(StreamErrorCondition.NOT_AUTHORIZED, f"<{kind}/> before binding")
            return
        if self._sm is not None:
            self._sm.handled()
        assert self._jid is not None
        element.set("from", self._jid)
        if kind == "iq" and (self._malformed_iq(element) or self._server_iq(element)):
            return
        self._events.append(StanzaReceived(kind=kind, element=element))

    def _malformed_iq(self, element: etree._Element) -> bool:
        """RFC 6120 8.2.3: an IQ of type get or set carries exactly one payload child;
        any other count is answered ``bad-request`` here (True), whoever it is for."""
        if element.get("type") not in ("get", "set"):
            return False
        if sum(1 for c in element if isinstance(c.tag, str)) == 1:
            return False
        iq_id = escape_attr(element.get("id") or "")
        frm = escape_attr(element.get("to") or self._config.domain)
        self._send_counted(
            f'<iq type="error" id="{iq_id}" from="{frm}" to="{escape_attr(self._jid or "")}">'
            f'<error type="modify"><bad-request xmlns="{NS_STANZAS}"/></error></iq>'
        )
        return True

    def _server_iq(self, element: etree._Element) -> bool:
        """Answer what the stream layer owns (ping to the server, the legacy session
        IQ); True when answered."""
        to = element.get("to")
        if to not in (None, self._config.domain) or element.get("type") not in ("get", "set"):
            return False
        child = next((c for c in element if isinstance(c.tag, str)), None)
        if child is None:
            return False
        if child.tag in (f"{{{NS_PING}}}ping", f"{{{NS_SESSION}}}session"):
            iq_id = escape_attr(element.get("id") or "")
            self._send_counted(
                f'<iq type="result" id="{iq_id}" from="{escape_attr(self._config.domain)}" '
                f'to="{escape_attr(self._jid or "")}"/>'
            )
            return True
        return False

    def _negotiation_iq(self, element: etree._Element, now: float) -> None:
        iq_id = element.get("id")
        child = next((c for c in element if isinstance(c.tag, str)), None)
        if (
            element.get("type") != "set"
            or iq_id is None
            or child is None
            or child.tag != f"{{{NS_BIND}}}bind"
        ):
            self._fail(StreamErrorCondition.NOT_AUTHORIZED, "only resource binding is allowed now")
            return
        assert self._username is not None
        wanted = ""
        for sub in child:
            if _split_tag(sub.tag)[1] == "resource":
                wanted = (sub.text or "").strip()
        resource = wanted if _resource_ok(wanted) else self._new_resource()
        jid = f"{self._username}@{self._config.domain}/{resource}"
        self._jid = jid
        self._state = server_transition(self._state, ServerInput.BOUND)
        self._timers.cancel(_NEGOTIATION_TIMER)
        self._nonza(
            f'<iq type="result" id="{escape_attr(iq_id)}"><bind xmlns="{NS_BIND}">'
            f"<jid>{escape_text(jid)}</jid></bind></iq>"
        )
        self._events.append(ClientBound(jid=jid))
        self._arm_idle()

    def _new_resource(self) -> str:
        raw = int.from_bytes(self._config.entropy(6), "big")
        return f"{raw % 10**10:010d}-cubeproto"


def _split_tag(tag: object) -> tuple[str | None, str]:
    """``(namespace, localname)`` of a Clark-notation tag, without lxml's validation
    (which raises on some names a peer can produce)."""
    if not isinstance(tag, str):
        return None, ""
    if tag.startswith("{"):
        ns, _, local = tag[1:].rpartition("}")
        return ns, local
    return None, tag


def _resource_ok(value: str) -> bool:
    return 0 < len(value) <= 64 and all(ch.isalnum() or ch in "-_." for ch in value)


def _b64decode(text: str | None) -> bytes | None:
    """SASL element text decoded (``=`` is empty), or ``None`` if it is not base64."""
    try:
        return b64decode_sasl(text)
    except SaslError:
        return None
