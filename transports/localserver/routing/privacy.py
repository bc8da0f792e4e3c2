"""Privacy lists (XEP-0016): the IQ that reads and edits them, and the rules that apply
them -- to messages (a blocked 1-1 sender is bounced; in groups the blocker just receives
nothing) and to presence (``presence-in``/``presence-out`` items)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lxml import etree

from cubeproto.server import escape_attr

from ..store import User
from . import iqs
from .stanzas import NS_PRIVACY, local_name, name_ok

if TYPE_CHECKING:
    from ..hub import Hub, Session

__all__ = [
    "blocked",
    "denies_messages",
    "presence_blocked",
    "privacy_iq",
    "privacy_item_xml",
    "privacy_items",
]


def privacy_items(hub: Hub, user_id: int) -> list[dict[str, Any]]:
    """The items of ``user_id``'s default privacy list, in order."""
    name = hub.store.default_privacy(user_id)
    if name is None:
        return []
    items = hub.store.privacy_list(user_id, name) or []
    return sorted(items, key=lambda i: i.get("order", 0))


def denies_messages(hub: Hub, user_id: int, other: User, outgoing: bool) -> bool:
    """Whether ``user_id``'s default list denies messages with ``other``."""
    targets = {hub.user_jid(other), f"{hub.muc}/{other.id}"}
    for item in privacy_items(hub, user_id):
        if item.get("value") not in targets:
            continue
        kinds = item.get("kinds") or []
        applies = not kinds if outgoing else (not kinds or "message" in kinds)
        if applies:
            return item.get("action") == "deny"
    return False


def blocked(hub: Hub, sender: User, receiver: User) -> bool:
    """A message from ``sender`` to ``receiver`` is refused: the receiver blocks the
    sender (one-way), or either side holds a two-way block."""
    return denies_messages(hub, receiver.id, sender, outgoing=False) or denies_messages(
        hub, sender.id, receiver, outgoing=True
    )


def presence_blocked(hub: Hub, sender: User, receiver: User) -> bool:
    """Privacy lists for presence: the receiver's ``presence-in`` items (or items for
    everything) against the sender, the sender's ``presence-out`` ones against the
    receiver; the first matching item decides (XEP-0016)."""

    def denies(owner: int, other: User, kind: str) -> bool:
        """Whether ``owner``'s list denies ``kind`` with ``other``."""
        targets = {hub.user_jid(other)}
        for item in privacy_items(hub, owner):
            if item.get("value") in targets:
                kinds = item.get("kinds") or []
                if not kinds or kind in kinds:
                    return item.get("action") == "deny"
        return False

    return denies(receiver.id, sender, "presence-in") or denies(sender.id, receiver, "presence-out")


def privacy_iq(hub: Hub, session: Session, element: etree._Element, query: etree._Element) -> None:
    """A privacy-list IQ (XEP-0016): get the names or one list; set the default,
    the active list (accepted, not applied: the default is what counts), or a list (no
    items: delete it)."""
    user = session.user
    assert user is not None
    store = hub.store
    children = [c for c in query if isinstance(c.tag, str)]
    if element.get("type") == "get":
        if not children:
            default = store.default_privacy(user.id)
            default_xml = f'<default name="{escape_attr(default)}"/>' if default else "<default/>"
            lists = "".join(
                f'<list name="{escape_attr(n)}"/>' for n in store.privacy_names(user.id)
            )
            iqs.iq_result(
                hub,
                session,
                element,
                f'<query xmlns="{NS_PRIVACY}"><active/>{default_xml}{lists}</query>',
            )
            return
        name = children[0].get("name") or ""
        items = store.privacy_list(user.id, name)
        if items is None:
            iqs.iq_error(hub, session, element, "item-not-found")
            return
        iqs.iq_result(
            hub,
            session,
            element,
            f'<query xmlns="{NS_PRIVACY}"><list name="{escape_attr(name)}">'
            + "".join(privacy_item_xml(i) for i in items)
            + "</list></query>",
        )
        return
    if not children:
        iqs.iq_error(hub, session, element, "bad-request", "modify")
        return
    first = children[0]
    local = local_name(first.tag)
    if local == "default":
        default = first.get("name")
        if default is not None and store.privacy_list(user.id, default) is None:
            iqs.iq_error(hub, session, element, "item-not-found")
            return
        store.set_default_privacy(user.id, default)
        iqs.iq_result(hub, session, element)
    elif local == "active":
        iqs.iq_result(hub, session, element)
    elif local == "list":
        name = first.get("name") or ""
        items = []
        for item in first:
            if local_name(item.tag) != "item":
                continue
            order = item.get("order") or "0"
            items.append(
                {
                    "type": item.get("type"),
                    "value": item.get("value"),
                    "action": item.get("action"),
                    "order": int(order) if order.isdigit() else 0,
                    "kinds": [local_name(k.tag) for k in item if isinstance(k.tag, str)],
                }
            )
        if items:
            store.set_privacy_list(user.id, name, items)
        else:
            store.delete_privacy_list(user.id, name)
        iqs.iq_result(hub, session, element)
    else:
        iqs.iq_error(hub, session, element, "bad-request", "modify")


def privacy_item_xml(item: dict[str, Any]) -> str:
    """One stored privacy item as the ``<item/>`` of a list."""
    kinds = "".join(f"<{k}/>" for k in item.get("kinds", []) if name_ok(k))
    return (
        f'<item type="{escape_attr(str(item.get("type") or "jid"))}" '
        f'value="{escape_attr(str(item.get("value") or ""))}" '
        f'action="{escape_attr(str(item.get("action") or "deny"))}" '
        f'order="{int(item.get("order") or 0)}">{kinds}</item>'
    )
