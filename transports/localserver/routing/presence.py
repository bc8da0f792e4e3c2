"""Presence (RFC 6121 section 4): available and unavailable broadcasts to the user's own
resources (there are no rosters), directed presence, and MUC joins and leaves sent on to
:mod:`.rooms`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from cubeproto.server import NS_CLIENT

from ..store import User
from . import iqs, privacy, rooms
from .stanzas import to_xml

if TYPE_CHECKING:
    from ..hub import Hub, Session

__all__ = [
    "broadcast_presence",
    "deliver_presence",
    "directed_presence",
    "go_unavailable",
    "on_presence",
]


def on_presence(hub: Hub, session: Session, element: etree._Element) -> None:
    """A presence from a client: broadcast (no ``to``), a room join or leave, or
    directed presence."""
    user = session.user
    assert user is not None
    to = element.get("to")
    ptype = element.get("type")
    if to is None:
        if ptype in (None, "available"):
            broadcast_presence(hub, session, element)
        elif ptype == "unavailable":
            go_unavailable(hub, session, element)
            hub.store.touch_user(user.id, hub.now())
            iqs.push_last_activity(hub, user)
        return
    room, _, nick = to.partition("/")
    if room.endswith("@" + hub.muc):
        if ptype == "unavailable":
            rooms.leave(hub, session, room, announce=True, presence_id=element.get("id"))
        else:
            rooms.join(hub, session, room, nick, element.get("id"))
        return
    directed_presence(hub, session, element, to, ptype)


def broadcast_presence(hub: Hub, session: Session, element: etree._Element) -> None:
    """Initial or updated available presence (RFC 6121 4.2.2, 4.4.2): sent as it came,
    ``show``/``status``/``priority``/extensions kept, from the resource's full JID to
    every available resource of the user (the sender included); a resource that just
    became available also gets the presence of the user's other available resources.
    There is no roster, so no contact receives it."""
    user = session.user
    assert user is not None
    first = not session.available
    session.available = True
    element.set("from", session.jid or "")
    element.set("to", hub.user_jid(user))
    xml = session.presence = to_xml(element)
    for other in hub.online.get(user.id, ()):
        if other.available:
            hub.send(other, xml)
            if first and other is not session and other.presence is not None:
                hub.send(session, other.presence)
    if first:
        for stored in hub.store.take_offline(user.id):
            hub.send(session, stored)
        iqs.push_last_activity(hub, user)


def go_unavailable(hub: Hub, session: Session, element: etree._Element | None) -> None:
    """Unavailable presence (RFC 6121 4.5.2), sent by the client or made for it when
    its stream ends: to the user's other available resources and to whoever got
    directed presence from this one.  (Last activity is the callers' business.)"""
    user = session.user
    assert user is not None
    if not session.available and not session.directed:
        return
    was_available = session.available
    session.available = False
    session.presence = None
    if element is None:
        element = etree.Element(f"{{{NS_CLIENT}}}presence", type="unavailable")
    element.set("from", session.jid or "")
    element.set("to", hub.user_jid(user))
    if was_available:
        xml = to_xml(element)
        for other in hub.online.get(user.id, ()):
            if other is not session and other.available:
                hub.send(other, xml)
    for target in sorted(session.directed):
        element.set("to", target)
        deliver_presence(hub, user, target, to_xml(element))
    session.directed.clear()


def directed_presence(
    hub: Hub, session: Session, element: etree._Element, to: str, ptype: str | None
) -> None:
    """Directed presence (RFC 6121 4.6): available or unavailable presence to one
    user of the same application, as sent (from the sender's full JID), to the given
    resource or, for a bare JID, to every available resource.  Nothing comes back
    whatever the target (unknown accounts are not revealed; a recipient whose privacy
    list blocks the sender's presence gets nothing); subscription requests and probes
    are dropped (no rosters here)."""
    user = session.user
    assert user is not None
    if ptype not in (None, "available", "unavailable"):
        return
    peer = hub.user_from_jid(to)
    if peer is None or peer.app_id != user.app_id:
        return
    if privacy.presence_blocked(hub, user, peer):
        return
    if ptype == "unavailable":
        session.directed.discard(to)
    elif len(session.directed) < 1000:
        session.directed.add(to)
    deliver_presence(hub, user, to, to_xml(element))


def deliver_presence(hub: Hub, sender: User, to: str, xml: str) -> None:
    """Send a presence to the available sessions of ``to`` (one resource, or all)."""
    peer = hub.user_from_jid(to)
    if peer is None:
        return
    resource = to.partition("/")[2]
    for target in hub.online.get(peer.id, ()):
        if not target.available:
            continue
        if resource and (target.jid or "").partition("/")[2] != resource:
            continue
        hub.send(target, xml)
