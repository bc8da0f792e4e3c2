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

This module keeps the public contract and the dispatch; the parts are one module each
(``_server_negotiation.py``, ``_server_sm.py``, on ``_server_base.py``; credentials in
``_server_credentials.py``), and the supported import is :mod:`cubeproto.server`.
"""

from __future__ import annotations

from collections import deque

from lxml import etree

from ._framing import (
    TRANSPORT_CLOSED,
    TRANSPORT_READY,
    Item,
    ServerTcpFraming,
    ServerWebSocketFraming,
    read_stanza_name_end,
)
from ._server_base import (
    _ACK_TIMER,
    _CLOSE_TIMER,
    _IDLE_TIMER,
    _IQ,
    _NEGOTIATION_TIMER,
    _R,
    ClientAuthenticated,
    ClientAuthFailed,
    ClientBound,
    ClientClosed,
    ClientResumed,
    DetachedSession,
    ResumeRequested,
    ServerConfig,
    ServerParts,
    ServerTransport,
    SmEnabled,
    StanzaReceived,
    StreamStarted,
    TlsRequested,
    _Framing,
    _Sasl,
)
from ._server_credentials import (
    UserAuth,
    check_plain_password,
    make_user_auth,
)
from ._server_negotiation import ServerNegotiation
from ._server_sm import ServerStreamManagement
from ._server_state import ServerInput, ServerState, server_transition
from ._sm import StreamManagement
from ._stream import (
    NS_PING,
    NS_SASL,
    NS_SESSION,
    NS_SM,
    NS_TLS,
    STANZA_TAGS,
)
from ._timers import Timers
from ._wire import split_tag
from ._xmlstream import (
    StreamFooter,
    StreamHeader,
    escape_attr,
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


class ServerConnection(ServerNegotiation, ServerStreamManagement, ServerParts):
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
        self._fault = None
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
        if self._fault is not None:
            self._end_on_fault()
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
        name_end = read_stanza_name_end(xml)  # the application's XML: read once, here
        if name_end is None:
            raise LocalProtocolError("send_stanza() takes a message, presence or iq")
        self._send_counted(xml, name_end)
        self._arm_ack(now)

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
        ns, local = split_tag(element.tag)  # a str: the parser keeps only elements
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
            f'<error type="modify"><bad-request xmlns="{NS_STANZAS}"/></error></iq>',
            _IQ,
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
                f'to="{escape_attr(self._jid or "")}"/>',
                _IQ,
            )
            return True
        return False
