"""What every part of the client connection shares: its attributes, constants and the
output helpers.

:class:`~cubeproto._connection.ClientConnection` is assembled from small machines, each a
module a reviewer reads in one sitting:

* ``_client_negotiation.py`` -- features, STARTTLS, SASL, bind, session set-up;
* ``_client_sm.py`` -- XEP-0198 on the client side (enable, acks, resumption, what is
  lost, the checkpoint);
* ``_client_iq.py`` -- IQ requests we sent and their answers, IQs we answer;
* ``_client_keepalive.py`` -- keepalive pings, idle release, dead-link detection;
* ``_client_ending.py`` -- stream errors (received and sent) and the one terminal event;
* ``_client_handler.py`` -- the stanza handler (the chat layer): stanzas handed to it, its
  replies, its optional timed hooks;

and ``_connection.py`` keeps the public contract and the dispatch of what arrives.  They
are mixins of one object, not objects of their own: the state they share (the stream
management counters, the timers, the output buffer) is the connection's, and the inbound
hot path reads it without indirection.  :class:`ClientParts` declares that state (its
slots and their types) and holds the helpers every part uses; the methods one part calls in another
are declared here too (a stub is last in the method resolution order, so the real one
always wins).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lxml import etree

from ._framing import (
    STANZA_NAME_END,
    Framing,
    read_stanza_name_end,
)
from ._ids import IdFactory
from ._sasl import SaslClient
from ._sm import StreamManagement, Unacked
from ._state import (
    RECEIVE_STANZA_STATES,
    SEND_STANZA_STATES,
    StreamState,
)
from ._stream import (
    NS_BIND,
    NS_PING,
    NS_SASL,
    NS_SM,
    NS_TLS,
    SM_REQUEST,
    STANZA_TAGS,
    StreamEndpoint,
)
from ._timers import Timers
from ._xmlstream import (
    NS_STREAM,
    escape_attr,
)
from .commands import (
    HandlerResult,
    OutboundStanza,
    ResultParser,
    StanzaCommand,
    StanzaHandler,
)
from .config import ClientConfig
from .errors import (
    LocalProtocolError,
    SaslCondition,
    StreamErrorCondition,
)
from .events import (
    CheckpointChanged,
    ConnectionClosed,
    Event,
)

if TYPE_CHECKING:
    from ._client_sm import ResumableSession

__all__ = ["ClientParts"]

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

# Where the element name ends in a built <iq ...> or <presence ...>: what the
# framing needs to write it (``Framing.frame_stanza``), stated by whoever builds it.
_IQ = STANZA_NAME_END["iq"]
_PRESENCE = STANZA_NAME_END["presence"]
#: ``OutboundStanza.kind`` -> where the element name ends (``None``: a nonza).
_NAME_ENDS: dict[str, int | None] = {**STANZA_NAME_END, "nonza": None}

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


def _ping_xml(iq_id: str, to: str) -> str:
    """An XEP-0199 ping request."""
    return f'<iq type="get" id="{iq_id}" to="{escape_attr(to)}"><ping xmlns="{NS_PING}"/></iq>'


def _safe_chars(limit: int | None) -> int:
    """The longest stanza, in characters, that cannot exceed ``limit`` UTF-8 bytes."""
    return limit // 4 if limit is not None else 2**62


_SAFE_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
)


class ClientParts(StreamEndpoint[StreamState]):
    """The client connection's state, declared once for all of its parts."""

    # Every attribute of a client connection, for all of its parts: the mixins
    # (negotiation, stream management, ...) and ClientConnection add no slots.
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
        "_handler_deadline",
        "_handler_due",
        "_handler_sent_at",
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

    _config: ClientConfig
    _muc_host: str
    _ids: IdFactory
    _framing: Framing
    _events: deque[tuple[Event, int]]
    _timers: Timers
    _encrypted: bool
    _channel_binding: tuple[str, bytes] | None
    _authenticated: bool
    _sasl: SaslClient | None
    _features: frozenset[str]
    _jid: str
    _stream_id: str | None
    _header_seen: bool
    _pending: dict[str, _PendingIq]
    _terminated: bool
    _parser_released: bool
    _keepalive_sent_at: float | None
    _sm: StreamManagement | None
    _sm_active: bool
    _resume_id: str | None
    _resume_location: str | None
    _resume_max: int | None
    _lost_reported: set[str]
    _unrequested: int
    _rx_seq: int
    _confirmed_seq: int
    _current_seq: int
    _resume: ResumableSession | None
    _ckpt_key: tuple[int, int, int, bool, int] | None
    _ckpt_queued: bool
    _ckpt_on: bool
    _max_out: int | None
    _max_out_chars: int
    _poison_strikes: int
    _poison_condition: StreamErrorCondition | None
    _resend: list[Unacked]
    _bridge: tuple[str, str | None, int | None, int] | None
    _handler: StanzaHandler | None
    #: The handler's optional timed hooks (the chat layer's end-to-end mode, issue 15),
    #: looked up once: see StanzaHandler.
    _handler_sent_at: Callable[[StanzaCommand, OutboundStanza, float], Sequence[Event]] | None
    _handler_deadline: Callable[[], float | None] | None
    _handler_due: Callable[[float, Any], HandlerResult] | None
    _on_confirm: Callable[[int], None] | None

    # --- output ------------------------------------------------------------------

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

    def _send_uncounted(self, xml: str, name_end: int) -> None:
        """A stanza sent before stream management starts counting (resource binding)."""
        self._out.append(self._framing.frame_stanza(xml, name_end))

    def _send_stanza(
        self, xml: str, name_end: int, stanza_id: str | None, *, countable: bool, now: float
    ) -> None:
        """Queue one stanza (``name_end``: where its element name ends, see
        ``_framing.STANZA_NAME_END``) and count it for stream management."""
        self._out.append(self._framing.frame_stanza(xml, name_end))
        sm = self._sm
        if sm is not None and (self._sm_active or self._state is StreamState.SESSION_SETUP):
            sm.sent(xml, stanza_id if countable else None, name_end)
            if countable:
                self._unrequested += 1
                if self._unrequested >= self._config.ack_request_batch:
                    self._request_ack()
                if not self._timers.is_set(_ACK_TIMER):
                    self._timers.set(_ACK_TIMER, now + self._config.ack_timeout)

    def _send_built(self, stanza: OutboundStanza, now: float) -> None:
        """Queue what a builder made (a command's stanza, a handler's reply) as its
        ``kind`` says; a builder that does not say has its XML read once, here."""
        kind = stanza.kind
        name_end = _NAME_ENDS[kind] if kind is not None else read_stanza_name_end(stanza.xml)
        if name_end is None:
            self._send_nonza(stanza.xml)  # not counted by stream management
        else:
            self._send_stanza(
                stanza.xml, name_end, stanza.stanza_id, countable=stanza.countable, now=now
            )

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

    # --- implemented by the other parts (see the module docstring) ----------------

    def _session_ready(self, *, resumed: bool, now: float) -> None:
        raise NotImplementedError

    def _iq_timed_out(self, iq_id: str) -> None:
        raise NotImplementedError

    def _send_bind(self, now: float) -> None:
        raise NotImplementedError

    def _arm_keepalive(self, now: float) -> None:
        raise NotImplementedError

    def _arm_idle(self, now: float) -> None:
        raise NotImplementedError

    def _fail(
        self,
        condition: StreamErrorCondition,
        text: str,
        *,
        send: bool = True,
        app_condition: str = "",
        end_session: bool = False,
    ) -> None:
        raise NotImplementedError

    def _resumable(self) -> bool:
        raise NotImplementedError

    def _finish(
        self, event: ConnectionClosed, resumable: bool, *, transition_done: bool = False
    ) -> None:
        raise NotImplementedError

    def _resume_failed(self, name: str | None, now: float, *, h_known: bool) -> None:
        raise NotImplementedError

    def _track_iq(self, iq_id: str, pending: _PendingIq, now: float) -> None:
        raise NotImplementedError

    def _unconfirmed(self, message_id: str | None) -> None:
        raise NotImplementedError

    def _to_handler(self, kind: str, element: etree._Element) -> None:
        raise NotImplementedError

    def _answer_unsupported(self, element: etree._Element) -> None:
        raise NotImplementedError

    def _on_bound(self, element: etree._Element, now: float) -> None:
        raise NotImplementedError

    def _give_up(self, why: str) -> None:
        raise NotImplementedError

    def _settle_everything(self) -> None:
        raise NotImplementedError

    def _note_checkpoint(self, *, final: bool = False) -> None:
        raise NotImplementedError
