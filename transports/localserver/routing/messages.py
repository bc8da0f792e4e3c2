"""Chat messages: 1-1 (to the peer's sessions or offline storage, carbons to the sender's
other sessions, bounced when the recipient blocks the sender or does not exist), group
messages to a dialog's room, and what a message does to history -- saved with
``save_to_history=1``, markers, edits and deletes applied to the stored record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lxml import etree

from cubeproto.chat.extension import decode_extension
from cubeproto.server import NS_CLIENT, escape_attr, escape_text

from ..store import BROADCAST, PUBLIC, User, new_message_record, new_object_id
from . import privacy, rooms
from .stanzas import NS_CARBONS, NS_STANZAS, body_text, child_named, to_xml

if TYPE_CHECKING:
    from ..hub import Hub, Session

__all__ = [
    "apply_edit",
    "apply_marker",
    "apply_remove",
    "bounce",
    "carbon",
    "dialog_refusal",
    "extra_params",
    "group_message",
    "on_message",
    "private_message",
    "refuse",
    "save",
    "set_param",
    "stanza_kind",
]


def on_message(hub: Hub, session: Session, element: etree._Element) -> None:
    """A message from a client: to a room, to a user of the same application, or
    refused; errors are dropped, headlines delivered as they are."""
    user = session.user
    assert user is not None and session.jid is not None
    mtype = element.get("type") or "normal"
    if mtype == "error":
        return
    to = element.get("to") or ""
    bare = to.partition("/")[0]
    if bare.endswith("@" + hub.muc):
        group_message(hub, session, element, bare)
        return
    peer = hub.user_from_jid(to)
    if peer is None or peer.app_id != user.app_id:
        # No such account here (unknown user, another app, a remote domain): answered
        # exactly as a blocked recipient is -- service-unavailable, RFC 6121 8.5.2.1.1
        # -- so the answer never tells which accounts exist (IQs get the same); a
        # headline is dropped silently, as that section says.
        if mtype != "headline":
            refuse(hub, session, element)
        return
    if mtype == "headline":
        hub.deliver(peer.id, to_xml(element), store_offline=True)
        return
    private_message(hub, session, element, peer)


def refuse(hub: Hub, session: Session, element: etree._Element) -> None:
    """The one answer for a message nobody here takes: unknown or blocked recipient."""
    bounce(hub, session, element, "service-unavailable", "503", "Service not available.")


def bounce(
    hub: Hub, session: Session, element: etree._Element, condition: str, code: str, text: str
) -> None:
    """Return ``element`` to its sender as a message error of ``condition``."""
    msg_id = escape_attr(element.get("id") or "")
    sender = escape_attr(element.get("to") or hub.domain)
    body = body_text(element)
    body_xml = f"<body>{escape_text(body)}</body>" if body else ""
    etype = "auth" if condition == "forbidden" else "cancel"
    hub.send(
        session,
        f'<message type="error" id="{msg_id}" from="{sender}" '
        f'to="{escape_attr(session.jid or "")}">{body_xml}'
        f'<error code="{code}" type="{etype}"><{condition} xmlns="{NS_STANZAS}"/>'
        f'<text xmlns="{NS_STANZAS}">{escape_text(text)}</text></error></message>',
    )


def extra_params(element: etree._Element) -> etree._Element:
    """The message's ``<extraParams/>``, added when it has none."""
    extra = child_named(element, "extraParams")
    if extra is None:
        extra = etree.SubElement(element, f"{{{NS_CLIENT}}}extraParams")
    return extra


def set_param(extra: etree._Element, name: str, value: str) -> None:
    """Set ``extraParams/name`` unless the sender gave it."""
    if child_named(extra, name) is None:
        etree.SubElement(extra, f"{{{NS_CLIENT}}}{name}").text = value


def private_message(hub: Hub, session: Session, element: etree._Element, peer: User) -> None:
    """A 1-1 message: a chat message gets its dialog and ``date_sent``, is saved when
    asked and delivered (offline when the peer is away) with carbons; markers, edits and
    deletes change the stored message and go on to the peer."""
    user = session.user
    assert user is not None
    if privacy.blocked(hub, user, peer):
        refuse(hub, session, element)
        return
    kind = stanza_kind(element)
    extra_el = child_named(element, "extraParams")
    params = decode_extension(extra_el) if extra_el is not None else None
    extension = dict(params.extension) if params is not None else {}
    named = extension.get("dialog_id")
    dialog_id = named if isinstance(named, str) else None
    if kind == "chat":
        now = hub.now()
        if dialog_id is None:
            dialog_id = hub.private_dialog(user, peer)["_id"]
        elif (refusal := dialog_refusal(hub, dialog_id, user, peer)) is not None:
            # A dialog id the server cannot file the message under is bounced, not
            # acknowledged and delivered as if it were stored (issue 14).
            bounce(hub, session, element, *refusal)
            return
        assert isinstance(dialog_id, str)
        extra = extra_params(element)
        set_param(extra, "dialog_id", dialog_id)
        set_param(extra, "date_sent", str(int(now)))
        if str(extension.get("save_to_history")) == "1":
            save(hub, element, user, dialog_id, peer.id, extension, now)
        xml = to_xml(element)
        delivered = hub.deliver(peer.id, xml, store_offline=True)
        carbon(hub, session, xml)
        if not delivered:
            hub.log.append(f"stored offline for {peer.id}")
        return
    if kind in ("received", "displayed"):
        marked = child_named(element, kind)
        if marked is not None and marked.get("id"):
            apply_marker(hub, marked.get("id") or "", user.id, kind == "displayed")
    elif kind == "replace":
        apply_edit(hub, element, user)
    elif kind == "remove":
        apply_remove(hub, element, user)
    xml = to_xml(element)
    hub.deliver(peer.id, xml, store_offline=False)
    if kind in ("replace", "remove"):
        carbon(hub, session, xml)


def dialog_refusal(hub: Hub, dialog_id: str, user: User, peer: User) -> tuple[str, str, str] | None:
    """Why a 1-1 message may not name ``dialog_id`` (condition, code, text), or None: the
    dialog must exist in the sender's application and hold both users (a public or
    broadcast dialog holds everyone)."""
    dialog = hub.store.dialog(dialog_id)
    if dialog is None or dialog["app_id"] != user.app_id:
        return "item-not-found", "404", "Dialog not found"
    occupants = dialog.get("occupants_ids") or []
    if dialog.get("type") in (PUBLIC, BROADCAST):
        return None
    if user.id not in occupants or peer.id not in occupants:
        return "forbidden", "403", "Both users must be occupants of the dialog"
    return None


def stanza_kind(element: etree._Element) -> str:
    """What a message is: a chat state, an edit, a delete, a marker, a chat message
    (a body or an attachment) or ``other``."""
    for local in ("composing", "paused", "replace", "remove", "received", "displayed"):
        if child_named(element, local) is not None:
            return local
    if child_named(element, "body") is not None:
        return "chat"
    extra = child_named(element, "extraParams")
    if extra is not None and child_named(extra, "attachment") is not None:
        return "chat"
    return "other"


def carbon(hub: Hub, session: Session, xml: str) -> None:
    """Copy a message the user sent to their other sessions that enabled carbons."""
    user = session.user
    assert user is not None
    for other in hub.online.get(user.id, ()):
        if other is session or not other.carbons:
            continue
        hub.send(
            other,
            f'<message from="{hub.user_jid(user)}" to="{escape_attr(other.jid or "")}" '
            f'type="chat"><sent xmlns="{NS_CARBONS}"><forwarded xmlns="urn:xmpp:forward:0">'
            f"{xml}</forwarded></sent></message>",
        )


def save(
    hub: Hub,
    element: etree._Element,
    user: User,
    dialog_id: str,
    recipient_id: int,
    extension: dict[str, Any],
    now: float,
) -> None:
    """Store a chat message in history (``save_to_history=1``); its stanza id becomes
    the record's ``_id``."""
    message_id = element.get("id") or new_object_id(now)
    body = body_text(element) or ""
    raw_attachments = extension.get("attachments")
    attachments = list(raw_attachments) if isinstance(raw_attachments, (list, tuple)) else []
    record = new_message_record(
        message_id=message_id,
        dialog_id=dialog_id,
        text=body,
        sender_id=user.id,
        recipient_id=recipient_id,
        attachments=attachments,
        custom={
            key: value
            for key, value in extension.items()
            if key not in ("save_to_history", "dialog_id", "attachments", "date_sent")
        },
        now=now,
    )
    hub.store.add_message(record, hub.store.dialog(dialog_id))


def apply_marker(hub: Hub, message_id: str, user_id: int, read: bool) -> None:
    """A delivered or read marker of ``user_id`` on a stored message."""
    record = hub.store.message(message_id)
    if record is None:
        return
    if user_id not in record["delivered_ids"]:
        record["delivered_ids"].append(user_id)
    if read and user_id not in record["read_ids"]:
        record["read_ids"].append(user_id)
    hub.store.put_message(record)


def apply_edit(hub: Hub, element: etree._Element, user: User) -> None:
    """An edit (XEP-0308) of a stored message, by its sender only."""
    replace = child_named(element, "replace")
    record = hub.store.message(replace.get("id") or "") if replace is not None else None
    if record is None or record["sender_id"] != user.id:
        return
    record["message"] = body_text(element) or ""
    record["updated"] = hub.now()
    hub.store.put_message(record)


def apply_remove(hub: Hub, element: etree._Element, user: User) -> None:
    """A delete of a stored message, by its sender or the dialog's owner or admins."""
    remove = child_named(element, "remove")
    record = hub.store.message(remove.get("id") or "") if remove is not None else None
    if record is None:
        return
    dialog = hub.store.dialog(record["chat_dialog_id"])
    admins = set(dialog["admins_ids"]) | {dialog["user_id"]} if dialog else set()
    if record["sender_id"] == user.id or user.id in admins:
        hub.store.delete_message(record["_id"])


def group_message(hub: Hub, session: Session, element: etree._Element, room: str) -> None:
    """A message to a dialog's room: bounced unless the sender may post; a chat
    message gets its dialog and ``date_sent`` and is saved when asked; then every member
    gets it as groupchat from ``room/sender``."""
    user = session.user
    assert user is not None
    dialog = hub.dialog_from_room(room)
    if dialog is None:
        bounce(hub, session, element, "item-not-found", "404", "Dialog not found")
        return
    if not hub.may_post(dialog, user.id):
        bounce(hub, session, element, "forbidden", "403", "You are not an occupant of this dialog")
        return
    kind = stanza_kind(element)
    if kind in ("received", "displayed"):
        return  # markers are 1-1 only
    now = hub.now()
    element.set("from", f"{room}/{user.id}")
    element.set("type", "groupchat")
    if kind == "chat":
        extra_el = child_named(element, "extraParams")
        params = decode_extension(extra_el) if extra_el is not None else None
        extension = dict(params.extension) if params is not None else {}
        extra = extra_params(element)
        set_param(extra, "dialog_id", dialog["_id"])
        set_param(extra, "date_sent", str(int(now)))
        if str(extension.get("save_to_history")) == "1":
            save(hub, element, user, dialog["_id"], 0, extension, now)
    elif kind == "replace":
        apply_edit(hub, element, user)
    elif kind == "remove":
        apply_remove(hub, element, user)
    rooms.broadcast(hub, dialog, element, sender=user)
