"""The stream layer both roles share: what a byte goes through before a role sees it.

:class:`ClientConnection` (``_connection.py``) and :class:`ServerConnection`
(``_server_connection.py``) are two roles of one XMPP stream, the way websockets has one
protocol object with a side and h11 one state module for both peers of HTTP.  What does not
depend on the role lives here, written once:

* the namespaces and tags of RFC 6120 negotiation and of the XEPs both roles speak;
* which top-level tags are stanzas (namespaced over TCP, bare over WebSocket);
* the front of ``receive_data``: refuse data after EOF, ignore it after the end, refuse it
  between ``<proceed/>`` and the TLS handshake (RFC 6120 5.4.3.3), run the framing
  (``_framing.py``: parser, size and depth limits), and turn its faults into a stream error;
* the stream-error writer (RFC 6120 4.9: error, stream close, transport close).

Each role keeps its own state table (``_state.py``, ``_server_state.py``), negotiation and
dispatch; this layer knows only which of the role's states is the end and which waits for
the TLS handshake.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar, Generic, TypeVar

from ._framing import Item
from ._xmlstream import NS_CLIENT, NS_STREAM, XmlStreamError, escape_text
from .errors import NS_STREAMS, LocalProtocolError, StreamErrorCondition

__all__ = [
    "NS_BIND",
    "NS_CARBONS",
    "NS_LIMITS",
    "NS_PING",
    "NS_SASL",
    "NS_SESSION",
    "NS_SM",
    "NS_TLS",
    "SM_REQUEST",
    "STANZA_KINDS",
    "STANZA_TAGS",
    "StreamEndpoint",
    "printable",
    "stream_error_xml",
]

NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session"
NS_SM = "urn:xmpp:sm:3"
NS_PING = "urn:xmpp:ping"
NS_CARBONS = "urn:xmpp:carbons:2"
NS_LIMITS = "urn:xmpp:stream-limits:0"

STANZA_KINDS = ("message", "presence", "iq")
#: Top-level tag -> stanza kind, for both namespaced (TCP) and bare (WebSocket) forms.
STANZA_TAGS = {f"{{{NS_CLIENT}}}{k}": k for k in STANZA_KINDS} | {k: k for k in STANZA_KINDS}

#: XEP-0198 ack request.
SM_REQUEST = f'<r xmlns="{NS_SM}"/>'


def printable(text: str) -> str:
    """Drop characters XML cannot carry from a diagnostic text."""
    return "".join(ch for ch in text if ch in "\t\n\r" or " " <= ch <= "\ud7ff" or ch > "\ue000")


def stream_error_xml(
    condition: StreamErrorCondition, text: str, app_condition: str = "", *, empty_text: bool
) -> str:
    """A ``<stream:error/>`` with ``condition``, the diagnostic ``text`` (cleaned of what
    XML cannot carry) and an application-specific condition element.  ``empty_text``:
    write ``<text/>`` even when ``text`` is empty (the client always has; the server
    leaves it out)."""
    text_el = (
        f'<text xmlns="{NS_STREAMS}">{escape_text(printable(text))}</text>'
        if text or empty_text
        else ""
    )
    return (
        f'<stream:error xmlns:stream="{NS_STREAM}">'
        f'<{condition.value} xmlns="{NS_STREAMS}"/>{text_el}{app_condition}</stream:error>'
    )


_StateT = TypeVar("_StateT", bound=enum.Enum)


class StreamEndpoint(Generic[_StateT]):
    """What both connection classes do with bytes before their role decides anything.

    A base class, not a member object: the role's ``__init__`` sets the slots below, and
    they stay plain attributes of one object, which the inbound hot path reads without an
    extra indirection.  The role names its ended and waiting-for-TLS states in
    ``_ENDED`` and ``_AWAITING_TLS``.
    """

    __slots__ = ("_eof", "_fault", "_framing", "_last_rx", "_out", "_state")

    _ENDED: ClassVar[enum.Enum]
    _AWAITING_TLS: ClassVar[enum.Enum]

    _framing: Any  # the role's Framing (cubeproto._framing)
    _out: list[bytes]
    _eof: bool
    _last_rx: float
    _state: _StateT
    #: A fault found in the bytes of the current ``receive_data`` after some items had
    #: completed: those items are handled first, then :meth:`_end_on_fault` ends the
    #: stream, so what arrived before the fault is never dropped (and the events are
    #: the same however the bytes were split).
    _fault: XmlStreamError | None

    def _fail(self, condition: StreamErrorCondition, text: str, *, send: bool = True) -> None:
        raise NotImplementedError

    def _admit(self, data: bytes, now: float) -> list[Item] | None:
        """The front of ``receive_data``: the items ``data`` completes, or ``None`` when
        there is nothing for the role to do (no data, the stream already ended, or a
        fault that has just ended it).  Raises ``LocalProtocolError`` after EOF."""
        if self._eof:
            raise LocalProtocolError("receive_data() called after receive_eof()")
        state = self._state
        if state is self._ENDED or not data:
            return None
        self._last_rx = now
        if state is self._AWAITING_TLS:
            # RFC 6120 5.4.3.3: nothing may follow <proceed/> before the TLS handshake.
            self._fail(
                StreamErrorCondition.POLICY_VIOLATION,
                "data received after <proceed/> before the TLS handshake",
                send=False,
            )
            return None
        try:
            items = self._framing.feed(data)
        except XmlStreamError as exc:
            self._flush_framing()
            if exc.items:
                self._fault = exc
                return list(exc.items)  # type: ignore[arg-type]  # the framing's items
            self._fail(exc.condition, exc.text)
            self._after_stream_fault()
            return None
        self._flush_framing()
        return items  # type: ignore[no-any-return]

    def _end_on_fault(self) -> None:
        """End the stream for the fault :meth:`_admit` held back while the items that
        completed before it were handled (unless handling them ended it already)."""
        fault, self._fault = self._fault, None
        if fault is not None and self._state is not self._ENDED:
            self._fail(fault.condition, fault.text)
            self._after_stream_fault()

    def _after_stream_fault(self) -> None:
        """Called after a framing fault ended the stream (the client notes a checkpoint)."""

    def _flush_framing(self) -> None:
        """Queue what the framing produced on its own (WebSocket handshake answers, pongs,
        close replies)."""
        pending = self._framing.pending()
        if pending:
            self._out.append(pending)

    def _write_stream_error(
        self,
        condition: StreamErrorCondition,
        text: str,
        app_condition: str = "",
        *,
        empty_text: bool,
    ) -> None:
        """RFC 6120 4.9.1.1: the stream error, our stream close, and the transport's close
        (the WebSocket closing handshake; nothing over TCP)."""
        framing = self._framing
        self._out.append(
            framing.frame(stream_error_xml(condition, text, app_condition, empty_text=empty_text))
        )
        self._out.append(framing.close_stream())
        self._out.append(framing.shutdown())
