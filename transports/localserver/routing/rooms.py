"""Group and public dialogs as MUC rooms (XEP-0045): joining (the occupants' presences,
self-presence, the subject), leaving, and sending a groupchat stanza to every member."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lxml import etree

from cubeproto.server import escape_attr

from ..store import User
from . import privacy
from .stanzas import NS_MUC, NS_MUC_USER, NS_STANZAS, to_xml

if TYPE_CHECKING:
    from ..hub import Hub, Session

__all__ = [
    "broadcast",
    "join",
    "leave",
    "occupant_presence",
]


def broadcast(
    hub: Hub, dialog: dict[str, Any], element: etree._Element, *, sender: User | None
) -> None:
    """Send a groupchat stanza to every member's sessions (the sender's too), except
    to members whose privacy list blocks the sender."""
    for member in hub.members(dialog):
        if sender is not None and member != sender.id:
            member_user = hub.store.user(member)
            if member_user is not None and privacy.denies_messages(
                hub, member, sender, outgoing=False
            ):
                continue
        for target in hub.online.get(member, ()):
            element.set("to", target.jid or "")
            hub.send(target, to_xml(element))


def join(hub: Hub, session: Session, room: str, nick: str, presence_id: str | None) -> None:
    """A MUC join as XEP-0045 7.2 orders it: the present occupants' presences, the
    joiner's self-presence (status 110; 210 too when the server changed the
    requested nick, 7.2.9 -- the nick is always the user id here), then the room
    subject (7.2.16; empty, as dialogs have none) that tells the client the join is
    complete."""
    user = session.user
    assert user is not None
    dialog = hub.dialog_from_room(room)
    id_attr = f' id="{escape_attr(presence_id)}"' if presence_id else ""
    if dialog is None or user.id not in hub.members(dialog):
        condition = "item-not-found" if dialog is None else "registration-required"
        code = "404" if dialog is None else "407"
        hub.send(
            session,
            f'<presence type="error" from="{escape_attr(room)}/{user.id}" '
            f'to="{escape_attr(session.jid or "")}"{id_attr}>'
            f'<x xmlns="{NS_MUC}"/><error code="{code}" type="cancel">'
            f'<{condition} xmlns="{NS_STANZAS}"/></error></presence>',
        )
        return
    occupants = hub.rooms.setdefault(room, {})
    joined_before = occupants.get(user.id) is session
    for uid, other in occupants.items():
        if uid != user.id:
            hub.send(session, occupant_presence(room, uid, session.jid, None))
            hub.send(other, occupant_presence(room, user.id, other.jid, None))
    occupants[user.id] = session
    session.rooms.add(room)
    hub.send(
        session,
        occupant_presence(
            room, user.id, session.jid, presence_id, True, nick_changed=nick != str(user.id)
        ),
    )
    if not joined_before:
        hub.send(
            session,
            f'<message type="groupchat" id="{hub.new_id()}" from="{escape_attr(room)}" '
            f'to="{escape_attr(session.jid or "")}"><subject/></message>',
        )


def occupant_presence(
    room: str,
    uid: int,
    to: str | None,
    presence_id: str | None,
    self_presence: bool = False,
    unavailable: bool = False,
    *,
    nick_changed: bool = False,
) -> str:
    """The presence of occupant ``uid`` of ``room`` as another occupant (or, with
    ``self_presence``, the occupant itself) receives it."""
    id_attr = f' id="{escape_attr(presence_id)}"' if presence_id else ""
    type_attr = ' type="unavailable"' if unavailable else ""
    status = '<status code="110"/>' if self_presence else ""
    if nick_changed:
        status += '<status code="210"/>'
    return (
        f'<presence from="{escape_attr(room)}/{uid}" to="{escape_attr(to or "")}"'
        f'{id_attr}{type_attr}><x xmlns="{NS_MUC_USER}">'
        f'<item affiliation="member" role="{"none" if unavailable else "participant"}"/>'
        f"{status}</x></presence>"
    )


def leave(
    hub: Hub, session: Session, room: str, *, announce: bool, presence_id: str | None = None
) -> None:
    """The session leaves ``room``; the others hear of it when ``announce``."""
    user = session.user
    assert user is not None
    occupants = hub.rooms.get(room, {})
    if occupants.get(user.id) is session:
        del occupants[user.id]
    session.rooms.discard(room)
    if announce:
        for other in occupants.values():
            hub.send(other, occupant_presence(room, user.id, other.jid, None, unavailable=True))
    if session.conn.state.value == "ready":
        hub.send(
            session,
            occupant_presence(room, user.id, session.jid, presence_id, True, True),
        )
