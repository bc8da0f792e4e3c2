"""What REST calls send over chat: reactions and removals to a dialog's members, a
message created with ``send_to_chat=1`` as the chat message a client would have sent, and
system messages."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from lxml import etree

from cubeproto.chat.extension import encode_extension
from cubeproto.server import escape_attr, escape_text

from ..store import PRIVATE, User
from . import rooms
from .stanzas import name_ok

if TYPE_CHECKING:
    from ..hub import Hub

__all__ = [
    "push_history_message",
    "push_reactions",
    "push_removal",
    "push_system_message",
]


def push_reactions(
    hub: Hub, record: dict[str, Any], reactor: User, add: str | None, remove: str | None
) -> None:
    """A reaction added or removed over REST, to every member's sessions of the
    message's dialog (chat in a private dialog, groupchat from ``room/reactor``)."""
    dialog = hub.store.dialog(record["chat_dialog_id"])
    if dialog is None:
        return
    children = ""
    if add:
        children += f'<reaction add="true" type="{escape_attr(add)}"/>'
    if remove:
        children += f'<reaction remove="true" type="{escape_attr(remove)}"/>'
    reactions = (
        f'<reactions user_id="{reactor.id}" message_id="{escape_attr(record["_id"])}">'
        f"{children}</reactions>"
    )
    extra = (
        f'<extraParams xmlns="jabber:client"><dialog_id>{dialog["_id"]}</dialog_id></extraParams>'
    )
    if dialog["type"] == PRIVATE:
        for member in dialog["occupants_ids"]:
            for target in hub.online.get(member, ()):
                hub.send(
                    target,
                    f'<message type="chat" id="{hub.new_id()}" '
                    f'from="{hub.user_jid(reactor)}" '
                    f'to="{escape_attr(target.jid or "")}">{extra}{reactions}</message>',
                )
        return
    room = hub.room_jid(dialog)
    for member in hub.members(dialog):
        for target in hub.online.get(member, ()):
            hub.send(
                target,
                f'<message type="groupchat" id="{hub.new_id()}" from="{room}/{reactor.id}" '
                f'to="{escape_attr(target.jid or "")}">{extra}{reactions}</message>',
            )


def push_removal(hub: Hub, record: dict[str, Any], actor: User) -> None:
    """A message deleted for everybody over REST: a ``<remove/>`` to the other
    occupant (private) or to every member (group)."""
    dialog = hub.store.dialog(record["chat_dialog_id"])
    if dialog is None:
        return
    remove = (
        f'<remove xmlns="urn:xmpp:message-delete:0" id="{escape_attr(record["_id"])}"/>'
        f'<extraParams xmlns="jabber:client"><dialog_id>{dialog["_id"]}</dialog_id>'
        "</extraParams>"
    )
    if dialog["type"] == PRIVATE:
        for member in dialog["occupants_ids"]:
            if member != actor.id:
                hub.deliver(
                    member,
                    f'<message type="chat" id="{hub.new_id()}" '
                    f'from="{hub.user_jid(actor)}" '
                    f'to="{hub.user_jid(member, actor.app_id)}">{remove}</message>',
                    store_offline=False,
                )
        return
    room = hub.room_jid(dialog)
    element = etree.fromstring(
        f'<message xmlns="jabber:client" type="groupchat" id="{hub.new_id()}" '
        f'from="{room}/{actor.id}">{remove}</message>'
    )
    rooms.broadcast(hub, dialog, element, sender=None)


def push_history_message(
    hub: Hub, record: dict[str, Any], sender: User, dialog: dict[str, Any], custom: dict[str, Any]
) -> None:
    """Deliver a message created over REST with ``send_to_chat=1`` as
    the chat message a client would have sent: 1-1 to the other occupant (stored
    offline if needed), group as a groupchat from ``room/sender`` to every member."""
    extension: dict[str, Any] = {
        "save_to_history": "1",
        "dialog_id": dialog["_id"],
        "date_sent": str(record["date_sent"]),
    }
    extension.update(
        (k, v if isinstance(v, (dict, str)) else json.dumps(v))
        for k, v in custom.items()
        if name_ok(k)
    )
    if record.get("attachments"):
        extension["attachments"] = [
            {str(k): str(v) for k, v in a.items() if v is not None}
            for a in record["attachments"]
            if isinstance(a, dict)
        ]
    body = f"<body>{escape_text(record['message'])}</body>" if record["message"] else ""
    payload = body + encode_extension(extension)
    message_id = escape_attr(record["_id"])
    if dialog["type"] == PRIVATE:
        peer = record["recipient_id"]
        hub.deliver(
            peer,
            f'<message type="chat" id="{message_id}" from="{hub.user_jid(sender)}" '
            f'to="{hub.user_jid(peer, sender.app_id)}">{payload}</message>',
            store_offline=True,
        )
        return
    element = etree.fromstring(
        f'<message xmlns="jabber:client" type="groupchat" id="{message_id}" '
        f'from="{hub.room_jid(dialog)}/{sender.id}">{payload}</message>'
    )
    rooms.broadcast(hub, dialog, element, sender=sender)


def push_system_message(hub: Hub, sender: User, recipient: User, params: dict[str, Any]) -> str:
    """A system message (``moduleIdentifier`` SystemNotifications) as a headline;
    stored offline when the recipient is away.  Returns its id."""
    message_id = hub.new_id()
    children = "".join(
        f"<{k}>{escape_text(json.dumps(v) if isinstance(v, (dict, list)) else str(v))}</{k}>"
        for k, v in params.items()
        if name_ok(k)
    )
    xml = (
        f'<message type="headline" id="{message_id}" from="{hub.user_jid(sender)}" '
        f'to="{hub.user_jid(recipient)}"><extraParams xmlns="jabber:client">'
        f"<moduleIdentifier>SystemNotifications</moduleIdentifier>{children}"
        "</extraParams></message>"
    )
    hub.deliver(recipient.id, xml, store_offline=True)
    return message_id
