"""Dialogs: ``/chat/Dialog`` -- list, create, update, delete, clear history, subscribe to a
public dialog, occupants, admins and notification settings.

A dialog is a store record (a dict); :func:`dialog_json` is how the API shows it to one
user (their unread count, the last message's status from their side).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..store import BROADCAST, GROUP, PRIVATE, PUBLIC, Store, User, iso
from .auth import user_json
from .common import (
    NO_PERMISSION,
    ApiError,
    Call,
    Response,
    base_error,
    int_list,
    json_response,
    obj,
    paging,
)
from .filters import matches

if TYPE_CHECKING:
    from .api import RestApi

__all__ = [
    "MAX_ADMINS",
    "change_admins",
    "clear_history",
    "create_dialog",
    "delete_dialogs",
    "dialog_json",
    "find_dialog",
    "list_dialogs",
    "list_occupants",
    "notifications",
    "role",
    "set_admins",
    "subscribe",
    "unread_count",
    "unsubscribe",
    "update_dialog",
    "visible",
]

MAX_ADMINS = 5
_ID = re.compile(r"[0-9a-f]{24}\Z")


def visible(dialog: dict[str, Any], user: User) -> bool:
    """Whether ``user`` sees ``dialog`` in their list (same application, not deleted by
    them, an occupant -- or any user, for a broadcast dialog)."""
    if dialog["app_id"] != user.app_id or user.id in dialog.get("hidden_for", []):
        return False
    return dialog["type"] == BROADCAST or user.id in dialog["occupants_ids"]


def find_dialog(store: Store, dialog_id: str, user: User) -> dict[str, Any]:
    """The dialog ``dialog_id`` of ``user``'s application, or 404."""
    dialog = store.dialog(dialog_id) if _ID.match(dialog_id) else None
    if dialog is None or dialog["app_id"] != user.app_id:
        raise base_error("Not found", 404)
    return dialog


def unread_count(store: Store, dialog: dict[str, Any], user_id: int) -> int:
    """Messages of ``dialog`` from others that ``user_id`` has not read (nor deleted)."""
    return sum(
        1
        for m in store.messages(dialog["_id"])
        if m["sender_id"] != user_id
        and user_id not in m["read_ids"]
        and user_id not in m.get("hidden_for", [])
    )


def role(dialog: dict[str, Any], user: User) -> str:
    """``owner``, ``admin``, ``member`` or ``none``."""
    if dialog["user_id"] == user.id:
        return "owner"
    if user.id in dialog["admins_ids"]:
        return "admin"
    return "member" if user.id in dialog["occupants_ids"] else "none"


def dialog_json(store: Store, dialog: dict[str, Any], user: User) -> dict[str, Any]:
    """The dialog as the API shows it to ``user`` (the SDK's ``Dialogs.Dialog``)."""
    messages = [m for m in store.messages(dialog["_id"]) if user.id not in m.get("hidden_for", [])]
    last = messages[-1] if messages else None
    status = None
    if last is not None and last["sender_id"] == user.id:
        others = set(dialog["occupants_ids"]) - {user.id}
        status = (
            "read"
            if others & set(last["read_ids"])
            else "delivered"
            if others & set(last["delivered_ids"])
            else "sent"
        )
    public = dialog["type"] == PUBLIC
    out: dict[str, Any] = {
        "_id": dialog["_id"],
        "user_id": dialog["user_id"],
        "type": dialog["type"],
        # A string always (the SDK's type): a private dialog has no name of its own.
        "name": dialog["name"] or "",
        "description": dialog["description"],
        "photo": dialog["photo"],
        "xmpp_room_jid": dialog["xmpp_room_jid"],
        "occupants_ids": [] if public else dialog["occupants_ids"],
        "occupants_count": len(dialog["occupants_ids"]),
        "admins_ids": dialog["admins_ids"],
        "pinned_messages_ids": dialog["pinned_messages_ids"],
        "last_message": last["message"] if last else None,
        "last_message_id": last["_id"] if last else None,
        "last_message_user_id": last["sender_id"] if last else None,
        "last_message_status": status,
        "unread_messages_count": unread_count(store, dialog, user.id),
        "created_at": iso(dialog["created"]),
        "updated_at": iso(dialog["updated"]),
    }
    # Optional in the SDK's type (absent, never null): the last message's date, the
    # custom fields and the permissions.
    if last is not None:
        out["last_message_date_sent"] = last["date_sent"]
    for key in ("extensions", "permissions"):
        if dialog.get(key) is not None:
            out[key] = dialog[key]
    return out


def list_dialogs(api: RestApi, call: Call) -> Response:
    """``GET /chat/Dialog``: the caller's dialogs, filtered, newest first, paged."""
    user, p = call.user, call.params
    items = [d for d in api.store.dialogs(user.app_id) if visible(d, user)]
    items = [d for d in items if matches(dialog_json(api.store, d, user), p)]
    items.sort(key=lambda d: d["updated"], reverse=True)
    skip, limit = paging(p)
    return json_response(
        {
            "total_entries": len(items),
            "skip": skip,
            "limit": limit,
            "items": [dialog_json(api.store, d, user) for d in items[skip : skip + limit]],
        }
    )


def create_dialog(api: RestApi, call: Call) -> Response:
    """``POST /chat/Dialog``: a dialog of type 1-4; a private one is found if it exists."""
    user, p = call.user, call.params
    dtype_raw = p.get("type")
    if str(dtype_raw) not in ("1", "2", "3", "4"):
        raise ApiError(422, {"type": ["is not included in the list"]})
    dtype = int(str(dtype_raw))
    occupants = int_list(p.get("occupants_ids"), "occupants_ids")
    for uid in occupants:
        other = api.store.user(uid)
        if other is None or other.app_id != user.app_id:
            raise ApiError(422, {"occupants_ids": [f"user {uid} not found"]})
    if dtype in (GROUP, PUBLIC, BROADCAST) and not p.get("name"):
        raise ApiError(422, {"name": ["can't be blank"]})
    admins = int_list(p.get("admins_ids"), "admins_ids")
    if len(admins) > MAX_ADMINS:
        raise ApiError(422, {"admins_ids": [f"at most {MAX_ADMINS} admins"]})
    if dtype == PRIVATE:
        others = set(occupants) - {user.id}
        if len(others) != 1:
            raise ApiError(422, {"occupants_ids": ["a private dialog has exactly 2 occupants"]})
        peer = api.store.user(others.pop())
        assert peer is not None
        dialog = api.hub.private_dialog(user, peer)
    else:
        fields = _dialog_fields(p)
        dialog = api.hub.new_dialog(
            user, {**fields, "type": dtype, "occupants_ids": occupants, "admins_ids": admins}
        )
    return json_response(dialog_json(api.store, dialog, user), 201)


def clear_history(api: RestApi, call: Call) -> Response:
    """``DELETE /chat/Dialog/clearHistory/{id}``: the caller no longer sees its messages."""
    dialog = find_dialog(api.store, call.args["id"], call.user)
    for m in api.store.messages(dialog["_id"]):
        m.setdefault("hidden_for", []).append(call.user.id)
        api.store.put_message(m)
    return Response(200)


def update_dialog(api: RestApi, call: Call) -> Response:
    """``PUT /chat/Dialog/{id}``: name, photo, description, extensions, permissions, and
    ``push_all``/``pull_all`` of occupants, admins and pinned messages."""
    user, p = call.user, call.params
    dialog = find_dialog(api.store, call.args["id"], user)
    rank = role(dialog, user)
    if rank == "none" or dialog["type"] == PRIVATE:
        raise base_error(NO_PERMISSION, 403)
    privileged = rank in ("owner", "admin")
    if (
        dialog["type"] in (PUBLIC, BROADCAST)
        and not privileged
        and any(k in p for k in ("name", "photo", "description", "push_all"))
    ):
        raise base_error(NO_PERMISSION, 403)
    changed = _dialog_fields(p)
    if changed.get("name", "") is None:
        raise ApiError(422, {"name": ["can't be blank"]})
    dialog.update(changed)
    push = obj(p.get("push_all"))
    pull = obj(p.get("pull_all"))
    if "admins_ids" in push or "admins_ids" in pull:
        change_admins(dialog, user, push.get("admins_ids"), pull.get("admins_ids"))
    added = int_list(push.get("occupants_ids"), "occupants_ids")
    removed = int_list(pull.get("occupants_ids"), "occupants_ids")
    if set(removed) - {user.id} and not privileged:
        raise base_error(NO_PERMISSION, 403)
    for uid in added:
        if api.store.user(uid) is None:
            raise ApiError(422, {"occupants_ids": [f"user {uid} not found"]})
    dialog["occupants_ids"] = sorted((set(dialog["occupants_ids"]) | set(added)) - set(removed))
    dialog["admins_ids"] = [a for a in dialog["admins_ids"] if a not in removed]
    pins = push.get("pinned_messages_ids")
    if pins:
        if not privileged:
            raise base_error(NO_PERMISSION, 403)
        dialog["pinned_messages_ids"] = list(dict.fromkeys([*dialog["pinned_messages_ids"], *pins]))
    unpins = pull.get("pinned_messages_ids") or []
    dialog["pinned_messages_ids"] = [m for m in dialog["pinned_messages_ids"] if m not in unpins]
    dialog["updated"] = api.hub.now()
    api.store.put_dialog(dialog)
    return json_response(dialog_json(api.store, dialog, user))


def change_admins(dialog: dict[str, Any], user: User, add: Any, remove: Any) -> None:
    """The owner adds and removes admins (at most :data:`MAX_ADMINS`)."""
    if dialog["user_id"] != user.id:
        raise base_error("Only the dialog owner can manage admins", 403)
    admins = set(dialog["admins_ids"]) | set(int_list(add, "admins_ids"))
    admins -= set(int_list(remove, "admins_ids"))
    if len(admins) > MAX_ADMINS:
        raise ApiError(422, {"admins_ids": [f"at most {MAX_ADMINS} admins"]})
    dialog["admins_ids"] = sorted(admins)


def _subscription(api: RestApi, call: Call, *, join: bool) -> dict[str, Any]:
    user = call.user
    dialog = find_dialog(api.store, call.args["id"], user)
    if dialog["type"] not in (PUBLIC, GROUP):
        raise base_error("Only public dialogs can be subscribed to", 403)
    if dialog["type"] == GROUP and user.id not in dialog["occupants_ids"]:
        raise base_error(NO_PERMISSION, 403)
    occupants = set(dialog["occupants_ids"])
    if join:
        occupants.add(user.id)
    else:
        occupants.discard(user.id)
    dialog["occupants_ids"] = sorted(occupants)
    api.store.put_dialog(dialog)
    return dialog


def subscribe(api: RestApi, call: Call) -> Response:
    """``POST /chat/Dialog/{id}/subscribe``: join a public dialog."""
    return json_response(dialog_json(api.store, _subscription(api, call, join=True), call.user))


def unsubscribe(api: RestApi, call: Call) -> Response:
    """``DELETE /chat/Dialog/{id}/subscribe``: leave it."""
    _subscription(api, call, join=False)
    return Response(200)


def set_admins(api: RestApi, call: Call) -> Response:
    """``PUT /chat/Dialog/{id}/admins``: ``push_all``/``pull_all`` of ``admins_ids``."""
    dialog = find_dialog(api.store, call.args["id"], call.user)
    push = obj(call.params.get("push_all"))
    pull = obj(call.params.get("pull_all"))
    change_admins(dialog, call.user, push.get("admins_ids"), pull.get("admins_ids"))
    api.store.put_dialog(dialog)
    return json_response(dialog_json(api.store, dialog, call.user))


def list_occupants(api: RestApi, call: Call) -> Response:
    """``GET /chat/Dialog/{id}/occupants``: the occupants as users, paged."""
    dialog = find_dialog(api.store, call.args["id"], call.user)
    skip, limit = paging(call.params)
    users = [api.store.user(u) for u in dialog["occupants_ids"][skip : skip + limit]]
    return json_response({"items": [{"user": user_json(u)} for u in users if u]})


def notifications(api: RestApi, call: Call) -> Response:
    """``GET``/``PUT /chat/Dialog/{id}/notifications``: the caller's push setting for it."""
    user = call.user
    dialog = find_dialog(api.store, call.args["id"], user)
    if role(dialog, user) == "none":
        raise base_error(NO_PERMISSION, 403)
    off = set(dialog.get("notifications_off", []))
    if call.method == "PUT":
        if str(call.params.get("enabled")) == "0":
            off.add(user.id)
        else:
            off.discard(user.id)
        dialog["notifications_off"] = sorted(off)
        api.store.put_dialog(dialog)
    return json_response({"notifications": {"enabled": 0 if user.id in off else 1}})


def delete_dialogs(api: RestApi, call: Call) -> Response:
    """``DELETE /chat/Dialog/{id1},{id2}``: for the caller, or for everybody with
    ``force=1`` (the owner only).  One id answers 200, 403 or 404; several, the lists."""
    user = call.user
    ids = call.args["ids"].split(",")
    force = str(call.params.get("force")) == "1"
    result: dict[str, list[str]] = {
        "SuccessfullyDeleted": [],
        "NotFound": [],
        "WrongPermissions": [],
    }
    for dialog_id in ids:
        dialog = api.store.dialog(dialog_id) if _ID.match(dialog_id) else None
        if dialog is None or not visible(dialog, user):
            result["NotFound"].append(dialog_id)
            continue
        if force:
            if dialog["user_id"] != user.id:
                result["WrongPermissions"].append(dialog_id)
                continue
            api.store.delete_dialog(dialog_id)
        else:
            dialog.setdefault("hidden_for", []).append(user.id)
            api.store.put_dialog(dialog)
        result["SuccessfullyDeleted"].append(dialog_id)
    if len(ids) == 1:
        if result["NotFound"]:
            raise base_error("Not found", 404)
        if result["WrongPermissions"]:
            raise base_error(NO_PERMISSION, 403)
        return Response(200)
    return json_response({k: {"ids": v} for k, v in result.items()})


def _dialog_fields(p: dict[str, Any]) -> dict[str, Any]:
    """The dialog fields present in ``p``, typed as the SDK's ``Dialogs.Dialog`` declares
    them: ``name``, ``description``, ``photo`` strings (a number is taken as its text;
    ``description``/``photo`` may be null), ``extensions`` and ``permissions`` objects or
    null.  Anything else: 422 ``is invalid``."""
    out: dict[str, Any] = {}
    for key in ("name", "description", "photo"):
        if key not in p:
            continue
        value = p[key]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if value is not None and not isinstance(value, str):
            raise ApiError(422, {key: ["is invalid"]})
        out[key] = value
    for key in ("extensions", "permissions"):
        if key in p:
            if p[key] is not None and not isinstance(p[key], dict):
                raise ApiError(422, {key: ["is invalid"]})
            out[key] = p[key]
    return out
