"""Messages: ``/chat/Message`` -- history, create (and send to chat), mark read or
delivered, edit, delete, unread counts, system messages, reactions -- and ``/chat/search``.

A message is a store record (:func:`~..store.new_message_record`); :func:`message_json` is
how the API shows it to one user.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from cubeproto.errors import LocalProtocolError

from ..store import (
    BROADCAST,
    GROUP,
    MESSAGE_FIELDS,
    PRIVATE,
    User,
    iso,
    new_message_record,
    new_object_id,
)
from .auth import user_json
from .common import NO_PERMISSION, ApiError, Call, Response, base_error, json_response, paging
from .dialogs import dialog_json, find_dialog, role, unread_count, visible
from .filters import matches, search_window
from .limits import MAX_REACTION_CHARS, XML_FORBIDDEN, check_pushable, pushed_fields

if TYPE_CHECKING:
    from .api import RestApi

__all__ = [
    "create_message",
    "delete_messages",
    "list_messages",
    "list_reactions",
    "mark_all",
    "message_json",
    "search",
    "send_system_message",
    "unread_counts",
    "update_messages",
    "update_reactions",
]

#: Parameters of ``POST /chat/Message`` that are not custom fields of the message.
_CREATE_PARAMS = frozenset(
    {"chat_dialog_id", "recipient_id", "message", "attachments", "send_to_chat", "markable"}
)


def message_json(m: dict[str, Any], user: User) -> dict[str, Any]:
    """The message as the API shows it to ``user`` (read flag, dates, reactions)."""
    reactions: dict[str, str] = m.get("reactions") or {}
    total: dict[str, int] = {}
    for emoji in reactions.values():
        total[emoji] = total.get(emoji, 0) + 1
    own = [reactions[str(user.id)]] if str(user.id) in reactions else []
    skip = {"created", "updated", "hidden_for", "reactions"}
    out = {k: v for k, v in m.items() if k not in skip}
    out.update(
        {
            "read": 1 if user.id in m["read_ids"] else 0,
            "created_at": iso(m["created"]),
            "updated_at": iso(m["updated"]),
        }
    )
    if total:  # optional in the SDK's type: absent, never null, without reactions
        out["reactions"] = {"own": own, "total": total}
    return out


def _readable(dialog: dict[str, Any], user: User) -> bool:
    return dialog["type"] == BROADCAST or user.id in dialog["occupants_ids"]


def list_messages(api: RestApi, call: Call) -> Response:
    """``GET /chat/Message?chat_dialog_id=...``: history, filtered, paged, marked read
    (unless ``mark_as_read=0``); ``preview=1`` shows a public dialog's last 20."""
    user, p = call.user, call.params
    dialog = find_dialog(api.store, str(p.get("chat_dialog_id") or ""), user)
    preview = str(p.get("preview")) == "1" and (dialog.get("permissions") or {}).get(
        "allow_preview"
    )
    if not _readable(dialog, user) and not preview:
        raise base_error(NO_PERMISSION, 403)
    items = [m for m in api.store.messages(dialog["_id"]) if user.id not in m.get("hidden_for", [])]
    # The stored record keeps its moments as unix floats under other names; filters
    # name the API's fields.
    items = [
        m
        for m in items
        if matches(
            {**m, "created_at": m["created"], "updated_at": m["updated"]},
            p,
            skip={"chat_dialog_id"},
        )
    ]
    if p.get("sort_desc"):
        items.reverse()
    skip, limit = paging(p)
    if preview and not _readable(dialog, user):
        items, skip = items[-20:], 0
    page = items[skip : skip + limit]
    if str(p.get("mark_as_read", "1")) != "0" and _readable(dialog, user):
        for m in page:
            if user.id not in m["read_ids"] and m["sender_id"] != user.id:
                m["read_ids"].append(user.id)
                api.store.put_message(m)
    return json_response(
        {"skip": skip, "limit": limit, "items": [message_json(m, user) for m in page]}
    )


def create_message(api: RestApi, call: Call) -> Response:
    """``POST /chat/Message``: store a message in a dialog (or the private dialog with
    ``recipient_id``); ``send_to_chat=1`` delivers it over chat too."""
    user, p = call.user, call.params
    now = api.hub.now()
    if p.get("chat_dialog_id"):
        dialog = find_dialog(api.store, str(p["chat_dialog_id"]), user)
    elif str(p.get("recipient_id", "")).isdigit():
        peer = api.store.user(int(p["recipient_id"]))
        if peer is None or peer.app_id != user.app_id:
            raise ApiError(422, {"recipient_id": ["user not found"]})
        dialog = api.hub.private_dialog(user, peer)
    else:
        raise ApiError(422, {"chat_dialog_id": ["can't be blank"]})
    if not api.hub.may_post(dialog, user.id):
        raise base_error(NO_PERMISSION, 403)
    attachments = p.get("attachments") or []
    if isinstance(attachments, dict):
        attachments = list(attachments.values())
    if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
        raise ApiError(422, {"attachments": ["is invalid"]})
    recipient = 0
    if dialog["type"] == PRIVATE:
        recipient = next(u for u in dialog["occupants_ids"] if u != user.id)
    custom = {k: v for k, v in p.items() if k not in _CREATE_PARAMS and k not in MESSAGE_FIELDS}
    record = new_message_record(
        message_id=new_object_id(now),
        dialog_id=dialog["_id"],
        text=str(p.get("message") or ""),
        sender_id=user.id,
        recipient_id=recipient,
        attachments=attachments,
        custom=custom,
        now=now,
    )
    to_chat = str(p.get("send_to_chat")) == "1"
    if to_chat:
        check_pushable(pushed_fields(record["message"], custom, attachments))
    api.store.add_message(record, dialog)
    if to_chat:
        try:
            api.hub.push_history_message(record, user, dialog, custom)
        except LocalProtocolError as exc:  # a shape the chat encoder refuses: undo
            api.store.delete_message(record["_id"])
            raise ApiError(422, {"base": [f"cannot be sent to chat: {exc}"]}) from None
    return json_response(message_json(record, user), 201)


def _mark(
    api: RestApi, dialog: dict[str, Any], user: User, p: dict[str, Any], ids: list[str] | None
) -> None:
    """``read=1`` / ``delivered=1`` for the messages ``ids`` of ``dialog`` (all: None)."""
    read = str(p.get("read")) == "1"
    delivered = str(p.get("delivered")) == "1"
    for m in api.store.messages(dialog["_id"]):
        if ids is not None and m["_id"] not in ids:
            continue
        changed = False
        if (read or delivered) and user.id not in m["delivered_ids"]:
            m["delivered_ids"].append(user.id)
            changed = True
        if read and user.id not in m["read_ids"]:
            m["read_ids"].append(user.id)
            changed = True
        if changed:
            api.store.put_message(m)


def mark_all(api: RestApi, call: Call) -> Response:
    """``PUT /chat/Message`` with ``chat_dialog_id``: mark every message of the dialog."""
    dialog = find_dialog(api.store, str(call.params.get("chat_dialog_id") or ""), call.user)
    _mark(api, dialog, call.user, call.params, None)
    return Response(200)


def unread_counts(api: RestApi, call: Call) -> Response:
    """``GET /chat/Message/unread``: unread messages per group and private dialog."""
    user = call.user
    wanted = call.params.get("chat_dialog_ids")
    ids = [
        i.strip()
        for i in (wanted if isinstance(wanted, list) else str(wanted or "").split(","))
        if i.strip()
    ]
    dialogs = [
        d
        for d in api.store.dialogs(user.app_id)
        if visible(d, user) and d["type"] in (GROUP, PRIVATE)
    ]
    if ids:
        dialogs = [d for d in dialogs if d["_id"] in ids]
    counts = {d["_id"]: unread_count(api.store, d, user.id) for d in dialogs}
    return json_response({"total": sum(counts.values()), **counts})


def send_system_message(api: RestApi, call: Call) -> Response:
    """``POST /chat/Message/system``: a system message to ``recipientId`` over chat."""
    user, p = call.user, call.params
    recipient = (
        api.store.user(int(p["recipientId"])) if str(p.get("recipientId", "")).isdigit() else None
    )
    if recipient is None or recipient.app_id != user.app_id:
        raise ApiError(422, {"recipientId": ["user not found"]})
    params = {k: v for k, v in p.items() if k != "recipientId"}
    # As the hub writes them: objects and lists as JSON, the rest as text.
    check_pushable(
        {k: json.dumps(v) if isinstance(v, (dict, list)) else str(v) for k, v in params.items()}
    )
    try:
        message_id = api.hub.push_system_message(user, recipient, params)
    except LocalProtocolError as exc:  # raised while encoding, before delivery
        raise ApiError(422, {"base": [f"cannot be sent to chat: {exc}"]}) from None
    return json_response(
        {"messageId": message_id, "recipientId": recipient.id, "extensionParams": params}
    )


def update_messages(api: RestApi, call: Call) -> Response:
    """``PUT /chat/Message/{id1},{id2}``: mark read or delivered, or edit the text (the
    sender only)."""
    user, p = call.user, call.params
    records = [api.store.message(i) for i in call.args["ids"].split(",")]
    if any(r is None for r in records):
        raise base_error("Not found", 404)
    for record in records:
        assert record is not None
        dialog = find_dialog(api.store, record["chat_dialog_id"], user)
        if not _readable(dialog, user):
            raise base_error(NO_PERMISSION, 403)
        if "message" in p:
            if record["sender_id"] != user.id:
                raise base_error(NO_PERMISSION, 403)
            record["message"] = str(p["message"])
            record["updated"] = api.hub.now()
            api.store.put_message(record)
        _mark(api, dialog, user, p, [record["_id"]])
    return Response(200)


def delete_messages(api: RestApi, call: Call) -> Response:
    """``DELETE /chat/Message/{ids}``: for the caller, or for everybody with ``force=1``
    (the sender, or the dialog's owner or an admin); the lists of what happened."""
    user = call.user
    force = str(call.params.get("force")) == "1"
    result: dict[str, list[str]] = {
        "SuccessfullyDeleted": [],
        "NotFound": [],
        "WrongPermissions": [],
    }
    for message_id in call.args["ids"].split(","):
        record = api.store.message(message_id)
        dialog = api.store.dialog(record["chat_dialog_id"]) if record else None
        if record is None or dialog is None or not _readable(dialog, user):
            result["NotFound"].append(message_id)
            continue
        if force:
            if record["sender_id"] != user.id and role(dialog, user) not in ("owner", "admin"):
                result["WrongPermissions"].append(message_id)
                continue
            api.store.delete_message(message_id)
            api.hub.push_removal(record, user)
        else:
            record.setdefault("hidden_for", []).append(user.id)
            api.store.put_message(record)
        result["SuccessfullyDeleted"].append(message_id)
    return json_response({k: {"ids": v} for k, v in result.items()})


def _reacted_message(api: RestApi, call: Call) -> dict[str, Any]:
    record = api.store.message(call.args["id"])
    dialog = api.store.dialog(record["chat_dialog_id"]) if record else None
    if record is None or dialog is None or not _readable(dialog, call.user):
        raise base_error("Not found", 404)
    return record


def list_reactions(api: RestApi, call: Call) -> Response:
    """``GET /chat/Message/{id}/reactions``: who reacted with what."""
    reactions: dict[str, str] = _reacted_message(api, call).get("reactions") or {}
    out: dict[str, list[int]] = {}
    for uid, emoji in reactions.items():
        out.setdefault(emoji, []).append(int(uid))
    return json_response(out)


def update_reactions(api: RestApi, call: Call) -> Response:
    """``PUT /chat/Message/{id}/reactions``: ``add`` and/or ``remove`` the caller's reaction;
    the dialog's members hear of it over chat."""
    user, p = call.user, call.params
    record = _reacted_message(api, call)
    reactions: dict[str, str] = record.setdefault("reactions", {})
    add, remove = p.get("add"), p.get("remove")
    if not add and not remove:
        raise ApiError(422, {"base": ["add or remove is required"]})
    for value in (add, remove):
        if value is not None and (
            not isinstance(value, str)
            or not 0 < len(value) <= MAX_REACTION_CHARS
            or XML_FORBIDDEN.search(value)
        ):
            raise ApiError(422, {"base": ["a reaction is a short string"]})
    mine = reactions.get(str(user.id))
    if remove and mine == remove:
        del reactions[str(user.id)]
    if add:
        reactions[str(user.id)] = add
    api.store.put_message(record)
    api.hub.push_reactions(record, user, add, remove)
    return Response(200)


def search(api: RestApi, call: Call) -> Response:
    """``GET /chat/search``: dialogs by name, messages by text (in a date window), users
    by name or login, each list up to ``limit``."""
    user, p = call.user, call.params
    text = str(p.get("search_text") or "")
    if len(text) < 4:
        raise ApiError(422, {"search_text": ["is too short (minimum is 4 characters)"]})
    wanted = [i for i in str(p.get("chat_dialog_ids") or "").split(",") if i]
    dialogs = [d for d in api.store.dialogs(user.app_id) if visible(d, user)]
    if wanted:
        dialogs = [d for d in dialogs if d["_id"] in wanted]
    _, limit = paging(p)
    window = search_window(p)
    found_dialogs = [
        dialog_json(api.store, d, user) for d in dialogs if text in (d.get("name") or "")
    ]
    found_messages = [
        message_json(m, user)
        for d in dialogs
        for m in api.store.messages(d["_id"])
        if text in m["message"]
        and user.id not in m.get("hidden_for", [])
        and (window is None or window[0] <= m["date_sent"] <= window[1])
    ]
    users = [
        user_json(u)
        for u in api.store.users(user.app_id)
        if text in (u.full_name or "") or text in u.login
    ]
    return json_response(
        {
            "results": {
                "dialogs": found_dialogs[:limit],
                "messages": found_messages[:limit],
                "users": users[:limit],
            }
        }
    )
