"""IQs addressed to the server or to a user: carbons, privacy lists, the mobile
(push-suppression) and status-streaming switches, last activity (asked, and pushed to
watchers when it changes), the occupants of a room (disco#items), and an occupant's
self-ping (XEP-0410)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from cubeproto.server import escape_attr, escape_text

from ..store import User
from . import privacy
from .stanzas import (
    NS_CARBONS,
    NS_DISCO_ITEMS,
    NS_LAST,
    NS_MOBILE,
    NS_PING,
    NS_PRIVACY,
    NS_STANZAS,
    NS_STATUS,
    local_name,
)

if TYPE_CHECKING:
    from ..hub import Hub, Session

__all__ = [
    "iq_error",
    "iq_result",
    "last_activity_seconds",
    "on_iq",
    "push_last_activity",
    "self_ping",
]


def iq_result(
    hub: Hub, session: Session, element: etree._Element, payload: str = "", frm: str | None = None
) -> None:
    """Answer an IQ with a result (``payload`` inside, ``frm`` as its sender)."""
    iq_id = escape_attr(element.get("id") or "")
    from_attr = f' from="{escape_attr(frm)}"' if frm else ""
    hub.send(
        session,
        f'<iq type="result" id="{iq_id}"{from_attr} to="{escape_attr(session.jid or "")}">'
        f"{payload}</iq>",
    )


def iq_error(
    hub: Hub,
    session: Session,
    element: etree._Element,
    condition: str,
    etype: str = "cancel",
    text: str | None = None,
) -> None:
    """Answer an IQ with an error of ``condition`` (RFC 6120 8.3), with ``text`` if given."""
    iq_id = escape_attr(element.get("id") or "")
    frm = element.get("to")
    from_attr = f' from="{escape_attr(frm)}"' if frm else ""
    text_xml = f'<text xmlns="{NS_STANZAS}">{escape_text(text)}</text>' if text else ""
    hub.send(
        session,
        f'<iq type="error" id="{iq_id}"{from_attr} to="{escape_attr(session.jid or "")}">'
        f'<error type="{etype}"><{condition} xmlns="{NS_STANZAS}"/>{text_xml}</error></iq>',
    )


def self_ping(hub: Hub, session: Session, element: etree._Element, room: str, nick: str) -> None:
    """XEP-0410 3.3 (the server optimization, as ejabberd 23.01 answers it): a ping to
    ``room/nick`` from an occupant of ``room`` to its own nick is answered ``result`` by
    the room; from anyone who is not an occupant, ``not-acceptable`` ("only occupants");
    for a room that is no dialog, ``item-not-found``.  A ping to another occupant's nick
    is not forwarded (``service-unavailable``, as before)."""
    user = session.user
    assert user is not None
    if hub.dialog_from_room(room) is None:
        iq_error(hub, session, element, "item-not-found", text="Conference room does not exist")
        return
    if hub.rooms.get(room, {}).get(user.id) is not session:
        iq_error(
            hub,
            session,
            element,
            "not-acceptable",
            "modify",
            text="Only occupants are allowed to send queries to the conference",
        )
        return
    if nick != str(user.id):
        iq_error(hub, session, element, "service-unavailable")
        return
    iq_result(hub, session, element, frm=f"{room}/{nick}")


def on_iq(hub: Hub, session: Session, element: etree._Element) -> None:
    """An IQ get or set from a client: to the server (carbons, privacy, mobile, status
    streaming) or to a user or room (last activity, occupants); anything else is
    service-unavailable.  Results and errors (answers to the server's pushes) are dropped."""
    user = session.user
    assert user is not None
    itype = element.get("type")
    if itype not in ("get", "set"):
        return  # results/errors of server pushes
    child = next((c for c in element if isinstance(c.tag, str)), None)
    if child is None:
        iq_error(hub, session, element, "bad-request", "modify")
        return
    ns = child.tag.partition("}")[0].lstrip("{") if child.tag.startswith("{") else ""
    to = element.get("to")
    if to is None or to == hub.domain:
        if ns == NS_CARBONS:
            session.carbons = local_name(child.tag) == "enable"
            iq_result(hub, session, element)
        elif ns == NS_PRIVACY:
            privacy.privacy_iq(hub, session, element, child)
        elif ns == NS_MOBILE:
            if child.get("enable") == "true":
                hub.push_suppressed.discard(user.id)
                session.inactive = True
            else:
                session.inactive = False
            iq_result(hub, session, element)
        elif ns == NS_STATUS:
            watched = hub.user_from_jid(child.get("user_jid"))
            if watched is None or watched.app_id != user.app_id:
                # As for last activity: no account oracle, no other app's users.
                iq_error(hub, session, element, "service-unavailable")
                return
            watchers = hub.watchers.setdefault(watched.id, set())
            if child.get("enable") == "false":
                watchers.discard(session)
            else:
                watchers.add(session)
            iq_result(hub, session, element)
        else:
            iq_error(hub, session, element, "service-unavailable")
        return
    bare = to.partition("/")[0]
    if ns == NS_LAST:
        target = hub.user_from_jid(bare)
        if target is None or target.app_id != user.app_id:
            # RFC 6121 8.5.2.1.1 (no such account): as for a message, nothing that
            # would tell an unknown account from one that exists.
            iq_error(hub, session, element, "service-unavailable")
            return
        seconds = last_activity_seconds(hub, target)
        iq_result(
            hub, session, element, f'<query xmlns="{NS_LAST}" seconds="{seconds}"/>', frm=bare
        )
        return
    if ns == NS_PING and bare.endswith("@" + hub.muc) and "/" in to:
        self_ping(hub, session, element, bare, to.partition("/")[2])
        return
    if ns == NS_DISCO_ITEMS and bare.endswith("@" + hub.muc):
        items = "".join(
            f'<item jid="{escape_attr(bare)}/{uid}" name="{uid}"/>'
            for uid in sorted(hub.rooms.get(bare, {}))
        )
        iq_result(
            hub, session, element, f'<query xmlns="{NS_DISCO_ITEMS}">{items}</query>', frm=bare
        )
        return
    iq_error(hub, session, element, "service-unavailable")


def last_activity_seconds(hub: Hub, user: User) -> int:
    """Seconds since ``user`` was last seen (XEP-0012); 0 while available."""
    if hub.is_online(user.id):
        return 0
    fresh = hub.store.user(user.id)
    seen = fresh.last_seen if fresh is not None and fresh.last_seen else user.created
    return max(0, int(hub.now() - seen))


def push_last_activity(hub: Hub, user: User) -> None:
    """Tell the sessions watching ``user`` (status streaming) their last activity."""
    seconds = last_activity_seconds(hub, user)
    for watcher in list(hub.watchers.get(user.id, ())):
        hub.send(
            watcher,
            f'<iq type="set" id="{hub.new_id()}:lastActivity" from="{hub.user_jid(user)}" '
            f'to="{escape_attr(watcher.jid or "")}"><query xmlns="{NS_LAST}" '
            f'seconds="{seconds}"/></iq>',
        )
