"""Stream management on the server side (XEP-0198): enabling, counting what the client
sent, asking for and applying acks, and handing a cut session to the application
(:meth:`detach`) for a later stream to resume (:meth:`accept_resume`).

The counters and the queue are :class:`cubeproto._sm.StreamManagement`, as on the client
side (``_client_sm.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from lxml import etree

from ._framing import read_stanza_name_end
from ._server_base import (
    _ACK_TIMER,
    _NEGOTIATION_TIMER,
    _R,
    ClientResumed,
    DetachedSession,
    ResumeRequested,
    ServerParts,
    SmEnabled,
)
from ._server_state import ServerInput, ServerState, server_transition
from ._sm import MOD, AckError, StreamManagement
from ._stream import (
    NS_SM,
)
from ._xmlstream import (
    escape_attr,
)
from .errors import (
    NS_STANZAS,
    LocalProtocolError,
    StreamErrorCondition,
)

__all__ = ["ServerStreamManagement"]


class ServerStreamManagement(ServerParts):
    """The stream-management part of :class:`~cubeproto._server_connection.ServerConnection`."""

    if not TYPE_CHECKING:  # a mixin adds no slots
        __slots__ = ()

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
        sm = StreamManagement.resumed(session)
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
            self._out.append(self._framing.frame_stanza(item.xml, item.name_end))
        for xml in extra:  # given whole by the application: read once, here
            self._send_counted(xml, read_stanza_name_end(xml) or 0)
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
            **sm.saved(),
        )

    def unacked_stanzas(self) -> list[str]:
        """Stanzas sent with stream management that the client has not acknowledged
        (what a server stores offline when the session ends for good)."""
        return [item.xml for item in self._sm.unacked] if self._sm is not None else []

    def _send_counted(self, xml: str, name_end: int) -> None:
        """Queue one stanza (``name_end``: see ``Framing.frame_stanza``) and count it
        for stream management."""
        self._out.append(self._framing.frame_stanza(xml, name_end))
        sm = self._sm
        if sm is not None:
            sm.sent(xml, None, name_end)
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
                app_condition=exc.handled_count_too_high(self._sm.outbound_h),
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
