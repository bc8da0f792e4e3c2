"""``ChatSession``: the chat layer's :class:`~cubeproto.commands.StanzaHandler`.

The connection hands it every inbound ``<message>``, ``<presence>`` and ``<iq>`` it did
not consume, tells it what was sent and what stream management settled; the session
answers with chat events and reply stanzas.  It owns the chat layer's only state, all of
it bounded:

* the duplicate-suppression window (:mod:`cubeproto.chat.dedup`),
* the delivery tracker (:mod:`cubeproto.chat.delivery`),
* in the end-to-end mode, the 1-1 messages waiting for their receiver's marker
  (:mod:`cubeproto.chat.endtoend`),
* the rooms we asked to join or joined (bounded by what the application joins),
* with ``ChatOptions(rejoin_lost_dialogs=True)``: the last ``resend_window`` groupchats
  sent (for one resend after their room was lost) and the ones held meanwhile;
* with ``ChatOptions(room_check_interval=...)``: the schedule of the periodic room
  checks and the checks in flight (:mod:`cubeproto.chat.roomcheck`, at most two per room).

A room can forget us without telling us (the cluster node hosting it died): our next
groupchat bounces.  The session notices (:class:`~cubeproto.chat.DialogLost`) and, when
the application opted in, re-joins the room and resends the bounced message once.  An
occupant that only listens sends nothing that could bounce: with ``room_check_interval``
it asks each room, periodically, whether it still counts us as an occupant (XEP-0410
self-ping) and reports a loss the same way.

``handle_stanza`` never raises for peer input: a malformed stanza becomes
:class:`~cubeproto.events.MalformedStanza` with its raw bytes, and the stream goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from .._checkpoint import CheckpointError
from .._records import fast_constructor
from .._xmlstream import element_bytes
from ..commands import HandlerResult, OutboundStanza, StanzaCommand, StanzaContext
from ..errors import LocalProtocolError
from ..events import Event, MalformedStanza, UnhandledStanza
from . import _ns as ns
from ._escape import attr as escape_attr
from ._escape import plain
from ._escape import text as escape_text
from ._fault import StanzaFault
from .activity import classify_iq
from .classify import Identity, classify_message
from .commands import (
    ClientStateMode,
    JoinDialog,
    LeaveDialog,
    SendMessage,
    SendSystemMessage,
    SetClientState,
)
from .dedup import DEFAULT_DEDUP_WINDOW, ConfirmedDedup, DedupWindow
from .delivery import DEFAULT_DELIVERY_WINDOW, DeliveryTracker
from .endtoend import ConfirmationTracker, EndToEnd
from .events import (
    ChatStateChanged,
    DeliveryStatus,
    DialogJoined,
    DialogJoinFailed,
    DialogLeft,
    MessageBounced,
    MessageDeleted,
    MessageDelivered,
    MessageEdited,
    MessageRead,
    MessageReceived,
    OccupantJoined,
    OccupantLeft,
    ReactionsChanged,
    SystemMessageReceived,
)
from .jid import user_jid
from .lostrooms import ROOM_LOST_CONDITIONS, LostRooms
from .muc import classify_presence
from .roomcheck import RoomChecks

__all__ = ["MAX_PENDING_JOINS", "ROOM_LOST_CONDITIONS", "ChatOptions", "ChatSession"]

#: Joins we wait for at once; beyond this the oldest pending join is forgotten (its
#: answer still arrives as DialogJoined/DialogJoinFailed, found by the room JID).
MAX_PENDING_JOINS = 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatOptions:
    """Chat-layer settings.

    * ``auto_delivered_receipts``: answer every incoming message from someone else that
      carries a dialog id with a delivered marker, as the SDK does (carbon copies are not
      answered: the device that received the message answers).
    * ``dedup_window``: message ids remembered for duplicate suppression.
    * ``delivery_window``: sent messages whose delivery status is tracked.
    * ``mark_active_mode``: how :meth:`ChatSession.client_state` marks us active/inactive:
      ``mobile`` (the SDK's Tigase IQ), ``csi`` (XEP-0352) or ``auto`` (CSI when the server
      advertises ``urn:xmpp:csi:0``).
    * ``rejoin_lost_dialogs``: when a room we joined bounces our groupchat as from a
      non-occupant (:data:`ROOM_LOST_CONDITIONS`: its node died), join it again and send
      the bounced message once more, with its original id (:class:`DialogLost`).  Meant
      for persistent rooms (group dialogs): a room that is really gone refuses the join,
      and the message is then reported bounced.  Off: the loss is reported, nothing sent.
    * ``resend_window``: with ``rejoin_lost_dialogs``, how many of the last groupchats
      sent are kept (their stanza) for that one resend; a bounce of an older one is
      reported as it is.  A bounce follows its message within a round trip to the room.
    * ``end_to_end``: the end-to-end delivery mode for 1-1 chat
      (:class:`~cubeproto.chat.endtoend.EndToEnd`; ``None``, the default: off).  As a
      sender: every ``SendMessage(to_user=..., dialog_id=..., markable=True)`` is sent
      again with its id until its receiver's marker comes, and ends as
      ``DeliveryConfirmed`` or ``DeliveryNotConfirmed``.  As a receiver: a duplicate of a
      message we already reported is answered with a delivered marker again (not
      reported again), since the sender resends when our first marker was lost.
    * ``room_check_interval``: seconds between two checks of every joined room (XEP-0410
      self-ping, :mod:`cubeproto.chat.roomcheck`; ``None``, the default: no checks).
      An occupant that only listens learns this way, at most an interval and a round
      trip after it happened, that a room forgot it (its cluster node died):
      :class:`DialogLost` with ``detected_by="room_check"``, and with
      ``rejoin_lost_dialogs`` a re-join.  An answer that says nothing sure (another
      error, none before the next check) reports nothing; the room is checked again.
      Each check is one IQ per room and interval: a few minutes is the usual choice
      (Profanity recommends 5 to 15 minutes); shorter notices a loss sooner at that cost.
    """

    auto_delivered_receipts: bool = True
    dedup_window: int = DEFAULT_DEDUP_WINDOW
    delivery_window: int = DEFAULT_DELIVERY_WINDOW
    mark_active_mode: ClientStateMode = "auto"
    rejoin_lost_dialogs: bool = False
    resend_window: int = 64
    end_to_end: EndToEnd | None = None
    room_check_interval: float | None = None

    def __post_init__(self) -> None:
        if self.dedup_window < 1 or self.delivery_window < 1:
            raise LocalProtocolError("the dedup and delivery windows hold at least one id")
        if self.resend_window < 1:
            raise LocalProtocolError("the resend window holds at least one message")
        if self.mark_active_mode not in ("auto", "mobile", "csi"):
            raise LocalProtocolError(f"mark_active_mode: {self.mark_active_mode!r}")
        interval = self.room_check_interval
        if interval is not None and not (
            isinstance(interval, (int, float)) and 0 < interval < float("inf")
        ):
            raise LocalProtocolError(
                f"room_check_interval must be a positive number of seconds: {interval!r}"
            )


_new_result = fast_constructor(HandlerResult)
_new_stanza = fast_constructor(OutboundStanza)
#: The result of a stanza that leads to nothing (shared: it is immutable).
_NOTHING = HandlerResult()

_STATUS_VALUES = frozenset(status.value for status in DeliveryStatus)

_TOP_MESSAGE = frozenset({"message", "{jabber:client}message"})
_TOP_PRESENCE = frozenset({"presence", "{jabber:client}presence"})
_TOP_IQ = frozenset({"iq", "{jabber:client}iq"})
#: IQ types that answer a request (one of ours may be a room check).
_ANSWER_TYPES = frozenset({"result", "error"})


class ChatSession:
    """The chat layer of one client session (implements ``StanzaHandler``)."""

    __slots__ = (
        "_checks",
        "_confirm",
        "_dedup",
        "_delivery",
        "_identity",
        "_joined",
        "_lost",
        "_pending_joins",
        "_receipt_to_suffix",
        "_rejoining",
        "options",
    )

    def __init__(self, options: ChatOptions | None = None) -> None:
        self.options = options if options is not None else ChatOptions()
        self._dedup: DedupWindow | ConfirmedDedup = DedupWindow(self.options.dedup_window)
        self._delivery = DeliveryTracker(self.options.delivery_window)
        end_to_end = self.options.end_to_end
        self._confirm = ConfirmationTracker(end_to_end) if end_to_end is not None else None
        interval = self.options.room_check_interval
        self._checks = RoomChecks(interval) if interval is not None else None
        self._identity: Identity | None = None
        #: The end of our receipts' recipient JIDs (see _user_jid_suffix), made on the
        #: first receipt.  It depends on who we are -- our JID, which names our app id
        #: and chat host too -- so it is forgotten when that changes (see _me).
        self._receipt_to_suffix: str | None = None
        # lower-cased dialog id -> the application's spelling
        self._pending_joins: dict[str, str] = {}
        self._joined: dict[str, str] = {}
        #: rooms that forgot us (:mod:`cubeproto.chat.lostrooms`), sharing the two above
        self._lost = LostRooms(
            joined=self._joined,
            pending_joins=self._pending_joins,
            checks=self._checks,
            bounced=self._bounced,
            resend_window=self.options.resend_window,
            rejoin=self.options.rejoin_lost_dialogs,
        )
        #: the lost rooms being re-joined (the LostRooms dict, tested per presence)
        self._rejoining = self._lost.rejoining

    # -- StanzaHandler ---------------------------------------------------------------

    def handle_stanza(self, element: etree._Element, ctx: StanzaContext) -> HandlerResult:
        """Classify one inbound stanza; never raises for peer input."""
        tag = element.tag
        try:
            if tag in _TOP_MESSAGE:
                me = self._identity
                if me is None or me.full_jid != ctx.jid or me.user_id != ctx.user_id:
                    me = self._me(ctx)
                events = classify_message(element, me)
                if len(events) == 1:  # the usual case: no list to merge
                    return self._follow(events[0], events, me, ctx)
                return self._follow_up(events, me, ctx) if events else _NOTHING
            if tag in _TOP_PRESENCE:
                events = self._presence(element, ctx)
                if self._rejoining:
                    return self._lost.settle(events)
                return _new_result(events=events)
            if tag in _TOP_IQ:
                if self._checks is not None and element.get("type") in _ANSWER_TYPES:
                    checked = self._lost.after_check(element, ctx)
                    if checked is not None:
                        return checked
                events, replies = classify_iq(element)
                return _new_result(events=events, replies=replies)
        except StanzaFault as fault:
            return _new_result(events=(_malformed(element, str(fault)),))
        except LocalProtocolError as exc:  # a reply we could not build from peer values
            return _new_result(events=(_malformed(element, f"cannot answer: {exc}"),))
        return _new_result(events=(UnhandledStanza.of_element(element),))

    def stanza_sent(self, command: StanzaCommand, stanza: OutboundStanza) -> Sequence[Event]:
        """Start tracking what was sent: a message's delivery status, a pending join."""
        if isinstance(command, (SendMessage, SendSystemMessage)) and stanza.stanza_id:
            if (
                self.options.rejoin_lost_dialogs
                and type(command) is SendMessage
                and command.to_dialog is not None
            ):
                self._lost.keep_for_resend(command.to_dialog, stanza)
            return self._delivery.queued(stanza.stanza_id)
        if isinstance(command, JoinDialog):
            key = command.dialog_id.lower()
            self._pending_joins.pop(key, None)
            self._pending_joins[key] = command.dialog_id
            while len(self._pending_joins) > MAX_PENDING_JOINS:
                del self._pending_joins[next(iter(self._pending_joins))]
        elif isinstance(command, LeaveDialog):
            key = command.dialog_id.lower()
            self._pending_joins.pop(key, None)
            if self._checks is not None:
                self._checks.leave_sent(key)
        return ()

    def stanza_sent_at(
        self, command: StanzaCommand, stanza: OutboundStanza, now: float
    ) -> Sequence[Event]:
        """:meth:`stanza_sent` with the time of the send (the connection calls this one
        when it exists): in the end-to-end mode a 1-1 message that asks for a marker is
        tracked from ``now`` on."""
        events = self.stanza_sent(command, stanza)
        confirm = self._confirm
        if (
            confirm is not None
            and type(command) is SendMessage
            and command.to_user is not None
            and command.markable
            and command.dialog_id is not None
            and stanza.stanza_id
        ):
            outcomes = confirm.sent(stanza.stanza_id, stanza.xml, now)
            if outcomes:
                return [*events, *outcomes]
        return events

    def next_deadline(self) -> float | None:
        """When :meth:`deadline_reached` must be called next (the connection's
        ``get_timer`` includes it while a session is ready), or ``None``."""
        confirm = self._confirm
        ours = None if confirm is None else confirm.next_deadline()
        checks = self._checks
        if checks is None:
            return ours
        theirs = checks.next_deadline(bool(self._joined))
        if theirs is None or (ours is not None and ours <= theirs):
            return ours
        return theirs

    def deadline_reached(self, now: float, ctx: StanzaContext) -> HandlerResult:
        """The end-to-end deadlines due at ``now``: messages to send again (replies,
        written with their original ids; their stream-management acks are not reported
        again, the receiver's marker is what counts) and ``DeliveryNotConfirmed`` for
        those out of attempts.  Called only while a session is ready, so that a resend
        due during a disconnection goes out on the next session, resumed or fresh."""
        confirm = self._confirm
        checks = self._checks
        pings: tuple[OutboundStanza, ...] = ()
        if checks is not None and self._joined:
            pings = checks.due(now, list(self._joined.values()), ctx)
        if confirm is None:
            return _new_result(events=(), replies=pings) if pings else _NOTHING
        outcomes, resends = confirm.due(now)
        replies = tuple(_new_stanza(xml=xml, stanza_id=None, countable=True) for _, xml in resends)
        return _new_result(events=tuple(outcomes), replies=replies + pings)

    @property
    def keep_across_sessions(self) -> bool:
        """Whether a :class:`~cubeproto.reconnect.Supervisor` gives this session to the
        next connection even when the old session cannot be resumed (the end-to-end
        mode: its pending messages must still be resent and get their outcome)."""
        return self._confirm is not None

    @property
    def awaiting_confirmation(self) -> int:
        """End-to-end mode: how many messages wait for their receiver's marker."""
        return 0 if self._confirm is None else len(self._confirm)

    def message_acked(self, message_id: str) -> Sequence[Event]:
        """Stream management acknowledged the message: ``SENT``."""
        return self._delivery.advance(message_id, DeliveryStatus.SENT)

    def message_lost(self, message_id: str) -> Sequence[Event]:
        """Stream management gave the message up: ``FAILED``."""
        return self._delivery.advance(message_id, DeliveryStatus.FAILED)

    def message_unconfirmed(self, message_id: str) -> Sequence[Event]:
        """Nobody knows whether the message arrived: its status stays where it was (a
        later marker can still prove it delivered)."""
        return ()

    # -- durability (issue 12) -------------------------------------------------------

    def defer_dedup_until_confirmed(self, ctx: Any) -> Callable[[int], None]:
        """Called by a connection with ``app_controlled_acks``: count message ids as
        seen only once their stanzas are confirmed (``ctx.inbound_seq`` numbers them);
        returns the hook the connection calls with the confirmed sequence number.  A new
        connection calling it again drops what was pending on the old one."""
        dedup = self._dedup
        if isinstance(dedup, ConfirmedDedup):
            dedup.reset(ctx)
        else:
            dedup = self._dedup = ConfirmedDedup(dedup, ctx)
        return dedup.confirmed

    def checkpoint_state(self) -> dict[str, Any]:
        """The durable state for a checkpoint (JSON data): the confirmed
        duplicate-suppression ids, the tracked delivery statuses and the joined dialogs,
        oldest first; in the end-to-end mode also the messages waiting for their
        receiver's marker (``end_to_end``: ``[id, stanza XML, sends]``); while lost rooms
        are being joined again, those rooms and the groupchats held for them
        (``rejoining``, :meth:`LostRooms.checkpoint_state
        <cubeproto.chat.lostrooms.LostRooms.checkpoint_state>`)."""
        dedup = self._dedup
        window = dedup.window if isinstance(dedup, ConfirmedDedup) else dedup
        state: dict[str, Any] = {
            "dedup": list(window),
            "delivery": [[mid, status.value] for mid, status in self._delivery.items()],
            "joined": sorted(self._joined.values()),
        }
        if self._confirm is not None:
            # End-to-end mode: the messages still waiting for their receiver's marker.
            state["end_to_end"] = [list(item) for item in self._confirm.items()]
        if self._rejoining:
            state["rejoining"] = self._lost.checkpoint_state()
        return state

    def restore_checkpoint_state(self, data: Any) -> None:
        """Take :meth:`checkpoint_state`'s data back (a new process resuming);
        :class:`~cubeproto.CheckpointError` if it is not that shape.  Messages waiting
        for their receiver's marker (``end_to_end``) are resent on the first ready session
        when this session is in the end-to-end mode, and forgotten when it is not."""
        keys = set(data) if isinstance(data, dict) else set()
        if not isinstance(data, dict) or keys - _OPTIONAL_STATE != {"dedup", "delivery", "joined"}:
            raise CheckpointError(
                "chat state must be an object with dedup, delivery, joined (and "
                "end_to_end, rejoining)"
            )
        pending = _pending_of(data.get("end_to_end", []))
        rejoining = LostRooms.parse_checkpoint_state(data.get("rejoining", []))
        dedup, delivery, joined = data["dedup"], data["delivery"], data["joined"]
        if not isinstance(dedup, list) or not all(isinstance(k, str) for k in dedup):
            raise CheckpointError("chat state 'dedup' must be a list of message ids")
        if not isinstance(joined, list) or not all(isinstance(k, str) and k for k in joined):
            raise CheckpointError("chat state 'joined' must be a list of dialog ids")
        statuses: list[tuple[str, DeliveryStatus]] = []
        if not isinstance(delivery, list):
            raise CheckpointError("chat state 'delivery' must be a list")
        for entry in delivery:
            if (
                not isinstance(entry, list)
                or len(entry) != 2
                or not isinstance(entry[0], str)
                or entry[1] not in _STATUS_VALUES
            ):
                raise CheckpointError(f"chat state 'delivery' entry {entry!r} is invalid")
            statuses.append((entry[0], DeliveryStatus(entry[1])))
        window = self._dedup.window if isinstance(self._dedup, ConfirmedDedup) else self._dedup
        window.extend(dedup)
        self._delivery.restore(statuses)
        if self._confirm is not None:
            self._confirm.restore(pending)
        self._lost.restore(rejoining)
        for dialog_id in joined:
            self._joined[dialog_id.lower()] = dialog_id

    # -- helpers for the application -------------------------------------------------

    def client_state(self, active: bool) -> SetClientState:
        """The markActive/markInactive command in the configured mode."""
        return SetClientState(active=active, mode=self.options.mark_active_mode)

    def delivery_status(self, message_id: str) -> DeliveryStatus | None:
        """The tracked delivery status of a message we sent, if still remembered."""
        return self._delivery.status(message_id)

    @property
    def joined_dialogs(self) -> frozenset[str]:
        """Dialogs we joined (and did not leave) on this session."""
        return frozenset(self._joined.values())

    @property
    def rejoining_dialogs(self) -> frozenset[str]:
        """Dialogs whose room forgot us (``DialogLost``) and that are being joined again."""
        return self._lost.rejoining_dialogs

    def fresh_session(self) -> None:
        """The server refused to resume and a fresh session replaces the old one: it is
        in no room any more, so joins (the automatic re-joins among them) report
        ``DialogJoined`` again.  Called by :class:`~cubeproto.reconnect.Supervisor`.
        The periodic room checks start again with the re-joins; no check is in flight
        on the new session."""
        self._joined.clear()
        self._pending_joins.clear()
        if self._checks is not None:
            self._checks.reset()

    # -- internals -------------------------------------------------------------------

    def _me(self, ctx: StanzaContext) -> Identity:
        identity = self._identity
        if identity is None or identity.full_jid != ctx.jid or identity.user_id != ctx.user_id:
            identity = self._identity = Identity.from_jid(ctx.jid, ctx.user_id)
            self._receipt_to_suffix = None
        return identity

    def _follow_up(
        self, events: tuple[Event, ...], me: Identity, ctx: StanzaContext
    ) -> HandlerResult:
        """The session's part for any number of classified message events: what
        :meth:`_follow` makes of each, in order."""
        if len(events) == 1:
            return self._follow(events[0], events, me, ctx)
        out: list[Event] = []
        replies: list[OutboundStanza] = []
        for event in events:
            result = self._follow(event, (event,), me, ctx)
            out += result.events
            replies += result.replies
        return _new_result(events=tuple(out), replies=tuple(replies))

    def _follow(
        self, event: Event, alone: tuple[Event, ...], me: Identity, ctx: StanzaContext
    ) -> HandlerResult:
        """The session's rules for one classified message event (the one place they are
        written): duplicate suppression, the automatic delivered receipt, delivery
        statuses.  ``alone`` is ``(event,)``, passed in so that an event reported as it
        is costs no new tuple (the inbound hot path: most stanzas are messages).  The
        common kinds are tested first."""
        if type(event) is MessageReceived:
            message_id = event.message_id
            if message_id is None:
                return _new_result(events=alone, replies=())
            first = self._dedup.first_time(message_id)
            if not first and self._confirm is None:
                return _NOTHING
            sender_id = event.sender_id
            if (
                sender_id is not None
                and event.dialog_id is not None
                and event.carbon is None
                and sender_id != me.user_id
                and self.options.auto_delivered_receipts
            ):
                receipt = self._delivered_receipt(event, ctx)
                # A duplicate (end-to-end mode): the sender resent it because our first
                # marker did not reach it; answer again, report nothing.
                return _new_result(events=alone if first else (), replies=(receipt,))
            return _new_result(events=alone, replies=()) if first else _NOTHING
        kind = type(event)
        if kind in _AS_THEY_ARE:
            return _new_result(events=alone, replies=())
        if type(event) is MessageDelivered or type(event) is MessageRead:
            if event.user_id != me.user_id:
                status = (
                    DeliveryStatus.DELIVERED
                    if type(event) is MessageDelivered
                    else DeliveryStatus.READ
                )
                changes: Sequence[Event] = self._delivery.advance(event.message_id, status)
                if self._confirm is not None:
                    changes = [*changes, *self._confirm.marker(event.message_id)]
                if changes:
                    return _new_result(events=(event, *changes), replies=())
            return _new_result(events=alone, replies=())
        if type(event) is MessageEdited:
            if event.edit_id is not None and not self._dedup.first_time(event.edit_id):
                return _NOTHING
        elif type(event) is SystemMessageReceived:
            if event.message_id is not None and not self._dedup.first_time(event.message_id):
                return _NOTHING
        elif type(event) is MessageBounced:
            if event.error.condition_name in ROOM_LOST_CONDITIONS:
                lost = self._lost.after_bounce(event, ctx)
                if lost is not None:
                    return lost
            if event.message_id is not None:
                if self._confirm is not None:
                    self._confirm.bounced(event.message_id)
                return _new_result(events=self._bounced(event), replies=())
        return _new_result(events=alone, replies=())

    def _presence(self, element: etree._Element, ctx: StanzaContext) -> tuple[Event, ...]:
        known = {**self._joined, **self._pending_joins} if self._pending_joins else self._joined
        events = classify_presence(element, self._me(ctx), known)
        if len(events) == 1 and type(events[0]) in _AS_THEY_ARE:
            return events  # occupants coming and going, other presences: the usual case
        out: list[Event] = []
        for event in events:
            if isinstance(event, DialogJoined):
                key = event.dialog_id.lower()
                was_pending = self._pending_joins.pop(key, None) is not None
                if key in self._joined:
                    continue  # a repeated self-presence (e.g. a role change)
                if was_pending:
                    self._joined[key] = event.dialog_id
                    if self._checks is not None:
                        self._checks.joined(key)
            elif isinstance(event, DialogJoinFailed):
                self._pending_joins.pop(event.dialog_id.lower(), None)
            elif isinstance(event, DialogLeft):
                key = event.dialog_id.lower()
                self._joined.pop(key, None)
                if self._checks is not None:
                    self._checks.left(key)
            out.append(event)
        return tuple(out)

    def _bounced(self, event: MessageBounced) -> tuple[Event, ...]:
        """A bounce reported as it is: the event, then the message's FAILED status."""
        assert event.message_id is not None
        return (event, *self._delivery.advance(event.message_id, DeliveryStatus.FAILED))

    def _delivered_receipt(self, event: MessageReceived, ctx: StanzaContext) -> OutboundStanza:
        """The SDK's automatic delivered marker: exactly what ``SendMarker(kind=RECEIVED,
        message_id, to_user=sender, dialog_id)`` builds, written directly -- it answers
        most inbound messages, so it is on the hot path.

        Nothing is remembered per sender or dialog: a session hears from thousands of
        (sender, dialog) pairs, and a bounded table of them missed most of the time on a
        stream with a realistic skew (bench/README.md).  The recipient's JID is the
        sender's id (digits: nothing to escape) followed by a suffix that depends only on
        who we are, made once; the three values from the peer and the connection are
        checked for escaping in one test.  Values are escaped in the order ``SendMarker``
        escapes them (id, marked id, dialog id), so a value that cannot be written fails
        the same way."""
        sender_id, dialog, marked = event.sender_id, event.dialog_id, event.message_id
        assert sender_id is not None and dialog is not None and marked is not None
        mid = ctx.new_message_id()
        id_attr = mid
        values = mid + marked + dialog
        # Letters and digits need no escaping, and for the usual ASCII ids the bytes'
        # isalnum (a table lookup per character) is much cheaper than the str tests.
        escaped = (values.isascii() and values.encode().isalnum()) or plain(values)
        if not escaped:
            id_attr, marked = escape_attr(mid), escape_attr(marked)
        to_suffix = self._receipt_to_suffix
        if to_suffix is None:
            to_suffix = self._receipt_to_suffix = _user_jid_suffix(ctx)
        if not escaped:
            dialog = escape_text(dialog)
        return _new_stanza(
            xml=f'<message type="chat" id="{id_attr}" to="{sender_id}{to_suffix}">'
            f'<received xmlns="{ns.MARKERS}" id="{marked}"/><extraParams xmlns="jabber:client">'
            f"<dialog_id>{dialog}</dialog_id></extraParams></message>",
            stanza_id=mid,
            kind="message",
        )


#: The parts of a checkpoint's chat state that only some sessions have.
_OPTIONAL_STATE = frozenset({"end_to_end", "rejoining"})


def _pending_of(data: Any) -> list[tuple[str, str, int]]:
    """The ``end_to_end`` part of a checkpoint's chat state: ``[message id, stanza XML,
    sends]`` entries, each checked (:class:`~cubeproto.CheckpointError` otherwise)."""
    if not isinstance(data, list):
        raise CheckpointError("chat state 'end_to_end' must be a list")
    pending: list[tuple[str, str, int]] = []
    for entry in data:
        if (
            not isinstance(entry, list)
            or len(entry) != 3
            or not isinstance(entry[0], str)
            or not entry[0]
            or not isinstance(entry[1], str)
            or not entry[1].startswith("<message")
            or type(entry[2]) is not int
            or entry[2] < 1
        ):
            raise CheckpointError(f"chat state 'end_to_end' entry {entry!r} is invalid")
        pending.append((entry[0], entry[1], entry[2]))
    return pending


def _user_jid_suffix(ctx: StanzaContext) -> str:
    """What follows the user id in every user JID of our app and chat host
    (``-{app id}@{chat host}``), escaped as an attribute value.  Made by
    :func:`~cubeproto.chat.jid.user_jid` itself (which checks the app id and prepares the
    host) for user 1, minus the ``1``: a user id is digits, which need no escaping, so
    ``f"{user_id}{suffix}"`` is the escaped JID of any user."""
    return escape_attr(user_jid(1, ctx.app_id, ctx.chat_host)[1:])


#: Events that the session reports exactly as classification made them.
_AS_THEY_ARE = frozenset(
    {
        ChatStateChanged,
        MessageDeleted,
        ReactionsChanged,
        OccupantJoined,
        OccupantLeft,
        UnhandledStanza,
        MalformedStanza,
    }
)


def _malformed(element: etree._Element, reason: str) -> MalformedStanza:
    return MalformedStanza(raw=element_bytes(element), reason=reason)
