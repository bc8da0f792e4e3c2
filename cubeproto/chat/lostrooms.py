"""Rooms that forgot us without a word (issue 15): noticed, reported, re-joined.

When the cluster node hosting a room dies, the room comes back empty on another node (or
not at all) and its occupants are not told.  A session learns it in one of two ways:

* one of our groupchats bounces, from the room's bare JID, with a condition of
  :data:`ROOM_LOST_CONDITIONS` (:meth:`LostRooms.after_bounce`);
* a periodic room check (XEP-0410 self-ping, :mod:`cubeproto.chat.roomcheck`) is answered
  as from a room that no longer counts us (:meth:`LostRooms.after_check`).

Either way the application gets :class:`~cubeproto.chat.DialogLost`.  With
``ChatOptions(rejoin_lost_dialogs=True)`` the room is joined again, and a groupchat that
bounced off it (one of the last ``resend_window`` sent, kept by
:meth:`LostRooms.keep_for_resend`) is held until the re-join settles
(:meth:`LostRooms.settle`): sent once more with its original id when we are back in,
reported bounced when the join is refused or the application leaves meanwhile.

:class:`LostRooms` shares the session's record of rooms (joined and pending joins, the
same dictionaries) and reports a bounce through the session's own rule, so that a
delivery status changes in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree

from .._checkpoint import CheckpointError, checked_stanza
from .._records import fast_constructor
from .._stanza_error import parse_stanza_error, stanza_error
from ..commands import HandlerResult, OutboundStanza, StanzaContext
from ..errors import StanzaErrorType
from ..events import Event
from .commands import JoinDialog
from .events import (
    DialogJoined,
    DialogJoinFailed,
    DialogLeft,
    DialogLost,
    DialogMessageResent,
    MessageBounced,
)
from .jid import dialog_id_from_room, parse_jid
from .roomcheck import RoomChecks

__all__ = ["ROOM_LOST_CONDITIONS", "LostRooms"]

#: Conditions with which a room bounces a groupchat of an occupant it forgot, i.e. no
#: longer counts us as an occupant: the room is gone (``item-not-found``), came back empty
#: from the database on another node (``not-acceptable``, ejabberd's "only occupants are
#: allowed to send messages to the conference"), or its service is away
#: (``service-unavailable``).  Measured on a 2-node ejabberd 23.01 cluster
#: (tests/transports/integration/test_cluster.py); any other condition (``forbidden``: we
#: were banned or silenced) is a plain bounce.
ROOM_LOST_CONDITIONS = frozenset({"item-not-found", "not-acceptable", "service-unavailable"})

_new_result = fast_constructor(HandlerResult)
_new_stanza = fast_constructor(OutboundStanza)
_NOTHING = HandlerResult()


@dataclass(frozen=True, slots=True)
class Held:
    """A groupchat that bounced off a lost room, held until the re-join settles."""

    message_id: str
    xml: str
    bounce: MessageBounced


class LostRooms:
    """The lost-room rules of one :class:`~cubeproto.chat.ChatSession`."""

    __slots__ = (
        "_bounced",
        "_checks",
        "_joined",
        "_pending",
        "_resend_window",
        "_resendable",
        "rejoining",
    )

    def __init__(
        self,
        *,
        joined: dict[str, str],
        pending_joins: dict[str, str],
        checks: RoomChecks | None,
        bounced: Callable[[MessageBounced], tuple[Event, ...]],
        resend_window: int,
        rejoin: bool,
    ) -> None:
        #: lower-cased dialog id -> the application's spelling (the session's own dicts)
        self._joined = joined
        self._pending = pending_joins
        self._checks = checks
        #: the session's report of a bounce: the event, then the message's FAILED status
        self._bounced = bounced
        #: rejoin only: message id -> (lower-cased dialog id, stanza) of the last
        #: ``resend_window`` groupchats sent; ``None`` without ``rejoin_lost_dialogs``
        self._resendable: dict[str, tuple[str, str]] | None = {} if rejoin else None
        self._resend_window = resend_window
        #: lower-cased dialog id -> the bounced messages held until its re-join settles
        #: (empty while no room is being re-joined: what the session tests per presence)
        self.rejoining: dict[str, list[Held]] = {}

    def keep_for_resend(self, dialog_id: str, stanza: OutboundStanza) -> None:
        """A groupchat was sent: keep its stanza (the last ``resend_window`` of them) for
        one resend should its room turn out lost."""
        kept = self._resendable
        if kept is None:
            return
        assert stanza.stanza_id is not None
        kept[stanza.stanza_id] = (dialog_id.lower(), stanza.xml)
        while len(kept) > self._resend_window:
            del kept[next(iter(kept))]

    def after_bounce(self, event: MessageBounced, ctx: StanzaContext) -> HandlerResult | None:
        """A groupchat bounced with a condition of :data:`ROOM_LOST_CONDITIONS`: when it
        comes from the bare JID of a room we think we are in (or are re-joining after such
        a loss), the room has forgotten us.  ``None``: not such a bounce."""
        sender = parse_jid(event.from_jid) if event.from_jid else None
        if sender is None or sender.resource or not sender.local:
            return None
        if sender.domain.lower() != ctx.muc_host.lower():
            return None
        dialog = dialog_id_from_room(sender)
        if dialog is None:
            return None
        key = dialog.lower()
        kept = (
            self._resendable.pop(event.message_id, None)
            if (self._resendable is not None and event.message_id is not None)
            else None
        )
        held = None
        if kept is not None and kept[0] == key:
            assert event.message_id is not None
            held = Held(event.message_id, kept[1], event)
        waiting = self.rejoining.get(key)
        if waiting is not None:
            # Another message that bounced off the same lost room (sent before the loss
            # was noticed, or meanwhile): held with the first, or reported as it is.
            if held is not None and len(waiting) < self._resend_window:
                waiting.append(held)
                return _NOTHING
            return _new_result(events=self._reported(event))
        dialog = self._lost(key)
        if dialog is None:
            return None  # not a room we are in: a plain bounce
        rejoin = self._resendable is not None
        lost = DialogLost(
            dialog_id=dialog,
            condition_name=event.error.condition_name,
            message_id=event.message_id,
            rejoining=rejoin,
            resending=held is not None,
        )
        if not rejoin:
            return _new_result(events=(lost, *self._reported(event)))
        join = self._start_rejoin(key, dialog, ctx)
        if held is not None:
            self.rejoining[key].append(held)
            return _new_result(events=(lost,), replies=(join,))
        return _new_result(events=(lost, *self._reported(event)), replies=(join,))

    def after_check(self, element: etree._Element, ctx: StanzaContext) -> HandlerResult | None:
        """An IQ answer: ``None`` if it does not answer one of our room checks; else what
        the check found -- nothing, unless the room no longer counts us as an occupant
        (:data:`~cubeproto.chat.roomcheck.LOST_ANSWERS`): ``DialogLost`` and, with
        ``rejoin_lost_dialogs``, a join presence (see :mod:`cubeproto.chat.roomcheck`)."""
        checks = self._checks
        assert checks is not None
        answer = checks.answer(element)
        if answer is None:
            return None
        key, verdict = answer
        if verdict != "lost":
            return _NOTHING
        dialog = self._lost(key)
        if dialog is None:
            return _NOTHING  # left, or found lost, meanwhile
        rejoin = self._resendable is not None
        lost = DialogLost(
            dialog_id=dialog,
            condition_name=parse_stanza_error(element).condition_name,
            message_id=None,
            rejoining=rejoin,
            resending=False,
            detected_by="room_check",
        )
        if not rejoin:
            return _new_result(events=(lost,))
        return _new_result(events=(lost,), replies=(self._start_rejoin(key, dialog, ctx),))

    def settle(self, events: tuple[Event, ...]) -> HandlerResult:
        """Presence events while rooms are being re-joined after a loss: a join (ours or
        the application's) resends the held messages; a refusal, or a leave, reports them
        bounced."""
        rejoining = self.rejoining
        out: list[Event] = []
        replies: list[OutboundStanza] = []
        for event in events:
            out.append(event)
            if type(event) is DialogJoined:
                key = event.dialog_id.lower()
                for held in rejoining.pop(key, ()):
                    replies.append(
                        _new_stanza(xml=held.xml, stanza_id=held.message_id, countable=True)
                    )
                    out.append(
                        DialogMessageResent(message_id=held.message_id, dialog_id=event.dialog_id)
                    )
            elif type(event) is DialogJoinFailed or type(event) is DialogLeft:
                # refused, or the application left meanwhile: the bounce stands
                for held in rejoining.pop(event.dialog_id.lower(), ()):
                    out.extend(self._bounced(held.bounce))
        return _new_result(events=tuple(out), replies=tuple(replies))

    @property
    def rejoining_dialogs(self) -> frozenset[str]:
        """The lost rooms being joined again (their dialog ids as the application wrote
        them)."""
        return frozenset(self._pending.get(key, key) for key in self.rejoining)

    # -- durability --------------------------------------------------------------------

    def checkpoint_state(self) -> list[dict[str, Any]]:
        """The rooms being re-joined and the groupchats held for them, as JSON data for a
        checkpoint: without them a new process that resumes the session would not know
        it is re-joining those rooms (nor re-join them after a later fresh session), and
        the held messages would be neither resent nor reported.  Each room is
        ``{"dialog": id, "held": [message, ...]}``, each message ``{"message_id",
        "xml", "from", "error": {"condition", "type", "text", "code"}}`` (the stanza
        to resend and the bounce to report should the re-join be refused)."""
        return [
            {
                "dialog": self._pending.get(key, key),
                "held": [_held_data(held) for held in waiting],
            }
            for key, waiting in self.rejoining.items()
        ]

    @staticmethod
    def parse_checkpoint_state(data: Any) -> list[tuple[str, list[Held]]]:
        """:meth:`checkpoint_state`'s data, checked: ``(dialog id, held messages)`` per
        room; :class:`~cubeproto.CheckpointError` if the data is not that shape."""
        if not isinstance(data, list):
            raise CheckpointError("chat state 'rejoining' must be a list")
        rooms: list[tuple[str, list[Held]]] = []
        for index, room in enumerate(data):
            where = f"chat state 'rejoining'[{index}]"
            if not isinstance(room, dict) or set(room) != {"dialog", "held"}:
                raise CheckpointError(f"{where} must be an object with dialog and held")
            dialog, held = room["dialog"], room["held"]
            if not isinstance(dialog, str) or not dialog:
                raise CheckpointError(f"{where}.dialog must be a dialog id")
            if not isinstance(held, list):
                raise CheckpointError(f"{where}.held must be a list")
            rooms.append(
                (dialog, [_held_of(entry, f"{where}.held[{i}]") for i, entry in enumerate(held)])
            )
        return rooms

    def restore(self, rooms: list[tuple[str, list[Held]]]) -> None:
        """Take :meth:`parse_checkpoint_state`'s rooms back (a new process resuming):
        each is a pending join again, its messages held until the join settles."""
        for dialog, held in rooms:
            key = dialog.lower()
            self.rejoining[key] = held
            self._pending.pop(key, None)
            self._pending[key] = dialog

    # -- internals -------------------------------------------------------------------

    def _lost(self, key: str) -> str | None:
        """The room ``key`` forgot us: we are no longer in it (nor is it checked); its
        dialog id, or ``None`` if we were not in it."""
        dialog = self._joined.pop(key, None)
        if dialog is not None and self._checks is not None:
            self._checks.forget(key)
        return dialog

    def _start_rejoin(self, key: str, dialog: str, ctx: StanzaContext) -> OutboundStanza:
        """Re-join a lost room: its join is pending (so that our own presence settles it)
        and messages bouncing off it meanwhile are held; returns the join presence."""
        self.rejoining[key] = []
        self._pending.pop(key, None)
        self._pending[key] = dialog
        return JoinDialog(dialog_id=dialog).build(ctx)

    def _reported(self, event: MessageBounced) -> tuple[Event, ...]:
        """A bounce reported as it is (with the FAILED status when it names a message)."""
        return self._bounced(event) if event.message_id else (event,)


_MESSAGE = frozenset({"message"})
_HELD_FIELDS = frozenset({"message_id", "xml", "from", "error"})
_ERROR_FIELDS = frozenset({"condition", "type", "text", "code"})
_ERROR_TYPES = frozenset(t.value for t in StanzaErrorType)


def _held_data(held: Held) -> dict[str, Any]:
    """A held groupchat as JSON data (:meth:`LostRooms.checkpoint_state`)."""
    error = held.bounce.error
    return {
        "message_id": held.message_id,
        "xml": held.xml,
        "from": held.bounce.from_jid,
        "error": {
            "condition": error.condition_name,
            "type": error.type.value if error.type is not None else None,
            "text": error.text,
            "code": error.code,
        },
    }


def _held_of(data: Any, where: str) -> Held:
    """:func:`_held_data`'s output back as a :class:`Held`, each field checked."""
    if not isinstance(data, dict) or set(data) != _HELD_FIELDS:
        raise CheckpointError(f"{where} must be an object with {', '.join(sorted(_HELD_FIELDS))}")
    message_id, from_jid, error = data["message_id"], data["from"], data["error"]
    if not isinstance(message_id, str) or not message_id:
        raise CheckpointError(f"{where}.message_id must be a message id")
    xml = checked_stanza(data["xml"], f"{where}.xml", _MESSAGE)
    if from_jid is not None and not isinstance(from_jid, str):
        raise CheckpointError(f"{where}.from must be a JID or null")
    if not isinstance(error, dict) or set(error) != _ERROR_FIELDS:
        raise CheckpointError(
            f"{where}.error must be an object with {', '.join(sorted(_ERROR_FIELDS))}"
        )
    condition, kind, text, code = error["condition"], error["type"], error["text"], error["code"]
    if not isinstance(condition, str):
        raise CheckpointError(f"{where}.error.condition must be a string")
    if text is not None and not isinstance(text, str):
        raise CheckpointError(f"{where}.error.text must be a string or null")
    if code is not None and (type(code) is not int or not 0 <= code < 1_000_000):
        raise CheckpointError(f"{where}.error.code must be an error code or null")
    if kind is not None and kind not in _ERROR_TYPES:
        raise CheckpointError(f"{where}.error.type must be an error type or null")
    bounce = MessageBounced(
        message_id=message_id,
        from_jid=from_jid,
        error=stanza_error(condition, kind, text=text, code=code),
    )
    return Held(message_id, xml, bounce)
