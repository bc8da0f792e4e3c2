"""The periodic room check (XEP-0410 MUC Self-Ping): a client that only listens notices
a room that forgot it (issue 15).

A room can forget its occupants without a word -- the cluster node hosting it was
SIGKILLed and the room came back empty on another node, or is gone.  An occupant that
sends learns it from its groupchat's bounce; one that only listens would never learn it.
With ``ChatOptions(room_check_interval=...)`` the session pings its own occupant JID in
every joined room once per interval::

    <iq type="get" id="{uuid}:selfping" to="room@service/{our user id}">
      <ping xmlns="urn:xmpp:ping"/></iq>

and reads the answer as XEP-0410 (3.2) says and as ejabberd 23.01 and the local server
answer (how ConnectyCube's cloud answers is not measured):

* ``result`` -- still an occupant;
* error ``service-unavailable`` or ``feature-not-implemented`` -- still an occupant (the
  room forwarded the ping to one of our clients, which does not answer pings);
* error ``not-acceptable`` -- not an occupant any more (ejabberd 23.01's self-ping
  optimization in ``mod_muc_room``: "Only occupants are allowed to send queries");
* error ``item-not-found`` -- the room does not exist any more (ejabberd's answer to an
  IQ for a missing room).  XEP-0410 reads it as "joined, but the nick just changed"; a
  ConnectyCube nick is the user id and never changes, so here it means lost;
* any other error, or no answer before the next check is due -- unknown: nothing is
  reported (a false ``DialogLost`` would make the application re-join, or tell its user
  the room is gone, for nothing); the room is checked again at the next interval.

A lost room is reported as ``DialogLost(detected_by="room_check")`` by the session,
which re-joins it with ``rejoin_lost_dialogs`` exactly as after a bounce.

This module keeps only the schedule and the checks in flight; it is pure (time is the
``now`` its caller passes).  All rooms are checked on one tick per interval: each room is
checked once per interval, and a loss is noticed at most an interval and a round trip
after it happened.  The first tick after the first join (or a fresh session) only starts
the schedule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from lxml import etree

from .._stanza_error import parse_stanza_error
from ..commands import OutboundStanza, StanzaContext
from . import _escape
from .jid import occupant_jid, room_jid

__all__ = ["LOST_ANSWERS", "STILL_JOINED_ANSWERS", "RoomCheckVerdict", "RoomChecks"]

#: Error conditions of a self-ping answer that mean: we are not in the room any more.
LOST_ANSWERS = frozenset({"not-acceptable", "item-not-found"})
#: Error conditions of a self-ping answer that still mean: we are in the room (the ping
#: reached one of our clients, which does not implement it).
STILL_JOINED_ANSWERS = frozenset({"service-unavailable", "feature-not-implemented"})

#: What one answer says: ``joined``, ``lost`` or ``unknown`` (see the module docstring).
RoomCheckVerdict = Literal["joined", "lost", "unknown"]

_PING = '<ping xmlns="urn:xmpp:ping"/>'


@dataclass(slots=True)
class _InFlight:
    """A check sent and not answered yet: the room's lower-cased dialog id, the JID it
    went to (its answer must come from there), and whether it still counts (a check of a
    room left or lost meanwhile is void: its answer is swallowed, says nothing)."""

    key: str
    to: str
    void: bool = False
    #: it was already unanswered at one tick (a late answer is swallowed, unjudged)
    late: bool = False


class RoomChecks:
    """The schedule of the periodic room checks and the checks in flight."""

    __slots__ = ("_in_flight", "_leaving", "_next_tick", "interval")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        #: when the next check round is due; ``None``: not started (the next deadline
        #: is "now", so that the first call tells us what now is)
        self._next_tick: float | None = None
        #: IQ id -> the check it is (at most two per room: this round's, and last
        #: round's unanswered one kept so that its late answer is recognised)
        self._in_flight: dict[str, _InFlight] = {}
        #: rooms (lower-cased dialog ids) we sent a leave to and that have not answered
        #: it yet: still joined for the session, no longer checked
        self._leaving: set[str] = set()

    def next_deadline(self, rooms: bool) -> float | None:
        """When :meth:`due` must be called; ``None`` when there is no room to check
        (``rooms`` false) -- a session in no room is never woken up."""
        if not rooms:
            return None
        tick = self._next_tick
        return float("-inf") if tick is None else tick

    def due(
        self, now: float, rooms: Iterable[str], ctx: StanzaContext
    ) -> tuple[OutboundStanza, ...]:
        """The round due at ``now``: one self-ping per dialog of ``rooms`` (the
        application's spelling of each joined dialog id).  Checks still unanswered from
        the previous round are marked late (their verdict is unknown); older ones are
        forgotten."""
        if self._next_tick is None:
            self._next_tick = now + self.interval
            return ()
        if now < self._next_tick:
            return ()
        self._next_tick = now + self.interval
        in_flight = self._in_flight
        for iq_id in [i for i, check in in_flight.items() if check.late]:
            del in_flight[iq_id]
        for check in in_flight.values():
            check.late = True
        pings: list[OutboundStanza] = []
        leaving = self._leaving
        for dialog_id in rooms:
            if leaving and dialog_id.lower() in leaving:
                continue
            to = occupant_jid(room_jid(dialog_id, ctx.app_id, ctx.muc_host), ctx.user_id)
            iq_id = ctx.new_iq_id("selfping")
            in_flight[iq_id] = _InFlight(dialog_id.lower(), to)
            pings.append(
                OutboundStanza(
                    xml=f'<iq type="get" id="{_escape.attr(iq_id)}" to="{_escape.attr(to)}">'
                    f"{_PING}</iq>",
                    stanza_id=iq_id,
                    to=to,
                    kind="iq",
                )
            )
        return tuple(pings)

    def answer(self, element: etree._Element) -> tuple[str, RoomCheckVerdict] | None:
        """An inbound ``<iq type="result"|"error">``: ``None`` if it does not answer one of
        our checks (another id, or not from the JID the check went to: RFC 6120 10.1);
        else ``(lower-cased dialog id, verdict)``, the check consumed.  A late or void
        check's answer is ``unknown`` whatever it says."""
        iq_id = element.get("id")
        if iq_id is None:
            return None
        check = self._in_flight.get(iq_id)
        if check is None:
            return None
        sender = element.get("from")
        if sender is None or sender.lower() != check.to.lower():
            return None
        del self._in_flight[iq_id]
        if check.void or check.late:
            return check.key, "unknown"
        return check.key, _verdict(element)

    def forget(self, key: str) -> None:
        """The room (lower-cased dialog id) was left or found lost: its checks in flight
        are void (their answers, when they come, are swallowed and judge nothing)."""
        for check in self._in_flight.values():
            if check.key == key:
                check.void = True

    def leave_sent(self, key: str) -> None:
        """We sent a leave to the room (lower-cased dialog id): it is not checked any more
        (its checks in flight are void) until it is joined again."""
        self._leaving.add(key)
        self.forget(key)

    def left(self, key: str) -> None:
        """The room (lower-cased dialog id) says we left it: its checks in flight are
        void; the session no longer counts it as joined, so it is not checked."""
        self._leaving.discard(key)
        self.forget(key)

    def joined(self, key: str) -> None:
        """We are in the room (again): it is checked from the next round on."""
        self._leaving.discard(key)

    def reset(self) -> None:
        """A fresh session: no check is in flight on it; the schedule starts again."""
        self._next_tick = None
        self._in_flight.clear()
        self._leaving.clear()

    def __len__(self) -> int:
        """Checks in flight."""
        return len(self._in_flight)


def _verdict(element: etree._Element) -> RoomCheckVerdict:
    """What an answer to a self-ping says (see the module docstring)."""
    if element.get("type") == "result":
        return "joined"
    if element.get("type") != "error":
        return "unknown"
    condition = parse_stanza_error(element).condition_name
    if condition in STILL_JOINED_ANSWERS:
        return "joined"
    if condition in LOST_ANSWERS:
        return "lost"
    return "unknown"
