"""IQ tracking on the client side: every request we send resolves exactly once (a result,
an error, or a timeout), an answer counts only from where the request went (RFC 6120
10.1), and requests nobody handles get ``service-unavailable``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from ._client_base import (
    _DEAD_TIMER,
    _IQ,
    _PING,
    _SAFE_PARSER,
    ClientParts,
    _PendingIq,
    _ping_xml,
)
from ._stanza_error import error_reply, parse_stanza_error
from ._xmlstream import (
    element_bytes,
    escape_attr,
)
from .commands import UNSTATED, OutboundStanza, Ping, SendIq
from .errors import (
    LocalProtocolError,
    StanzaErrorCondition,
    StanzaErrorType,
)
from .events import (
    IqFailed,
    IqResultReceived,
    IqTimedOut,
    MalformedStanza,
    PingReceived,
    PingTimedOut,
    PongReceived,
)

__all__ = ["IqTracking"]


def _stanza_to(xml: str) -> str | None:
    """The ``to`` of a built IQ request whose builder did not state it
    (``OutboundStanza.to`` left ``UNSTATED``), so that its answer is checked against it:
    the one place the client parses XML it built (every builder in cubeproto states it)."""
    try:
        return etree.fromstring(xml, parser=_SAFE_PARSER).get("to")
    except (etree.XMLSyntaxError, ValueError):
        return None


class IqTracking(ClientParts):
    """The IQ part of :class:`~cubeproto._connection.ClientConnection`."""

    if not TYPE_CHECKING:  # the slots are ClientConnection's; a mixin adds none
        __slots__ = ()

    def _check_iq_capacity(self) -> None:
        if len(self._pending) >= self._config.max_pending_iqs:
            raise LocalProtocolError(
                f"{len(self._pending)} IQs are outstanding (max_pending_iqs); "
                "wait for answers before sending more"
            )

    def _track_request(self, stanza: OutboundStanza, now: float) -> None:
        """Track a built IQ request (one with a ``result_parser``) until it resolves.
        Raises ``LocalProtocolError``, having changed nothing, when it cannot be sent."""
        iq_id = stanza.stanza_id
        if not iq_id:
            raise LocalProtocolError("an IQ request needs an id")
        self._check_iq_capacity()
        to = stanza.to
        if to is UNSTATED:
            to = _stanza_to(stanza.xml)
        self._track_iq(
            iq_id, _PendingIq("stanza", to, now, stanza.timeout, stanza.result_parser), now
        )

    def _send_ping(self, command: Ping, now: float) -> str:
        """XEP-0199 ping, tracked until the pong or the timeout; returns its id."""
        self._check_iq_capacity()
        iq_id = self._ids.iq_id("ping")
        to = command.to or self._config.chat_host
        self._track_iq(iq_id, _PendingIq("ping", to, now, command.timeout), now)
        self._send_stanza(_ping_xml(iq_id, to), _IQ, iq_id, countable=False, now=now)
        return iq_id

    def _send_iq(self, command: SendIq, now: float) -> str:
        """The application's own IQ request (the escape hatch); returns its id."""
        self._check_payload(command.payload)
        self._check_iq_capacity()
        iq_id = self._ids.iq_id(command.purpose)
        to_attr = f' to="{escape_attr(command.to)}"' if command.to else ""
        xml = f'<iq type="{command.type}" id="{iq_id}"{to_attr}>{command.payload}</iq>'
        self._check_size(xml)
        self._track_iq(iq_id, _PendingIq("user", command.to, now, command.timeout), now)
        self._send_stanza(xml, _IQ, iq_id, countable=False, now=now)
        return iq_id

    def _track_iq(self, iq_id: str, pending: _PendingIq, now: float) -> None:
        self._pending[iq_id] = pending
        if pending.timeout is not None:
            self._timers.set(("iq", iq_id), now + pending.timeout)

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
            _IQ,
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
                    _IQ,
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
