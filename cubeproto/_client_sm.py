"""Stream management on the client side (XEP-0198): enabling, answering and asking for
acks, resumption and its failure, what is lost, rejected or unconfirmed, and the
checkpoint that lets another process resume.

The counters and the queue of unacknowledged stanzas are
:class:`cubeproto._sm.StreamManagement`; this part decides what the server's
``<enabled/>``, ``<a/>``, ``<resumed/>`` and ``<failed/>`` mean for the messages we sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lxml import etree

from ._checkpoint import Checkpoint, CheckpointError
from ._client_base import (
    _ACK_TIMER,
    _CHECKPOINT_CHANGED,
    _CLOSED,
    _STREAM_CONDITIONS,
    ClientParts,
)
from ._framing import read_stanza_name_end
from ._sm import MOD, AckError, Unacked
from ._state import (
    Input,
    StreamState,
    transition,
)
from ._stream import (
    NS_SM,
)
from ._wire import parse_uint, split_tag
from .commands import ResultParser, StanzaHandler
from .config import ClientConfig
from .errors import (
    LocalProtocolError,
    StreamErrorCondition,
)
from .events import (
    CloseReason,
    Connected,
    ConnectionClosed,
    ConnectionDead,
    LostReason,
    MessageLost,
    MessageRejected,
    MessageSent,
    MessageUnconfirmed,
    ResumeFailed,
    StreamManagementEnabled,
    StreamResumed,
)

__all__ = ["ClientStreamManagement", "ResumableSession", "restored_handler"]


def restored_handler(config: ClientConfig, checkpoint: Checkpoint) -> StanzaHandler | None:
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
            unacked=tuple(
                # a checkpoint keeps the XML alone: its stanzas are read once, here
                Unacked(xml, mid, read_stanza_name_end(xml) or 0)
                for xml, mid in checkpoint.unacked
            ),
            lost_reported=frozenset(),
            pending_iqs=(),
            handler=handler,
            poison_strikes=checkpoint.poison_strikes,
            poison_condition=condition,
            made_from_checkpoint=True,
        )


class ClientStreamManagement(ClientParts):
    """The stream-management part of :class:`~cubeproto._connection.ClientConnection`."""

    if not TYPE_CHECKING:  # the slots are ClientConnection's; a mixin adds none
        __slots__ = ()

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
            self._out.append(self._framing.frame_stanza(item.xml, item.name_end))
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
                app_condition=exc.handled_count_too_high(self._sm.outbound_h),
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
            **sm.saved(),
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
