"""The client connection: one XMPP stream as a sans-IO state machine.

Bytes, commands and the current time go in; bytes and typed events come out.  This module
keeps the public contract (the entry points, the checkpoint, the event queue) and the
dispatch of what arrives, and hands every stanza that is not the connection's own to the
:class:`~cubeproto.commands.StanzaHandler` (the chat layer).  The machines it is made of
are one module each (see ``_client_base.py``): negotiation (STARTTLS, SASL, bind), stream
management (XEP-0198, with resumption and application-controlled acks), IQ tracking,
keepalive, and how the stream ends; the bytes go through the stream layer both roles
share (``_stream.py``, ``_framing.py``).

Every state change goes through :func:`cubeproto._state.transition`; see that module for
the table.  Peer faults never raise: they end in one terminal
:class:`~cubeproto.events.ConnectionClosed` carrying a ``RemoteProtocolError``, after a
stream error sent to the peer -- unless the session is resumable, which a stream error
would destroy (see ``_fail``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import ClassVar

from lxml import etree

from ._checkpoint import Checkpoint
from ._client_base import (
    _ACK_TIMER,
    _CHECKPOINT_CHANGED,
    _CLOSE_TIMER,
    _CLOSED,
    _DEAD_TIMER,
    _FEATURES,
    _IDLE_TIMER,
    _KEEPALIVE_TIMER,
    _R,
    _SASL_CHALLENGE,
    _SASL_FAILURE,
    _SASL_SUCCESS,
    _SEND_STATES,
    _SM_A,
    _SM_ENABLED,
    _SM_FAILED,
    _SM_R,
    _SM_RESUMED,
    _STANZA_STATES,
    _STANZA_TAGS,
    _STREAM_ERROR,
    _TLS_FAILURE,
    _TLS_PROCEED,
    ClientParts,
    _Element,
    _PendingIq,
    _safe_chars,
)
from ._client_ending import StreamEnding
from ._client_handler import HandlerDispatch
from ._client_iq import IqTracking
from ._client_keepalive import Keepalive
from ._client_negotiation import Negotiation
from ._client_sm import ClientStreamManagement, ResumableSession, restored_handler
from ._framing import (
    TRANSPORT_CLOSED,
    TRANSPORT_READY,
    Framing,
    TcpFraming,
    TransportSignal,
    WebSocketFraming,
)
from ._ids import IdFactory
from ._sasl import SaslClient
from ._sm import StreamManagement, Unacked
from ._state import (
    Input,
    StreamState,
    transition,
)
from ._timers import Timers
from ._wire import split_tag
from ._xmlstream import (
    StreamFooter,
    StreamHeader,
    top_level_fault,
)
from .commands import (
    Command,
    Ping,
    SendIq,
    StanzaCommand,
    StanzaHandler,
)
from .config import ClientConfig
from .errors import (
    LocalProtocolError,
    StreamErrorCondition,
)
from .events import (
    CloseReason,
    ConnectionClosed,
    Event,
    UnhandledStanza,
)

__all__ = ["ClientConnection", "ResumableSession"]


class ClientConnection(
    Negotiation,
    ClientStreamManagement,
    IqTracking,
    Keepalive,
    StreamEnding,
    HandlerDispatch,
    ClientParts,
):
    """One client-side XMPP stream to a ConnectyCube (or any XMPP) server, sans-IO.

    The adapter's loop, after **every** call into this object: write ``data_to_send()`` to
    the transport, call ``next_event()`` until it returns ``None``, and (re-)arm one timer
    for ``get_timer()``.  When that timer fires, call ``handle_timer(now=...)``.  The
    object is not thread-safe; serialize calls.

    ``now`` is always a float of seconds on any monotonic clock the adapter chooses; it
    must not go backwards.  The connection never reads a clock itself.
    """

    __slots__ = ()  # the state is declared, slots and types, in ClientParts

    def __init__(
        self,
        config: ClientConfig,
        *,
        resume: ResumableSession | Checkpoint | None = None,
        handler: StanzaHandler | None = None,
    ) -> None:
        """Create an idle connection.  Pure: nothing is sent until :meth:`start`.

        With ``resume``, the connection authenticates and then sends ``<resume/>`` instead
        of binding a new resource (XEP-0198 section 5).  ``resume`` is a
        :class:`ResumableSession` (same process) or a :class:`~cubeproto.Checkpoint` (any
        process: its handler state is restored into a handler made by
        ``config.handler_factory``; a checkpoint with handler state and no handler that
        can take it raises :class:`~cubeproto.CheckpointError`).

        ``handler`` (without ``resume``): the stanza handler of an earlier connection whose
        session could not be resumed, used instead of a new one from
        ``config.handler_factory``, so that what it keeps across sessions (the chat
        layer's end-to-end pending messages) goes on; see
        :class:`~cubeproto.reconnect.Supervisor`.
        """
        if handler is not None and resume is not None:
            raise LocalProtocolError(
                "a resumed session brings its own handler: pass one or the other"
            )
        if isinstance(resume, Checkpoint):
            resume = ResumableSession.from_checkpoint(resume, restored_handler(config, resume))
        self._config = config
        self._muc_host = "muc." + config.chat_host  # read for every group message built
        self._state = StreamState.IDLE
        self._ids = IdFactory(entropy=config.entropy, wall_clock=config.wall_clock)
        self._framing: Framing = _framing_for(config)
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
        self._fault = None
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
        if resume is not None:
            self._jid = resume.jid
            handler = resume.handler
            self._sm = StreamManagement.resumed(resume)
            self._lost_reported = set(resume.lost_reported)
            for iq_id, kind, to, timeout, parser in resume.pending_iqs:
                self._pending[iq_id] = _PendingIq(kind, to, 0.0, timeout, parser)
        elif handler is None and config.handler_factory is not None:
            handler = config.handler_factory()
        self._attach_handler(handler)

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

    def tls_failed(self, reason: str, *, now: float) -> None:
        """The TLS handshake asked for by ``TlsUpgradeRequired`` failed; ``reason`` is the
        TLS library's words (``CERTIFICATE_VERIFY_FAILED``, a hostname mismatch ...).

        Ends the connection with ``ConnectionClosed(reason=NEGOTIATION_FAILED)`` whose
        ``text`` carries ``reason``, so that the user learns why, as with direct TLS (the
        transport is gone: nothing is sent).  Raises ``LocalProtocolError`` unless a TLS
        upgrade is pending.
        """
        if self._state is not StreamState.TLS_PENDING or self._eof:
            raise LocalProtocolError(f"tls_failed() called in state {self._state.value}")
        self._eof = True
        resumable = self._resumable()
        self._finish(
            ConnectionClosed(
                reason=CloseReason.NEGOTIATION_FAILED,
                text=f"TLS handshake failed: {reason}",
                resumable=resumable,
            ),
            resumable=resumable,
        )

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
        if self._fault is not None:
            self._end_on_fault()
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

    def drop(self, *, now: float) -> None:
        """The application drops the transport at once, without closing the stream
        (a terminate).  Ends with ``ConnectionClosed(reason=LOCAL, clean=False)``: this
        side ended it, not the server.  The session stays resumable where stream
        management allows, as after any unclean end.  Idempotent; nothing is read
        afterwards (as after :meth:`receive_eof`)."""
        if self._eof:
            return
        self._eof = True
        if self._state is StreamState.CLOSED:
            return
        resumable = self._state is not StreamState.CLOSING and self._resumable()
        self._finish(
            ConnectionClosed(reason=CloseReason.LOCAL, resumable=resumable), resumable=resumable
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
            if stanza.result_parser is not None:
                self._track_request(stanza, now)  # raises before anything changed
            self._send_built(stanza, now)
            if self._handler_sent_at is not None:
                self._emit_all(self._handler_sent_at(command, stanza, now))
            elif self._handler is not None:
                self._emit_all(self._handler.stanza_sent(command, stanza))
            if self._ckpt_on:
                self._note_checkpoint()
            return stanza.stanza_id
        if isinstance(command, Ping):
            iq_id = self._send_ping(command, now)
        elif isinstance(command, SendIq):
            iq_id = self._send_iq(command, now)
        else:
            raise LocalProtocolError(f"unknown command {command!r}")
        if self._ckpt_on:
            self._note_checkpoint()
        return iq_id

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
        ``None`` if nothing is scheduled.  Includes the handler's deadline (the chat
        layer's end-to-end resends) while a session is ready: one that comes due while
        there is none waits for the next session."""
        return self._handler_timer(self._timers.next_deadline())

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
        self._handler_deadline_reached(now)
        if self._ckpt_on:
            self._note_checkpoint()

    # ------------------------------------------------------------------ output helpers

    def _after_stream_fault(self) -> None:
        if self._ckpt_on:
            self._note_checkpoint()

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

    def _on_unknown_nonza(self, element: etree._Element) -> None:
        if self._state in (StreamState.READY, StreamState.SESSION_SETUP, StreamState.CLOSING):
            self._emit(UnhandledStanza.of_element(element))
            return
        self._fail(
            StreamErrorCondition.UNSUPPORTED_STANZA_TYPE,
            f"unexpected <{split_tag(element.tag)[1]}/> during negotiation",
        )

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

    _ENDED = StreamState.CLOSED
    _AWAITING_TLS = StreamState.TLS_PENDING

    _NONZA_HANDLERS: ClassVar[
        dict[str, Callable[[ClientConnection, etree._Element, float], None]]
    ] = {}


def _framing_for(config: ClientConfig) -> Framing:
    """The framing ``config`` asks for (RFC 6120 over TCP, or RFC 7395), wire trace set."""
    framing: Framing
    if config.is_websocket:
        framing = WebSocketFraming(
            config.xml_limits,
            host=config.websocket_host or config.chat_host,
            path=config.websocket_path,
        )
    else:
        framing = TcpFraming(config.xml_limits)
    framing.trace = config.wire_trace
    return framing


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
