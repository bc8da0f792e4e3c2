"""The client connection: one XMPP stream as a sans-IO state machine.

Bytes, commands and the current time go in; bytes and typed events come out.  This module
owns negotiation (STARTTLS, SASL, bind), stream management (XEP-0198, with resumption and
application-controlled acks), IQ tracking, pings and keepalive, and hands every other
stanza to the :class:`~cubeproto.commands.StanzaHandler` (the chat layer).

Every state change goes through :func:`cubeproto._state.transition`; see that module for
the table.  Peer faults never raise: they end in one terminal
:class:`~cubeproto.events.ConnectionClosed` carrying a ``RemoteProtocolError``, after a
stream error sent to the peer -- unless the session is resumable, which a stream error
would destroy (see ``_fail``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from lxml import etree

from ._checkpoint import Checkpoint, CheckpointError
from ._framing import (
    TRANSPORT_CLOSED,
    TRANSPORT_READY,
    Framing,
    TcpFraming,
    TransportSignal,
    WebSocketFraming,
)
from ._ids import IdFactory
from ._sasl import SaslClient, SaslError, b64decode_sasl, b64encode_sasl, choose_mechanism
from ._sm import MOD, AckError, StreamManagement, Unacked
from ._stanza_error import error_reply, parse_stanza_error
from ._state import (
    RECEIVE_STANZA_STATES,
    SEND_STANZA_STATES,
    Input,
    StreamState,
    transition,
)
from ._stream import (
    NS_BIND,
    NS_CARBONS,
    NS_LIMITS,
    NS_PING,
    NS_SASL,
    NS_SM,
    NS_TLS,
    SM_REQUEST,
    STANZA_TAGS,
    StreamEndpoint,
)
from ._timers import Timers
from ._wire import parse_uint, split_tag
from ._xmlstream import (
    NS_STREAM,
    StreamFooter,
    StreamHeader,
    element_bytes,
    escape_attr,
    escape_text,
    top_level_fault,
)
from .commands import (
    UNSTATED,
    Command,
    Ping,
    ResultParser,
    SendIq,
    StanzaCommand,
    StanzaHandler,
)
from .config import ClientConfig, Transport
from .errors import (
    NS_STREAMS,
    LocalProtocolError,
    RemoteProtocolError,
    SaslCondition,
    StanzaErrorCondition,
    StanzaErrorType,
    StreamErrorCondition,
)
from .events import (
    Authenticated,
    AuthenticationFailed,
    Bound,
    CheckpointChanged,
    CloseReason,
    Connected,
    ConnectionClosed,
    ConnectionDead,
    Event,
    IqFailed,
    IqResultReceived,
    IqTimedOut,
    LostReason,
    MalformedStanza,
    MessageLost,
    MessageRejected,
    MessageSent,
    MessageUnconfirmed,
    PingReceived,
    PingTimedOut,
    PongReceived,
    ResumeFailed,
    StreamManagementEnabled,
    StreamOpened,
    StreamResumed,
    TlsUpgradeRequired,
    UnhandledStanza,
)

__all__ = ["ClientConnection", "ResumableSession"]

_FEATURES = f"{{{NS_STREAM}}}features"
_STREAM_ERROR = f"{{{NS_STREAM}}}error"
_TLS_PROCEED = f"{{{NS_TLS}}}proceed"
_TLS_FAILURE = f"{{{NS_TLS}}}failure"
_SASL_CHALLENGE = f"{{{NS_SASL}}}challenge"
_SASL_SUCCESS = f"{{{NS_SASL}}}success"
_SASL_FAILURE = f"{{{NS_SASL}}}failure"
_SM_R = f"{{{NS_SM}}}r"
_SM_A = f"{{{NS_SM}}}a"
_SM_ENABLED = f"{{{NS_SM}}}enabled"
_SM_FAILED = f"{{{NS_SM}}}failed"
_SM_RESUMED = f"{{{NS_SM}}}resumed"
_PING = f"{{{NS_PING}}}ping"
_BIND_JID = f"{{{NS_BIND}}}jid"

_STANZA_TAGS = STANZA_TAGS

_CLOSED = StreamState.CLOSED
_Element = etree._Element
#: States in which the peer may send stanzas, and we may send them: derived from the
#: table (cubeproto._state), READY first.
_STANZA_STATES = RECEIVE_STANZA_STATES
_SEND_STATES = SEND_STANZA_STATES

_STREAM_CONDITIONS = {c.value: c for c in StreamErrorCondition}
_SASL_CONDITIONS = {c.value: c for c in SaslCondition}

_R = SM_REQUEST

#: The one CheckpointChanged instance (it has no payload): ``next_event`` recognises it by
#: identity to know that none is waiting any more.
_CHECKPOINT_CHANGED = CheckpointChanged()

#: Stream errors a server sends about what we wrote: when the stream dies with one of
#: these right after a stanza, twice in a row, that stanza is poison (MessageRejected).
_POISON_CONDITIONS = frozenset(
    {
        StreamErrorCondition.POLICY_VIOLATION,
        StreamErrorCondition.NOT_WELL_FORMED,
        StreamErrorCondition.INVALID_XML,
        StreamErrorCondition.BAD_FORMAT,
        StreamErrorCondition.RESTRICTED_XML,
        StreamErrorCondition.INVALID_NAMESPACE,
        StreamErrorCondition.BAD_NAMESPACE_PREFIX,
        StreamErrorCondition.UNSUPPORTED_STANZA_TYPE,
        StreamErrorCondition.UNSUPPORTED_ENCODING,
        StreamErrorCondition.IMPROPER_ADDRESSING,
        StreamErrorCondition.INVALID_FROM,
    }
)

# Keys of the connection's timers.
_ACK_TIMER = ("ack",)
_KEEPALIVE_TIMER = ("keepalive",)
_DEAD_TIMER = ("dead",)
_CLOSE_TIMER = ("close",)
_IDLE_TIMER = ("idle",)


@dataclass(slots=True)
class _PendingIq:
    """An IQ request waiting for its answer."""

    kind: str  # "bind" | "carbons" | "ping" | "keepalive" | "user" | "stanza"
    to: str | None
    sent_at: float
    timeout: float | None
    parser: ResultParser | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResumableSession:
    """What a new connection needs to resume a dropped XEP-0198 session.

    Obtained from :meth:`ClientConnection.resume_state` after a ``ConnectionClosed`` with
    ``resumable=True``; passed as ``ClientConnection(config, resume=...)``.  It carries the
    stream-management counters, every unacknowledged stanza (resent after ``<resumed/>``),
    the outstanding IQs and the session's handler, so that delivery tracking and duplicate
    suppression continue across the cut.
    """

    resume_id: str
    jid: str
    location: str | None
    max_seconds: int | None
    inbound_h: int
    acked_h: int
    outbound_h: int
    unacked: tuple[Unacked, ...]
    lost_reported: frozenset[str]
    pending_iqs: tuple[tuple[str, str, str | None, float | None, ResultParser | None], ...]
    handler: StanzaHandler | None = field(default=None, compare=False)
    #: Consecutive stream deaths (with a stream error about our input) right after
    #: ``unacked[0]``, and the last such condition: two make it ``MessageRejected``.
    poison_strikes: int = 0
    poison_condition: StreamErrorCondition | None = None
    #: Made from a Checkpoint (a new process): the server may have received stanzas
    #: sent after that checkpoint was taken (see ``ClientConnection._catch_up``).
    made_from_checkpoint: bool = False

    @classmethod
    def from_checkpoint(
        cls, checkpoint: Checkpoint, handler: StanzaHandler | None
    ) -> ResumableSession:
        """The session a :class:`~cubeproto.Checkpoint` describes, for ``handler`` (made
        by the config's factory, its durable state already restored)."""
        condition = None
        if checkpoint.poison_condition is not None:
            condition = _STREAM_CONDITIONS.get(checkpoint.poison_condition)
        return cls(
            resume_id=checkpoint.resume_id,
            jid=checkpoint.jid,
            location=checkpoint.location,
            max_seconds=checkpoint.max_seconds,
            inbound_h=checkpoint.inbound_h,
            acked_h=checkpoint.acked_h,
            outbound_h=checkpoint.outbound_h,
            unacked=tuple(Unacked(xml, mid) for xml, mid in checkpoint.unacked),
            lost_reported=frozenset(),
            pending_iqs=(),
            handler=handler,
            poison_strikes=checkpoint.poison_strikes,
            poison_condition=condition,
            made_from_checkpoint=True,
        )


class ClientConnection(StreamEndpoint[StreamState]):
    """One client-side XMPP stream to a ConnectyCube (or any XMPP) server, sans-IO.

    The adapter's loop, after **every** call into this object: write ``data_to_send()`` to
    the transport, call ``next_event()`` until it returns ``None``, and (re-)arm one timer
    for ``get_timer()``.  When that timer fires, call ``handle_timer(now=...)``.  The
    object is not thread-safe; serialize calls.

    ``now`` is always a float of seconds on any monotonic clock the adapter chooses; it
    must not go backwards.  The connection never reads a clock itself.
    """

    __slots__ = (
        "_authenticated",
        "_bridge",
        "_channel_binding",
        "_ckpt_key",
        "_ckpt_on",
        "_ckpt_queued",
        "_config",
        "_confirmed_seq",
        "_current_seq",
        "_encrypted",
        "_events",
        "_features",
        "_handler",
        "_header_seen",
        "_ids",
        "_jid",
        "_keepalive_sent_at",
        "_lost_reported",
        "_max_out",
        "_max_out_chars",
        "_muc_host",
        "_on_confirm",
        "_parser_released",
        "_pending",
        "_poison_condition",
        "_poison_strikes",
        "_resend",
        "_resume",
        "_resume_id",
        "_resume_location",
        "_resume_max",
        "_rx_seq",
        "_sasl",
        "_sm",
        "_sm_active",
        "_stream_id",
        "_terminated",
        "_timers",
        "_unrequested",
    )

    def __init__(
        self, config: ClientConfig, *, resume: ResumableSession | Checkpoint | None = None
    ) -> None:
        """Create an idle connection.  Pure: nothing is sent until :meth:`start`.

        With ``resume``, the connection authenticates and then sends ``<resume/>`` instead
        of binding a new resource (XEP-0198 section 5).  ``resume`` is a
        :class:`ResumableSession` (same process) or a :class:`~cubeproto.Checkpoint` (any
        process: its handler state is restored into a handler made by
        ``config.handler_factory``; a checkpoint with handler state and no handler that
        can take it raises :class:`~cubeproto.CheckpointError`).
        """
        if isinstance(resume, Checkpoint):
            resume = ResumableSession.from_checkpoint(resume, _restored_handler(config, resume))
        self._config = config
        self._muc_host = "muc." + config.chat_host  # read for every group message built
        self._state = StreamState.IDLE
        self._ids = IdFactory(entropy=config.entropy, wall_clock=config.wall_clock)
        self._framing: Framing = self._make_framing(config)
        self._out: list[bytes] = []
        self._events: deque[tuple[Event, int]] = deque()
        self._timers = Timers()
        self._encrypted = config.encrypted_from_start
        self._channel_binding: tuple[str, bytes] | None = None
        self._authenticated = False
        self._sasl: SaslClient | None = None
        self._features: frozenset[str] = frozenset()
        self._jid = config.bare_jid
        self._stream_id: str | None = None
        #: A stream header arrived on the current stream (reset by each restart).
        self._header_seen = False
        self._pending: dict[str, _PendingIq] = {}
        self._eof = False
        #: The terminal ConnectionClosed was emitted.
        self._terminated = False
        #: The framing freed its parser while idle; the next input re-arms the idle timer.
        self._parser_released = False
        self._last_rx = 0.0
        self._keepalive_sent_at: float | None = None
        # Stream management.
        self._sm: StreamManagement | None = None
        self._sm_active = False
        self._resume_id: str | None = None
        self._resume_location: str | None = None
        self._resume_max: int | None = None
        self._lost_reported: set[str] = set()
        self._unrequested = 0
        # Application-controlled acks: inbound stanza sequence numbers.
        self._rx_seq = 0
        self._confirmed_seq = 0
        self._current_seq = 0
        self._resume = resume
        #: The last checkpoint key announced with CheckpointChanged, and whether that
        #: event is still waiting in the queue (coalescing).
        self._ckpt_key: tuple[int, int, int, bool, int] | None = None
        self._ckpt_queued = False
        self._ckpt_on = config.checkpoint_events
        self._max_out = config.max_outbound_stanza_bytes
        #: Stanzas of at most this many characters are under the limit whatever their
        #: encoding (UTF-8 needs at most 4 bytes per character): send()'s one compare.
        self._max_out_chars = _safe_chars(self._max_out)
        self._poison_strikes = resume.poison_strikes if resume is not None else 0
        self._poison_condition = resume.poison_condition if resume is not None else None
        #: Messages to send again on the fresh session (resend_unconfirmed).
        self._resend: list[Unacked] = []
        #: Between a refused resumption and the fresh session's <enabled/>: the old
        #: session's (resume id, location, max, inbound h), for checkpoint() -- see there.
        self._bridge: tuple[str, str | None, int | None, int] | None = None
        self._handler: StanzaHandler | None
        if resume is not None:
            self._jid = resume.jid
            self._handler = resume.handler
            self._sm = StreamManagement.restore(
                inbound_h=resume.inbound_h,
                acked_h=resume.acked_h,
                outbound_h=resume.outbound_h,
                unacked=resume.unacked,
            )
            self._lost_reported = set(resume.lost_reported)
            for iq_id, kind, to, timeout, parser in resume.pending_iqs:
                self._pending[iq_id] = _PendingIq(kind, to, 0.0, timeout, parser)
        else:
            self._handler = config.handler_factory() if config.handler_factory else None
        #: With app-controlled acks, the handler's hook told how far the application
        #: confirmed (the chat layer's duplicate suppression waits for it).
        self._on_confirm: Callable[[int], None] | None = None
        if config.app_controlled_acks and self._handler is not None:
            defer = getattr(self._handler, "defer_dedup_until_confirmed", None)
            if defer is not None:
                self._on_confirm = defer(self)

    @staticmethod
    def _make_framing(config: ClientConfig) -> Framing:
        if config.is_websocket:
            return WebSocketFraming(
                config.xml_limits,
                host=config.websocket_host or config.chat_host,
                path=config.websocket_path,
            )
        return TcpFraming(config.xml_limits)

    # ------------------------------------------------------------------ public state

    @property
    def state(self) -> StreamState:
        """The current :class:`~cubeproto._state.StreamState`."""
        return self._state

    @property
    def jid(self) -> str:
        """Our full JID once bound (the bare JID before)."""
        return self._jid

    @property
    def user_id(self) -> int:
        return self._config.user_id

    @property
    def app_id(self) -> int:
        return self._config.app_id

    @property
    def chat_host(self) -> str:
        return self._config.chat_host

    @property
    def muc_host(self) -> str:
        return self._muc_host

    @property
    def features(self) -> frozenset[str]:
        return self._features

    @property
    def handler(self) -> StanzaHandler | None:
        """The session's stanza handler (the chat layer), if any."""
        return self._handler

    @property
    def inbound_seq(self) -> int:
        """With ``app_controlled_acks``: the sequence number (on this connection, from 1)
        of the inbound stanza being handled right now, else 0.  A handler that defers
        work until confirmation (see :meth:`confirm_handled`) keys it by this."""
        return self._current_seq

    def new_message_id(self) -> str:
        return self._ids.message_id()

    def new_iq_id(self, purpose: str) -> str:
        return self._ids.iq_id(purpose)

    # ------------------------------------------------------------------ entry points

    def start(self, *, now: float, channel_binding: tuple[str, bytes] | None = None) -> None:
        """Begin: send the WebSocket upgrade or the stream header.

        For direct TLS and ``wss://`` the adapter has finished the TLS handshake before
        calling this; it may pass ``channel_binding=(type, data)`` (e.g.
        ``("tls-server-end-point", digest)``) to enable SCRAM ``-PLUS``.
        Raises ``LocalProtocolError`` unless the connection is idle.  Output follows.
        """
        if self._config.is_websocket:
            self._state = transition(self._state, Input.SEND_START_WEBSOCKET)
            self._out.append(self._framing.start())
        else:
            self._state = transition(self._state, Input.SEND_START)
            self._open_stream()
        self._channel_binding = channel_binding
        self._last_rx = now

    def tls_established(
        self, *, now: float, channel_binding: tuple[str, bytes] | None = None
    ) -> None:
        """The adapter finished the TLS handshake asked for by ``TlsUpgradeRequired``.

        The stream restarts (a fresh parser, a new header).  ``channel_binding`` as in
        :meth:`start`.  Raises ``LocalProtocolError`` unless a TLS upgrade is pending.
        """
        self._state = transition(self._state, Input.SEND_TLS_ESTABLISHED)
        self._encrypted = True
        self._channel_binding = channel_binding
        self._last_rx = now
        self._open_stream()

    def receive_data(self, data: bytes, *, now: float) -> None:
        """Feed bytes received from the transport.

        Never raises because of what the peer sent: faults become events (a stanza-level
        ``MalformedStanza``, or a stream error and ``ConnectionClosed``).  Raises
        ``LocalProtocolError`` only if called after :meth:`receive_eof`.  Data arriving
        after the connection closed is ignored.  Output and events may follow.
        """
        items = self._admit(data, now)
        if items is None:
            return
        if self._parser_released:
            self._parser_released = False
            self._arm_idle(now)
        # Stanzas, the bulk of the traffic, go straight to _on_stanza; the rest (nonzas,
        # stream header and footer, transport signals) through _handle_item.
        stanza_kind = _STANZA_TAGS.get
        for item in items:
            if type(item) is _Element:
                kind = stanza_kind(item.tag)
                if kind is not None:
                    self._on_stanza(kind, item, now)
                else:
                    self._handle_item(item, now)
            else:
                self._handle_item(item, now)
            if self._state is _CLOSED:
                break
        if self._ckpt_on:
            self._note_checkpoint()

    def receive_eof(self, *, now: float) -> None:
        """The transport reached end of file (the peer closed its side).  Idempotent.

        Ends the connection with ``ConnectionClosed`` unless it already ended.
        """
        if self._eof:
            return
        self._eof = True
        if self._state is StreamState.CLOSED:
            return
        if self._state is StreamState.CLOSING:
            self._finish(ConnectionClosed(reason=CloseReason.LOCAL), resumable=False)
            return
        self._finish(
            ConnectionClosed(reason=CloseReason.REMOTE, resumable=self._resumable()),
            resumable=self._resumable(),
        )
        if self._ckpt_on:
            self._note_checkpoint()

    def send(self, command: Command, *, now: float) -> str | None:
        """Execute a command; return the id of the stanza it sent (``None`` for nonzas).

        Validates first: a command that cannot be sent now (not connected, a full IQ
        table, a value that cannot go on the wire) raises ``LocalProtocolError`` and
        leaves the connection exactly as it was.  Output and events may follow.
        """
        if self._state not in _SEND_STATES:
            raise LocalProtocolError(
                f"cannot send {type(command).__name__} in state {self._state.value}: "
                "wait for the Connected event"
            )
        if isinstance(command, StanzaCommand):
            stanza = command.build(self)
            if len(stanza.xml) > self._max_out_chars:
                self._check_size(stanza.xml)
            is_iq_request = stanza.result_parser is not None
            if is_iq_request:
                if not stanza.stanza_id:
                    raise LocalProtocolError("an IQ request needs an id")
                self._check_iq_capacity()
            if is_iq_request and stanza.stanza_id:
                to = stanza.to
                if to is UNSTATED:
                    to = _stanza_to(stanza.xml)
                self._track_iq(
                    stanza.stanza_id,
                    _PendingIq("stanza", to, now, stanza.timeout, stanza.result_parser),
                    now,
                )
            self._send_stanza(stanza.xml, stanza.stanza_id, countable=stanza.countable, now=now)
            if self._handler is not None:
                self._emit_all(self._handler.stanza_sent(command, stanza))
            if self._ckpt_on:
                self._note_checkpoint()
            return stanza.stanza_id
        if isinstance(command, Ping):
            self._check_iq_capacity()
            iq_id = self._ids.iq_id("ping")
            to = command.to or self._config.chat_host
            xml = _ping_xml(iq_id, to)
            self._track_iq(iq_id, _PendingIq("ping", to, now, command.timeout), now)
            self._send_stanza(xml, iq_id, countable=False, now=now)
            if self._ckpt_on:
                self._note_checkpoint()
            return iq_id
        if isinstance(command, SendIq):
            self._check_payload(command.payload)
            self._check_iq_capacity()
            iq_id = self._ids.iq_id(command.purpose)
            to_attr = f' to="{escape_attr(command.to)}"' if command.to else ""
            xml = f'<iq type="{command.type}" id="{iq_id}"{to_attr}>{command.payload}</iq>'
            self._check_size(xml)
            self._track_iq(iq_id, _PendingIq("user", command.to, now, command.timeout), now)
            self._send_stanza(xml, iq_id, countable=False, now=now)
            if self._ckpt_on:
                self._note_checkpoint()
            return iq_id
        raise LocalProtocolError(f"unknown command {command!r}")

    def confirm_handled(self, *, now: float) -> None:
        """With ``app_controlled_acks``: every event taken from :meth:`next_event` so far
        has been handled durably, so the stanzas they came from may be acknowledged.

        Stanzas whose events are still queued stay unacknowledged, so a crash before
        handling them means the server redelivers them after resumption.  Raises
        ``LocalProtocolError`` if app-controlled acks are not configured.
        """
        if not self._config.app_controlled_acks:
            raise LocalProtocolError("confirm_handled() needs app_controlled_acks=True")
        upto = self._rx_seq
        for _, seq in self._events:
            if seq:
                upto = seq - 1
                break
        if upto > self._confirmed_seq:
            if self._sm is not None:
                self._sm.handled(upto - self._confirmed_seq)
            self._confirmed_seq = upto
            if self._on_confirm is not None:
                self._on_confirm(upto)
        if self._ckpt_on:
            self._note_checkpoint()

    def close(self, *, now: float) -> None:
        """Close the stream: send our stream close and wait (``close_timeout``) for the
        server's.  Ends in ``ConnectionClosed(reason=LOCAL)``.  A deliberate close ends
        the stream-management session: unacknowledged messages are reported
        ``MessageUnconfirmed`` (the server may or may not have received them).
        Raises ``LocalProtocolError`` if the connection was never started or already
        closing/closed.  Output follows.
        """
        state = self._state
        self._state = transition(state, Input.SEND_CLOSE)
        if not self._framing.ready or state is StreamState.TLS_PENDING:
            self._finish(ConnectionClosed(reason=CloseReason.LOCAL), resumable=False)
            if self._ckpt_on:
                self._note_checkpoint()
            return
        if self._sm_active and self._sm is not None and self._sm.unacked:
            self._out.append(self._framing.frame(_R))
        self._out.append(self._framing.close_stream())
        self._timers.set(_CLOSE_TIMER, now + self._config.close_timeout)

    def abandon(self, *, now: float) -> None:
        """Give up on resuming this closed session: report every unacknowledged message
        as ``MessageUnconfirmed`` (nobody can know whether it arrived) and every
        outstanding IQ as timed out.  ``checkpoint()`` is ``None`` afterwards.
        Idempotent; raises ``LocalProtocolError`` if the connection has not closed yet."""
        if self._state is not StreamState.CLOSED:
            raise LocalProtocolError("abandon() is for a closed connection")
        self._settle_everything()
        self._resume = None
        self._note_checkpoint(final=True)

    def checkpoint(self) -> Checkpoint | None:
        """A snapshot of the session for a new process to resume it from
        (``ClientConnection(config, resume=checkpoint)``), or ``None`` when there is no
        resumable session: before ``<enabled resume="true"/>``, without stream
        management, after a close that cannot be resumed or :meth:`abandon`.

        Available at any moment while the session is resumable (connected, resuming, or
        closed with ``resumable=True``), and also between a refused resumption and the
        fresh session's ``<enabled/>``: then it names the dead session, so that a new
        process started from it is refused too but keeps the handler's state (its
        duplicate suppression) for the fresh session it binds.  Built on demand: it
        costs nothing until asked for.  Persist it whenever a
        :class:`~cubeproto.events.CheckpointChanged` is taken; with
        ``app_controlled_acks`` its inbound count is the confirmed one, so a process
        killed before confirming gets the unconfirmed stanzas again.
        """
        sm = self._sm
        resume = self._resume
        if sm is None:
            return self._bridge_checkpoint()
        if resume is not None:
            resume_id, location, max_seconds = resume.resume_id, resume.location, resume.max_seconds
        elif self._resume_id is not None and self._sm_active:
            resume_id = self._resume_id
            location, max_seconds = self._resume_location, self._resume_max
        else:
            return self._bridge_checkpoint()
        handler_state = None
        state_of = getattr(self._handler, "checkpoint_state", None)
        if state_of is not None:
            handler_state = state_of()
        condition = self._poison_condition
        return Checkpoint(
            resume_id=resume_id,
            jid=self._jid,
            location=location,
            max_seconds=max_seconds,
            inbound_h=sm.inbound_h,
            acked_h=sm.acked_h,
            outbound_h=sm.outbound_h,
            unacked=tuple((item.xml, item.message_id) for item in sm.unacked),
            poison_strikes=self._poison_strikes,
            poison_condition=condition.value if condition is not None else None,
            handler=handler_state,
        )

    def resume_state(self) -> ResumableSession | None:
        """The session to resume on a new connection, when the last ``ConnectionClosed``
        said ``resumable=True``; otherwise ``None``."""
        if self._state is StreamState.CLOSED and self._resume is not None:
            # Closed before the server answered our <resume/>: the old session is intact.
            return self._resume
        if (
            self._state is not StreamState.CLOSED
            or self._resume_id is None
            or self._sm is None
            or not self._sm_active
        ):
            return None
        sm = self._sm
        return ResumableSession(
            resume_id=self._resume_id,
            jid=self._jid,
            location=self._resume_location,
            max_seconds=self._resume_max,
            inbound_h=sm.inbound_h,
            acked_h=sm.acked_h,
            outbound_h=sm.outbound_h,
            unacked=tuple(sm.unacked),
            lost_reported=frozenset(self._lost_reported),
            pending_iqs=tuple(
                (iq_id, p.kind, p.to, p.timeout, p.parser)
                for iq_id, p in self._pending.items()
                if p.kind in ("user", "stanza", "ping")
            ),
            handler=self._handler,
            poison_strikes=self._poison_strikes,
            poison_condition=self._poison_condition,
        )

    def data_to_send(self) -> bytes:
        """Everything that must be written to the transport now (may be ``b""``).

        Output can appear after any call, because the connection answers ``<r/>``,
        pings and stream restarts by itself.  When countable messages were sent since
        the last ack request, an ``<r/>`` is appended here, so one request covers a
        whole burst of sends.
        """
        if self._unrequested and self._sm_active and self._state is StreamState.READY:
            self._request_ack()
        if not self._out:
            return b""
        out = b"".join(self._out)
        self._out.clear()
        return out

    def next_event(self) -> Event | None:
        """The next event, or ``None`` when there is none right now."""
        if self._events:
            event = self._events.popleft()[0]
            if event is _CHECKPOINT_CHANGED:
                self._ckpt_queued = False
            return event
        return None

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must be called next (same clock as ``now``), or
        ``None`` if nothing is scheduled."""
        return self._timers.next_deadline()

    def handle_timer(self, *, now: float) -> None:
        """Fire every deadline that is due at ``now`` (ack, IQ and ping timeouts,
        keepalive, close wait).  Calling it early does nothing.  Output and events may
        follow."""
        for key in self._timers.pop_due(now):
            if self._state is StreamState.CLOSED:
                break
            assert isinstance(key, tuple)
            if key[0] == "iq":
                self._iq_timed_out(str(key[1]))
            elif key == _ACK_TIMER:
                self._ack_timed_out(now)
            elif key == _KEEPALIVE_TIMER:
                self._keepalive(now)
            elif key == _DEAD_TIMER:
                self._dead_check(now)
            elif key == _IDLE_TIMER:
                self._idle(now)
            elif key == _CLOSE_TIMER:
                self._state = transition(self._state, Input.TIMER_CLOSE)
                self._finish(
                    ConnectionClosed(reason=CloseReason.LOCAL, clean=False), resumable=False
                )
        if self._ckpt_on:
            self._note_checkpoint()

    def _bridge_checkpoint(self) -> Checkpoint | None:
        """Between a refused resumption and the fresh session's ``<enabled/>`` there is
        no session to resume, but a process killed in that window must not restart with
        an empty duplicate-suppression memory (a message it confirmed whose ack never
        reached the server may come back from offline storage).  So the checkpoint
        still names the old (dead) session: a new process's ``<resume/>`` is refused and
        it binds a fresh session with the handler state restored.  It holds no
        unacknowledged stanzas (their outcomes were reported), except those that
        ``resend_unconfirmed`` will send on the fresh session."""
        bridge = self._bridge
        if bridge is None or self._state is _CLOSED:
            return None
        resume_id, location, max_seconds, inbound_h = bridge
        state_of = getattr(self._handler, "checkpoint_state", None)
        return Checkpoint(
            resume_id=resume_id,
            jid=self._jid,
            location=location,
            max_seconds=max_seconds,
            inbound_h=inbound_h,
            acked_h=0,
            outbound_h=len(self._resend),
            unacked=tuple((item.xml, item.message_id) for item in self._resend),
            handler=state_of() if state_of is not None else None,
        )

    def _note_checkpoint(self, *, final: bool = False) -> None:
        """Queue one CheckpointChanged if what :meth:`checkpoint` returns has changed
        since the last one was queued and none is waiting.  Called once per entry point
        (not per stanza); compares a few counters, never builds the checkpoint.  Once
        the connection has ended only ``final`` calls (just before the terminal event,
        and :meth:`abandon`) may queue one: nothing follows ``ConnectionClosed``."""
        if not self._ckpt_on or (self._terminated and not final):
            return
        sm = self._sm
        if sm is None or (
            self._resume is None and (self._resume_id is None or not self._sm_active)
        ):
            bridging = self._bridge is not None and self._state is not _CLOSED
            key = (-1, len(self._resend), 0, False, 0) if bridging else None
        else:
            key = (
                sm.inbound_h,
                sm.outbound_h,
                sm.acked_h,
                self._state is _CLOSED,
                self._poison_strikes,
            )
        if key != self._ckpt_key:
            self._ckpt_key = key
            if not self._ckpt_queued:
                self._ckpt_queued = True
                self._events.append((_CHECKPOINT_CHANGED, 0))

    # ------------------------------------------------------------------ output helpers

    def _after_stream_fault(self) -> None:
        if self._ckpt_on:
            self._note_checkpoint()

    def _emit(self, event: Event) -> None:
        self._events.append((event, self._current_seq))

    def _emit_all(self, events: Any) -> None:
        seq = self._current_seq
        for event in events:
            self._events.append((event, seq))

    def _open_stream(self) -> None:
        self._header_seen = False
        from_ = self._config.bare_jid if self._encrypted else None
        self._out.append(self._framing.open_stream(self._config.chat_host, from_))

    def _send_nonza(self, xml: str) -> None:
        self._out.append(self._framing.frame(xml))

    def _send_stanza(self, xml: str, stanza_id: str | None, *, countable: bool, now: float) -> None:
        self._out.append(self._framing.frame(xml))
        if not xml.startswith(("<message", "<presence", "<iq")):
            return  # a nonza (e.g. CSI): not counted by stream management
        sm = self._sm
        if sm is not None and (self._sm_active or self._state is StreamState.SESSION_SETUP):
            sm.sent(xml, stanza_id if countable else None)
            if countable:
                self._unrequested += 1
                if self._unrequested >= self._config.ack_request_batch:
                    self._request_ack()
                if not self._timers.is_set(_ACK_TIMER):
                    self._timers.set(_ACK_TIMER, now + self._config.ack_timeout)

    def _request_ack(self) -> None:
        self._unrequested = 0
        self._out.append(self._framing.frame(_R))

    def _check_size(self, xml: str) -> None:
        """Refuse a stanza the server would end the stream over (max_outbound_stanza_bytes
        or the server's advertised limit).  Counting UTF-8 bytes is needed only when the
        characters alone could exceed a quarter of the limit."""
        limit = self._max_out
        if limit is None or len(xml) * 4 <= limit:
            return
        size = len(xml) if len(xml) > limit else len(xml.encode("utf-8", "surrogatepass"))
        if size > limit:
            raise LocalProtocolError(
                f"the stanza is {size} bytes, more than the {limit} the server accepts "
                "(max_outbound_stanza_bytes / the server's advertised limit); nothing was sent"
            )

    def _check_payload(self, payload: str) -> None:
        try:
            element = etree.fromstring(payload, parser=_SAFE_PARSER)
        except (etree.XMLSyntaxError, ValueError) as exc:
            raise LocalProtocolError(f"IQ payload is not one well-formed element: {exc}") from None
        if element is None:
            raise LocalProtocolError("IQ payload is empty")

    def _check_iq_capacity(self) -> None:
        if len(self._pending) >= self._config.max_pending_iqs:
            raise LocalProtocolError(
                f"{len(self._pending)} IQs are outstanding (max_pending_iqs); "
                "wait for answers before sending more"
            )

    def _track_iq(self, iq_id: str, pending: _PendingIq, now: float) -> None:
        self._pending[iq_id] = pending
        if pending.timeout is not None:
            self._timers.set(("iq", iq_id), now + pending.timeout)

    # ------------------------------------------------------------------ inbound dispatch

    def _handle_item(
        self, item: StreamHeader | StreamFooter | etree._Element | TransportSignal, now: float
    ) -> None:
        if isinstance(item, etree._Element):
            tag = item.tag
            kind = _STANZA_TAGS.get(tag)  # not a str for a comment/PI: hashable, not found
            if kind is not None:
                self._on_stanza(kind, item, now)
                return
            handler = self._NONZA_HANDLERS.get(tag) if isinstance(tag, str) else None
            if handler is None:
                # Not a stanza and no handler: a name the stream may not carry (a second
                # stream header, a non-stanza of jabber:client: see top_level_fault) ends
                # the stream; a nonza of another namespace is the application's.
                fault = top_level_fault(tag)
                if fault is not None:
                    self._fail(fault.condition, fault.text)
                    return
                self._on_unknown_nonza(item)
            else:
                handler(self, item, now)
            return
        if isinstance(item, StreamHeader):
            self._on_header(item)
        elif isinstance(item, StreamFooter):
            self._on_footer()
        elif item is TRANSPORT_READY:
            self._state = transition(self._state, Input.RECV_TRANSPORT_READY)
            self._open_stream()
        elif item is TRANSPORT_CLOSED:
            self._on_footer()

    def _on_header(self, header: StreamHeader) -> None:
        if self._state is not StreamState.OPENING or self._header_seen:
            self._fail(StreamErrorCondition.BAD_FORMAT, "unexpected stream header")
            return
        self._header_seen = True
        attrs = header.attributes
        version = attrs.get("version", "")
        if not version.startswith("1."):
            self._fail(
                StreamErrorCondition.UNSUPPORTED_VERSION,
                f"stream version {version!r}, need 1.x",
            )
            return
        self._stream_id = attrs.get("id")
        self._emit(StreamOpened(stream_id=self._stream_id, server=attrs.get("from")))

    def _on_footer(self) -> None:
        if self._state is StreamState.CLOSING:
            self._state = transition(self._state, Input.RECV_STREAM_END)
            self._out.append(self._framing.shutdown())
            self._finish(
                ConnectionClosed(reason=CloseReason.LOCAL, clean=True),
                resumable=False,
                transition_done=True,
            )
            return
        # The peer closed: close our side too.
        if self._framing.ready:
            self._out.append(self._framing.close_stream())
            self._out.append(self._framing.shutdown())
        resumable = self._resumable()
        self._finish(
            ConnectionClosed(reason=CloseReason.REMOTE, clean=True, resumable=resumable),
            resumable=resumable,
        )

    def _on_unknown_nonza(self, element: etree._Element) -> None:
        if self._state in (StreamState.READY, StreamState.SESSION_SETUP, StreamState.CLOSING):
            self._emit(UnhandledStanza.of_element(element))
            return
        self._fail(
            StreamErrorCondition.UNSUPPORTED_STANZA_TYPE,
            f"unexpected <{split_tag(element.tag)[1]}/> during negotiation",
        )

    # --- negotiation ------------------------------------------------------------

    def _on_features(self, element: etree._Element, now: float) -> None:
        if self._state is not StreamState.OPENING or not self._header_seen:
            self._fail(StreamErrorCondition.BAD_FORMAT, "unexpected <stream:features/>")
            return
        namespaces = set()
        starttls = False
        mechanisms: list[str] = []
        for child in element:
            if not isinstance(child.tag, str):
                continue
            namespace, local = split_tag(child.tag)
            if namespace:
                namespaces.add(namespace)
            if namespace == NS_TLS and local == "starttls":
                starttls = True
            elif namespace == NS_LIMITS and local == "limits":
                self._advertised_limit(child)
            elif namespace == NS_SASL and local == "mechanisms":
                mechanisms = [
                    (m.text or "").strip()
                    for m in child
                    if isinstance(m.tag, str) and split_tag(m.tag)[1] == "mechanism"
                ]
        config = self._config
        if not self._authenticated:
            if not self._encrypted and starttls and config.transport is Transport.TCP:
                self._state = transition(self._state, Input.RECV_FEATURES_STARTTLS)
                self._send_nonza(f'<starttls xmlns="{NS_TLS}"/>')
                return
            if not self._encrypted and config.require_tls:
                self._give_up("the server does not offer TLS and require_tls is set")
                return
            if not mechanisms:
                self._give_up("the server offers no SASL mechanism")
                return
            try:
                mechanism = choose_mechanism(
                    mechanisms,
                    preference=config.mechanisms,
                    encrypted=self._encrypted,
                    channel_binding=self._channel_binding is not None,
                    allow_plain_unencrypted=config.allow_plain_unencrypted,
                )
                self._sasl = SaslClient(
                    mechanism,
                    username=config.username,
                    password=config.password,
                    nonce=self._ids.uuid4().replace("-", ""),
                    channel_binding=self._channel_binding,
                )
                initial = self._sasl.initial_response()
            except SaslError as exc:
                self._auth_failed(None, "", str(exc), send_close=True)
                return
            self._state = transition(self._state, Input.RECV_FEATURES_AUTH)
            self._send_nonza(
                f'<auth xmlns="{NS_SASL}" mechanism="{mechanism}">{b64encode_sasl(initial)}</auth>'
            )
            return
        self._features = frozenset(namespaces)
        if self._resume is not None and NS_SM in namespaces:
            self._state = transition(self._state, Input.RECV_FEATURES_RESUME)
            h = self._sm.inbound_h if self._sm is not None else 0
            self._send_nonza(
                f'<resume xmlns="{NS_SM}" h="{h}" previd="{escape_attr(self._resume.resume_id)}"/>'
            )
            return
        if NS_BIND not in namespaces:
            self._give_up("the server offers no resource binding after authentication")
            return
        if self._resume is not None:
            # Resumption impossible (no SM offered now): a fresh session, messages lost.
            self._resume_failed(None, now, h_known=False)
            return
        self._state = transition(self._state, Input.RECV_FEATURES_BIND)
        self._send_bind(now)

    def _advertised_limit(self, limits: etree._Element) -> None:
        """XEP-0478: the server's ``<max-bytes/>`` bounds what we may send."""
        node = limits.find(f"{{{NS_LIMITS}}}max-bytes")
        value = parse_uint(node.text.strip()) if node is not None and node.text else None
        if value is None or value < 64:
            return
        if self._max_out is None or value < self._max_out:
            self._max_out = value
            self._max_out_chars = _safe_chars(value)

    def _send_bind(self, now: float) -> None:
        iq_id = self._ids.short_id()
        resource = self._config.resource
        inner = f"<resource>{escape_text(resource)}</resource>" if resource else ""
        self._track_iq(iq_id, _PendingIq("bind", None, now, self._config.iq_timeout), now)
        self._send_nonza(f'<iq type="set" id="{iq_id}"><bind xmlns="{NS_BIND}">{inner}</bind></iq>')

    def _on_tls_proceed(self, element: etree._Element, now: float) -> None:
        if self._state is not StreamState.STARTTLS_SENT:
            self._fail(StreamErrorCondition.UNSUPPORTED_STANZA_TYPE, "unexpected <proceed/>")
            return
        self._state = transition(self._state, Input.RECV_PROCEED)
        self._emit(TlsUpgradeRequired())

    def _on_tls_failure(self, element: etree._Element, now: float) -> None:
        # RFC 6120 5.4.2.2: the server closes the stream after <failure/>.
        self._give_up("the server refused STARTTLS")

    def _on_sasl_challenge(self, element: etree._Element, now: float) -> None:
        if self._state is not StreamState.AUTHENTICATING or self._sasl is None:
            self._fail(StreamErrorCondition.UNSUPPORTED_STANZA_TYPE, "unexpected SASL challenge")
            return
        try:
            response = self._sasl.challenge(b64decode_sasl(element.text))
        except SaslError as exc:
            self._send_nonza(f'<abort xmlns="{NS_SASL}"/>')
            self._auth_failed(None, "", str(exc), send_close=True)
            return
        self._send_nonza(f'<response xmlns="{NS_SASL}">{b64encode_sasl(response)}</response>')

    def _on_sasl_success(self, element: etree._Element, now: float) -> None:
        if self._state is not StreamState.AUTHENTICATING or self._sasl is None:
            self._fail(StreamErrorCondition.UNSUPPORTED_STANZA_TYPE, "unexpected SASL success")
            return
        try:
            self._sasl.success(b64decode_sasl(element.text))
        except SaslError as exc:
            # The server could not prove it knows the password: never continue.
            self._auth_failed(None, "", str(exc), send_close=True)
            return
        self._state = transition(self._state, Input.RECV_SASL_SUCCESS)
        self._authenticated = True
        self._emit(Authenticated(mechanism=self._sasl.mechanism))
        self._sasl = None
        self._open_stream()

    def _on_sasl_failure(self, element: etree._Element, now: float) -> None:
        if self._state is not StreamState.AUTHENTICATING:
            self._fail(StreamErrorCondition.UNSUPPORTED_STANZA_TYPE, "unexpected SASL failure")
            return
        name = ""
        text = None
        for child in element:
            if not isinstance(child.tag, str):
                continue
            local = split_tag(child.tag)[1]
            if local == "text":
                text = child.text or ""
            elif not name:
                name = local
        self._auth_failed(_SASL_CONDITIONS.get(name), name, text, send_close=True)

    def _auth_failed(
        self, condition: SaslCondition | None, name: str, text: str | None, *, send_close: bool
    ) -> None:
        self._emit(AuthenticationFailed(condition=condition, condition_name=name, text=text))
        if send_close and self._framing.ready:
            self._out.append(self._framing.close_stream())
            self._out.append(self._framing.shutdown())
        self._finish(
            ConnectionClosed(reason=CloseReason.AUTH_FAILED, text=text or name or None),
            resumable=False,
        )

    def _give_up(self, why: str) -> None:
        if self._terminated:
            return
        if self._framing.ready:
            self._out.append(self._framing.close_stream())
            self._out.append(self._framing.shutdown())
        self._finish(
            ConnectionClosed(reason=CloseReason.NEGOTIATION_FAILED, text=why), resumable=False
        )

    def _on_bound(self, element: etree._Element, now: float) -> None:
        jid = None
        for bind in element:
            if isinstance(bind.tag, str) and split_tag(bind.tag)[0] == NS_BIND:
                jid_el = bind.find(_BIND_JID)
                jid = jid_el.text.strip() if jid_el is not None and jid_el.text else None
        if not jid or "@" not in jid or "/" not in jid:
            self._give_up("resource binding returned no full JID")
            return
        self._jid = jid
        self._state = transition(self._state, Input.RECV_BOUND)
        self._emit(Bound(jid=jid))
        self._session_setup(now)

    def _session_setup(self, now: float) -> None:
        """After bind, in the official SDK's order: SM enable, carbons, initial presence."""
        config = self._config
        wants_sm = config.stream_management and NS_SM in self._features
        if wants_sm:
            resume = ' resume="true"' if config.resume else ""
            self._send_nonza(f'<enable xmlns="{NS_SM}"{resume}/>')
            self._sm = StreamManagement()
        if config.enable_carbons:
            iq_id = self._ids.iq_id("enableCarbons")
            self._track_iq(iq_id, _PendingIq("carbons", None, now, config.iq_timeout), now)
            self._send_stanza(
                f'<iq type="set" id="{iq_id}"><enable xmlns="{NS_CARBONS}"/></iq>',
                iq_id,
                countable=False,
                now=now,
            )
        if config.send_initial_presence:
            self._send_stanza("<presence/>", None, countable=False, now=now)
        if not wants_sm:
            self._session_ready(resumed=False, now=now)

    def _session_ready(self, *, resumed: bool, now: float) -> None:
        self._state = transition(self._state, Input.RECV_SESSION_READY)
        self._emit(Connected(jid=self._jid, resumed=resumed))
        self._arm_keepalive(now)
        self._arm_idle(now)
        if self._resend:
            self._flush_resend(now)

    def _flush_resend(self, now: float) -> None:
        """resend_unconfirmed: the old session's unsettled messages go out again, with
        their original ids, on the fresh session (or, without stream management to
        track them, are reported unconfirmed)."""
        resend, self._resend = self._resend, []
        for item in resend:
            if self._sm_active:
                self._send_stanza(item.xml, item.message_id, countable=True, now=now)
            else:
                self._unconfirmed(item.message_id)

    # --- stream management ------------------------------------------------------

    def _on_sm_enabled(self, element: etree._Element, now: float) -> None:
        if self._state is not StreamState.SESSION_SETUP or self._sm is None:
            self._fail(StreamErrorCondition.UNSUPPORTED_STANZA_TYPE, "unexpected <enabled/>")
            return
        self._sm_active = True
        self._bridge = None
        resumable = element.get("resume") in ("true", "1")
        self._resume_id = element.get("id") if resumable else None
        self._resume_location = element.get("location")
        max_attr = element.get("max")
        self._resume_max = parse_uint(max_attr)
        self._emit(
            StreamManagementEnabled(resume_id=self._resume_id, max_resume_seconds=self._resume_max)
        )
        self._session_ready(resumed=False, now=now)

    def _on_sm_failed(self, element: etree._Element, now: float) -> None:
        if self._state is StreamState.SESSION_SETUP:
            # <enable/> refused: carry on without stream management.
            self._sm = None
            self._sm_active = False
            self._bridge = None
            self._session_ready(resumed=False, now=now)
            return
        if self._state is StreamState.RESUMING:
            name = None
            for child in element:
                if isinstance(child.tag, str):
                    name = split_tag(child.tag)[1]
                    break
            h = element.get("h")
            if h is not None and not self._apply_ack(h):
                return
            self._resume_failed(name, now, h_known=h is not None)
            return
        self._fail(StreamErrorCondition.UNSUPPORTED_STANZA_TYPE, "unexpected SM <failed/>")

    def _resume_failed(self, name: str | None, now: float, *, h_known: bool) -> None:
        """The old session is gone; a fresh one is bound next.  Its unacknowledged
        messages: with ``h`` in ``<failed/>`` the server said it never received them
        (MessageLost: a fact); without it nobody knows (MessageUnconfirmed).  With
        ``resend_unconfirmed`` both kinds are sent again on the fresh session instead."""
        resending = False
        if self._sm is not None:
            if self._config.resend_unconfirmed:
                resend = [
                    item
                    for item in self._sm.unacked
                    if item.message_id is not None and item.message_id not in self._lost_reported
                ]
                if self._poison_strikes >= 2 and resend:
                    # Twice in a row the stream died right after this stanza (the second
                    # time on a fresh session it was resent to): poison, whether or not
                    # the session survived.  The server ends a session over a stream
                    # error, so without this the poison would be resent forever.
                    self._reject_poison(resend.pop(0))
                self._resend = resend
                resending = bool(resend)
            elif h_known:
                self._report_unacked_lost(LostReason.RESUME_FAILED)
            else:
                self._report_unconfirmed()
        if not resending:
            self._poison_strikes = 0
            self._poison_condition = None
        # else: the strikes stay with the stanza that heads the resend, so that a second
        # death right after it on the fresh session rejects it at the next reconnection.
        for iq_id in list(self._pending):
            self._iq_timed_out(iq_id)
        self._emit(ResumeFailed(condition_name=name))
        if self._resume is not None and self._sm is not None:
            resume = self._resume
            self._bridge = (
                resume.resume_id,
                resume.location,
                resume.max_seconds,
                self._sm.inbound_h,
            )
        self._resume = None
        self._sm = None
        self._sm_active = False
        self._lost_reported.clear()
        if self._state is StreamState.RESUMING:
            self._state = transition(self._state, Input.RECV_RESUME_FAILED)
        else:
            self._state = transition(self._state, Input.RECV_FEATURES_BIND)
        self._send_bind(now)

    def _on_sm_resumed(self, element: etree._Element, now: float) -> None:
        if self._state is not StreamState.RESUMING or self._sm is None or self._resume is None:
            self._fail(StreamErrorCondition.UNSUPPORTED_STANZA_TYPE, "unexpected <resumed/>")
            return
        h = element.get("h")
        if h is None:
            self._fail(StreamErrorCondition.BAD_FORMAT, "<resumed/> without h")
            return
        acked_before = self._sm.acked_h
        if self._resume.made_from_checkpoint and not self._catch_up(h):
            return
        if not self._apply_ack(h):
            return
        sm = self._sm
        keep = [u for u in sm.unacked if u.message_id not in self._lost_reported]
        self._lost_reported.clear()
        if sm.acked_h != acked_before:
            # The server handled stanzas past the old head: the strikes counted against
            # it are void, except that the last death was after the new head.
            self._poison_strikes = min(self._poison_strikes, 1)
        if self._poison_strikes >= 2 and keep:
            # Twice in a row the stream died right after this stanza: poison.
            self._reject_poison(keep.pop(0))
        sm.keep_only(keep)
        previous = self._resume
        self._resume_id = previous.resume_id
        self._resume_location = previous.location
        self._resume_max = previous.max_seconds
        self._sm_active = True
        self._state = transition(self._state, Input.RECV_RESUMED)
        for item in keep:
            self._out.append(self._framing.frame(item.xml))
        for iq_id, pending in self._pending.items():
            pending.sent_at = now
            if pending.timeout is not None:
                self._timers.set(("iq", iq_id), now + pending.timeout)
        if any(item.message_id for item in keep):
            self._request_ack()
            self._timers.set(_ACK_TIMER, now + self._config.ack_timeout)
        self._resume = None
        self._emit(StreamResumed(previous_id=previous.resume_id, resent=len(keep)))
        self._emit(Connected(jid=self._jid, resumed=True))
        self._arm_keepalive(now)
        self._arm_idle(now)

    def _reject_poison(self, head: Unacked) -> None:
        """``head`` is poison: report it ``MessageRejected``, forget the strikes."""
        if head.message_id is not None:
            self._emit(
                MessageRejected(message_id=head.message_id, condition=self._poison_condition)
            )
            if self._handler is not None:
                self._emit_all(self._handler.message_lost(head.message_id))
        self._poison_strikes = 0
        self._poison_condition = None

    def _catch_up(self, h_text: str) -> bool:
        """Resuming from a checkpoint, the server may have received MORE than the
        checkpoint says we sent: the old process wrote stanzas after it last persisted
        its checkpoint, then died.  They come after every stanza the checkpoint holds,
        so ``h`` beyond our count acknowledges all of those, and the counters move on to
        ``h`` (what the server has).  Anything else is left to the usual check."""
        sm = self._sm
        assert sm is not None
        h = parse_uint(h_text)
        if h is None or h >= MOD:
            return True  # _apply_ack fails the stream
        ahead = (h - sm.outbound_h) % MOD
        if 0 < ahead < MOD // 2:
            if not self._apply_ack(str(sm.outbound_h)):
                return False
            sm.acked_h = sm.outbound_h = h
        return True

    def _on_sm_request(self, element: etree._Element, now: float) -> None:
        if self._sm is None or not self._sm_active:
            return  # XEP-0198: <r/> before <enabled/> is ignored
        self._send_nonza(f'<a xmlns="{NS_SM}" h="{self._sm.inbound_h}"/>')

    def _on_sm_ack(self, element: etree._Element, now: float) -> None:
        if self._sm is None or not self._sm_active:
            return
        h = element.get("h")
        if h is None:
            self._fail(StreamErrorCondition.BAD_FORMAT, "<a/> without h")
            return
        acked_before = self._sm.acked_h
        if not self._apply_ack(h):
            return
        if self._poison_strikes and self._sm.acked_h != acked_before:
            self._poison_strikes = 0
            self._poison_condition = None
        if self._sm.pending_messages:
            self._timers.set(_ACK_TIMER, now + self._config.ack_timeout)
        else:
            self._timers.cancel(_ACK_TIMER)

    def _apply_ack(self, h_text: str) -> bool:
        """Settle what ``h`` acknowledges; False (after failing the stream) when bad."""
        assert self._sm is not None
        h = parse_uint(h_text)
        if h is None or h >= MOD:
            self._fail(
                StreamErrorCondition.BAD_FORMAT, f"invalid h {h_text[:32]!r}", end_session=True
            )
            return False
        try:
            settled = self._sm.ack(h)
        except AckError as exc:
            self._fail(
                StreamErrorCondition.UNDEFINED_CONDITION,
                str(exc),
                app_condition=(
                    f'<handled-count-too-high xmlns="{NS_SM}" h="{exc.h}" '
                    f'send-count="{self._sm.outbound_h}"/>'
                ),
                end_session=True,
            )
            return False
        for item in settled:
            message_id = item.message_id
            if message_id is None:
                continue
            if message_id in self._lost_reported:
                self._lost_reported.discard(message_id)
                continue
            self._emit(MessageSent(message_id=message_id))
            if self._handler is not None:
                self._emit_all(self._handler.message_acked(message_id))
        return True

    def _ack_timed_out(self, now: float) -> None:
        """No ack for ``ack_timeout``: the connection is dead, not the messages lost.
        Close without a word (a stream close would end the session on the server) and
        let the resumption's ``h`` settle what arrived."""
        self._emit(ConnectionDead(idle_seconds=now - self._last_rx))
        resumable = self._resumable()
        self._finish(ConnectionClosed(reason=CloseReason.DEAD, resumable=resumable), resumable)

    def _report_unacked_lost(self, reason: LostReason) -> None:
        if self._sm is None:
            return
        for item in self._sm.unacked:
            message_id = item.message_id
            if message_id is None or message_id in self._lost_reported:
                continue
            self._lost_reported.add(message_id)
            self._emit(MessageLost(message_id=message_id, reason=reason))
            if self._handler is not None:
                self._emit_all(self._handler.message_lost(message_id))

    def _settle_everything(self) -> None:
        """The session ended for good: nobody knows what arrived of the unacknowledged
        messages (MessageUnconfirmed); outstanding IQs time out."""
        self._report_unconfirmed()
        if self._sm is not None:
            self._sm.forget_all()
        self._lost_reported.clear()
        self._resume_id = None
        for iq_id in list(self._pending):
            self._iq_timed_out(iq_id)

    def _report_unconfirmed(self) -> None:
        if self._sm is None:
            return
        for item in self._sm.unacked:
            self._unconfirmed(item.message_id)

    def _unconfirmed(self, message_id: str | None) -> None:
        if message_id is None or message_id in self._lost_reported:
            return
        self._lost_reported.add(message_id)
        self._emit(MessageUnconfirmed(message_id=message_id))
        hook = getattr(self._handler, "message_unconfirmed", None)
        if hook is not None:
            self._emit_all(hook(message_id))

    # --- stanzas ----------------------------------------------------------------

    def _on_stanza(self, kind: str, element: etree._Element, now: float) -> None:
        if self._state not in _STANZA_STATES:
            self._fail(StreamErrorCondition.NOT_AUTHORIZED, f"<{kind}/> before authentication")
            return
        sm = self._sm
        if sm is not None and self._sm_active:
            if self._config.app_controlled_acks:
                self._rx_seq += 1
                self._current_seq = self._rx_seq
            else:
                sm.handled()
        try:
            if kind == "iq":
                self._on_iq(element, now)
            else:
                self._to_handler(kind, element)
        finally:
            self._current_seq = 0

    def _to_handler(self, kind: str, element: etree._Element) -> None:
        # The inbound hot path: every message and presence comes through here.
        handler = self._handler
        if handler is None:
            self._emit(UnhandledStanza.of_element(element))
            if kind == "iq" and element.get("type") in ("get", "set"):
                self._answer_unsupported(element)
            return
        try:
            result = handler.handle_stanza(element, self)
        except Exception as exc:  # a handler bug must not kill the stream
            self._emit(
                MalformedStanza(raw=element_bytes(element), reason=f"handler failed: {exc!r}")
            )
            return
        events = result.events
        if events:
            seq = self._current_seq
            append = self._events.append
            for event in events:
                append((event, seq))
        replies = result.replies
        if replies:
            for reply in replies:
                self._send_stanza(
                    reply.xml, reply.stanza_id, countable=reply.countable, now=self._last_rx
                )
        elif kind == "iq" and element.get("type") in ("get", "set"):
            self._answer_unsupported(element)

    def _answer_unsupported(self, element: etree._Element) -> None:
        iq_id = element.get("id")
        if iq_id is None:
            return
        sender = element.get("from")
        self._send_stanza(
            error_reply(
                "iq",
                escape_attr(iq_id),
                escape_attr(sender) if sender else None,
                StanzaErrorCondition.SERVICE_UNAVAILABLE,
                StanzaErrorType.CANCEL,
            ),
            None,
            countable=False,
            now=self._last_rx,
        )

    def _on_iq(self, element: etree._Element, now: float) -> None:
        iq_type = element.get("type")
        iq_id = element.get("id")
        if iq_type in ("result", "error"):
            pending = self._pending.get(iq_id) if iq_id is not None else None
            if iq_id is None or pending is None or not self._from_matches(pending, element):
                self._to_handler("iq", element)
                return
            del self._pending[iq_id]
            self._timers.cancel(("iq", iq_id))
            self._resolve_iq(iq_id, pending, element, iq_type == "result", now)
            return
        if iq_type in ("get", "set") and iq_id is not None:
            first = next((c for c in element if isinstance(c.tag, str)), None)
            if iq_type == "get" and first is not None and first.tag == _PING:
                sender = element.get("from")
                to_attr = f' to="{escape_attr(sender)}"' if sender else ""
                self._send_stanza(
                    f'<iq type="result" id="{escape_attr(iq_id)}"{to_attr}/>',
                    None,
                    countable=False,
                    now=now,
                )
                self._emit(PingReceived(sender=sender, iq_id=iq_id))
                return
            self._to_handler("iq", element)
            return
        self._emit(
            MalformedStanza(
                raw=element_bytes(element),
                reason=f"iq with type {iq_type!r} and id {iq_id!r}",
            )
        )

    def _from_matches(self, pending: _PendingIq, element: etree._Element) -> bool:
        """RFC 6120 10.1: an answer must come from where the request went (or, for a
        request without ``to``, from our server or our own account)."""
        sender = element.get("from")
        if pending.to is None:
            if sender is None:
                return True
            bare = self._jid.split("/", 1)[0]
            return sender in (bare, self._jid, self._config.chat_host)
        if sender is None:
            return pending.to in (self._config.chat_host, self._jid.split("/", 1)[0])
        return sender == pending.to

    def _resolve_iq(
        self, iq_id: str, pending: _PendingIq, element: etree._Element, ok: bool, now: float
    ) -> None:
        kind = pending.kind
        if kind == "bind":
            if ok:
                self._on_bound(element, now)
            else:
                error = parse_stanza_error(element)
                self._give_up(f"resource binding refused: {error.condition_name}")
            return
        if kind == "carbons":
            return  # like the official SDK, the answer is not inspected
        if kind == "keepalive":
            self._keepalive_sent_at = None
            self._timers.cancel(_DEAD_TIMER)
            self._arm_keepalive(now)
            return
        if kind == "ping":
            self._emit(
                PongReceived(
                    ping_id=iq_id,
                    round_trip=now - pending.sent_at,
                    error=None if ok else parse_stanza_error(element),
                )
            )
            return
        if not ok:
            self._emit(IqFailed(iq_id=iq_id, error=parse_stanza_error(element)))
            return
        if kind == "user":
            payload = next((c for c in element if isinstance(c.tag, str)), None)
            self._emit(
                IqResultReceived(
                    iq_id=iq_id, payload=element_bytes(payload) if payload is not None else None
                )
            )
            return
        parser = pending.parser
        assert parser is not None
        try:
            event = parser(element)
        except Exception as exc:  # the answer did not have the shape we asked for
            self._emit(
                IqFailed(iq_id=iq_id, error=None, raw=element_bytes(element), reason=str(exc))
            )
            return
        self._emit(event)

    def _iq_timed_out(self, iq_id: str) -> None:
        pending = self._pending.pop(iq_id, None)
        self._timers.cancel(("iq", iq_id))
        if pending is None:
            return
        if pending.kind == "bind":
            self._give_up("no answer to resource binding")
        elif pending.kind == "ping":
            self._emit(PingTimedOut(ping_id=iq_id))
        elif pending.kind in ("user", "stanza"):
            self._emit(IqTimedOut(iq_id=iq_id))

    # --- keepalive ----------------------------------------------------------------

    def _arm_keepalive(self, now: float) -> None:
        interval = self._config.keepalive_interval
        if interval is not None and self._state is StreamState.READY:
            self._timers.set(_KEEPALIVE_TIMER, max(now, self._last_rx) + interval)

    def _arm_idle(self, now: float) -> None:
        interval = self._config.release_parser_when_idle
        if interval is not None and self._state is StreamState.READY:
            self._timers.set(_IDLE_TIMER, max(now, self._last_rx) + interval)

    def _idle(self, now: float) -> None:
        """Idle long enough: let the framing free its parser.  The timer is armed again by
        the next input (receive_data), so an idle connection is not woken periodically."""
        interval = self._config.release_parser_when_idle
        if interval is None or self._state is not StreamState.READY:
            return
        if now - self._last_rx < interval:
            self._timers.set(_IDLE_TIMER, self._last_rx + interval)
        elif self._framing.release_idle():
            self._parser_released = True
        else:  # mid-element (a slow stanza): look again later
            self._timers.set(_IDLE_TIMER, now + interval)

    def _keepalive(self, now: float) -> None:
        interval = self._config.keepalive_interval
        if interval is None or self._state is not StreamState.READY:
            return
        idle = now - self._last_rx
        if idle < interval:
            self._timers.set(_KEEPALIVE_TIMER, self._last_rx + interval)
            return
        iq_id = self._ids.iq_id("ping")
        host = self._config.chat_host
        self._pending[iq_id] = _PendingIq("keepalive", host, now, None)
        self._keepalive_sent_at = now
        self._send_stanza(
            _ping_xml(iq_id, host),
            iq_id,
            countable=False,
            now=now,
        )
        self._timers.set(_DEAD_TIMER, now + self._config.keepalive_timeout)

    def _dead_check(self, now: float) -> None:
        sent_at = self._keepalive_sent_at
        if sent_at is not None and self._last_rx > sent_at:
            # Something arrived after our ping: the connection is alive.
            self._keepalive_sent_at = None
            self._arm_keepalive(now)
            return
        self._emit(ConnectionDead(idle_seconds=now - self._last_rx))
        resumable = self._resumable()
        self._finish(ConnectionClosed(reason=CloseReason.DEAD, resumable=resumable), resumable)

    # --- stream errors and termination --------------------------------------------

    def _on_stream_error(self, element: etree._Element, now: float) -> None:
        name = ""
        text = None
        for child in element:
            if not isinstance(child.tag, str):
                continue
            namespace, local = split_tag(child.tag)
            if namespace != NS_STREAMS:
                continue
            if local == "text":
                text = child.text or ""
            elif not name:
                name = local
                if name == "see-other-host" and child.text:
                    text = child.text.strip()
        if self._framing.ready:
            self._out.append(self._framing.close_stream())
            self._out.append(self._framing.shutdown())
        condition = _STREAM_CONDITIONS.get(name, StreamErrorCondition.UNDEFINED_CONDITION)
        resumable = self._resumable() and condition is not StreamErrorCondition.CONFLICT
        if condition in _POISON_CONDITIONS and self._sm is not None and self._sm.unacked:
            # The server ended the stream over what we wrote: count a strike against the
            # oldest unacknowledged stanza (settled at the resumption, see _on_sm_resumed).
            self._poison_strikes += 1
            self._poison_condition = condition
        else:
            self._poison_strikes = 0
            self._poison_condition = None
        self._finish(
            ConnectionClosed(
                reason=CloseReason.STREAM_ERROR_RECEIVED,
                condition=condition,
                text=text,
                resumable=resumable,
            ),
            resumable=resumable,
        )

    def _fail(
        self,
        condition: StreamErrorCondition,
        text: str,
        *,
        send: bool = True,
        app_condition: str = "",
        end_session: bool = False,
    ) -> None:
        """The peer broke the protocol: send a stream error, close, report it.

        Except when the session is resumable.  RFC 6120 4.9.1.1 has the entity that
        detects a stream error send ``<stream:error/>`` and close the stream (4.4); but
        XEP-0198 resumption exists for streams that end *without* that orderly close, and
        ejabberd (tests/integration/test_resumable_after_bad_input.py) ends the session --
        every later ``<resume/>`` gets ``<failed><item-not-found/>`` -- when the client
        sends a stream error, with or without ``</stream:stream>``, or only
        ``</stream:stream>``; only a transport that simply drops (TCP FIN/RST, TLS
        close_notify) leaves it resumable.  So when we mean to resume, we write nothing:
        the adapter drops the transport on ``ConnectionClosed`` as for any dead link
        (RFC 6120 4.4 anticipates streams ending without the closing tag), and
        ``resumable`` is true because the session really is.  Otherwise the RFC's
        sequence: stream error, ``</stream:stream>``, and ``resumable`` false.
        ``end_session``: the fault makes the session itself useless (the counters
        disagree), so it is ended the RFC's way even when it could be resumed.
        """
        if self._state is StreamState.CLOSED:
            return
        resumable = self._resumable() and not end_session
        if resumable:
            send = False
        if send and self._framing.ready and self._state is not StreamState.TLS_PENDING:
            self._write_stream_error(condition, text, app_condition, empty_text=True)
        self._finish(
            ConnectionClosed(
                reason=CloseReason.PROTOCOL_ERROR,
                condition=condition,
                text=text,
                error=RemoteProtocolError(condition, text),
                resumable=resumable,
            ),
            resumable=resumable,
        )

    def _resumable(self) -> bool:
        if self._resume is not None:
            return True  # a resumption not yet answered: the old session may still resume
        return (
            self._sm_active
            and self._resume_id is not None
            and self._state in (StreamState.READY, StreamState.SESSION_SETUP)
        )

    def _finish(
        self, event: ConnectionClosed, resumable: bool, *, transition_done: bool = False
    ) -> None:
        """Enter CLOSED and report ``event``: the one terminal event, whatever path led
        here (settling the session below may try to end it again, e.g. a pending bind)."""
        if self._terminated:
            return
        self._terminated = True
        if not transition_done and self._state is not StreamState.CLOSED:
            self._state = transition(self._state, Input.FATAL)
        self._timers.clear()
        if not resumable:
            self._settle_everything()
            self._resume = None  # a pending <resume/> is given up too: settled above
            self._bridge = None
            for item in self._resend:
                self._unconfirmed(item.message_id)
            self._resend.clear()
        self._note_checkpoint(final=True)
        self._emit(event)

    _ENDED = StreamState.CLOSED
    _AWAITING_TLS = StreamState.TLS_PENDING

    _NONZA_HANDLERS: ClassVar[
        dict[str, Callable[[ClientConnection, etree._Element, float], None]]
    ] = {}


def _safe_chars(limit: int | None) -> int:
    """The longest stanza, in characters, that cannot exceed ``limit`` UTF-8 bytes."""
    return limit // 4 if limit is not None else 2**62


def _restored_handler(config: ClientConfig, checkpoint: Checkpoint) -> StanzaHandler | None:
    """A new handler from the config's factory with the checkpoint's handler state."""
    handler = config.handler_factory() if config.handler_factory else None
    if checkpoint.handler is not None:
        restore = getattr(handler, "restore_checkpoint_state", None)
        if restore is None:
            raise CheckpointError(
                "the checkpoint carries handler state, but config.handler_factory makes no "
                "handler with restore_checkpoint_state()"
            )
        restore(checkpoint.handler)
    return handler


def _ping_xml(iq_id: str, to: str) -> str:
    """An XEP-0199 ping request."""
    return f'<iq type="get" id="{iq_id}" to="{escape_attr(to)}"><ping xmlns="{NS_PING}"/></iq>'


def _stanza_to(xml: str) -> str | None:
    """The ``to`` of a built IQ request whose builder did not state it
    (``OutboundStanza.to`` left ``UNSTATED``), so that its answer is checked against it."""
    try:
        return etree.fromstring(xml, parser=_SAFE_PARSER).get("to")
    except (etree.XMLSyntaxError, ValueError):
        return None


_SAFE_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
)

ClientConnection._NONZA_HANDLERS = {
    _FEATURES: ClientConnection._on_features,
    _STREAM_ERROR: ClientConnection._on_stream_error,
    _TLS_PROCEED: ClientConnection._on_tls_proceed,
    _TLS_FAILURE: ClientConnection._on_tls_failure,
    _SASL_CHALLENGE: ClientConnection._on_sasl_challenge,
    _SASL_SUCCESS: ClientConnection._on_sasl_success,
    _SASL_FAILURE: ClientConnection._on_sasl_failure,
    _SM_R: ClientConnection._on_sm_request,
    _SM_A: ClientConnection._on_sm_ack,
    _SM_ENABLED: ClientConnection._on_sm_enabled,
    _SM_FAILED: ClientConnection._on_sm_failed,
    _SM_RESUMED: ClientConnection._on_sm_resumed,
}
