"""Response parsers: ``(status, headers, body) -> typed model``, for every REST call.

Convention: a 2xx response gives the model; anything else **raises**.  A non-2xx status
raises :class:`~cubeproto.rest.errors.ApiError` (``SessionExpired`` for the 401 "Required
session does not exist"); a 2xx body that is not the JSON the endpoint promises raises
:class:`~cubeproto.rest.errors.ResponseFormatError` naming the offending path.  No other
exception escapes a parser, whatever the bytes (the fuzz target fuzz/fuzz_rest_responses.py
checks this).

Several calls answer a bare "200 OK" with an empty or non-JSON body; their parser
is :func:`parse_empty`, which never looks at the body.  ``headers`` is accepted by every parser
for a uniform signature (any mapping or iterable of pairs) and is currently unused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from ._reader import Ctx, Obj, as_int, decode_json, freeze
from .errors import api_error_from
from .models import (
    Blob,
    BlobObjectAccess,
    CustomObject,
    CustomObjectList,
    DeleteResult,
    Dialog,
    DialogList,
    DialogType,
    Message,
    MessageList,
    MessageReactions,
    NotificationSettings,
    OccupantList,
    Reactions,
    SearchResult,
    Session,
    SystemMessageResult,
    UnreadCounts,
    User,
)

__all__ = [
    "Headers",
    "check_status",
    "parse_blob",
    "parse_custom_object",
    "parse_custom_object_list",
    "parse_delete_result",
    "parse_dialog",
    "parse_dialog_list",
    "parse_empty",
    "parse_message",
    "parse_message_list",
    "parse_message_reactions",
    "parse_notification_settings",
    "parse_occupants",
    "parse_search",
    "parse_session",
    "parse_system_message",
    "parse_unread_counts",
    "parse_upload",
    "parse_user",
]

#: Response headers as any HTTP client gives them.
Headers = Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]


def check_status(status: int, body: bytes) -> None:
    """Raise the typed API error unless ``status`` is 2xx."""
    if not 200 <= status <= 299:
        raise api_error_from(status, body)


def _root(status: int, body: bytes) -> Obj:
    check_status(status, body)
    ctx = Ctx(status, body)
    return Obj(ctx, decode_json(ctx))


# -- model readers (take an Obj positioned on the record) ---------------------------------


def read_user(o: Obj) -> User:
    return User(
        id=o.req_int("id", lenient=True),
        login=o.text("login"),
        email=o.text("email"),
        full_name=o.text("full_name"),
        phone=o.text("phone"),
        avatar=o.text("avatar"),
        created_at=o.timestamp("created_at"),
        updated_at=o.timestamp("updated_at"),
        last_request_at=o.timestamp("last_request_at"),
        extra=o.extra(),
    )


def read_session(o: Obj) -> Session:
    user = o.obj("user")
    return Session(
        id=o.integer("id"),
        token=o.req_text("token"),
        application_id=o.integer("application_id", lenient=True),
        user_id=o.integer("user_id", lenient=True) or 0,
        ts=o.integer("ts"),
        created_at=o.timestamp("created_at"),
        updated_at=o.timestamp("updated_at"),
        user=read_user(user) if user is not None else None,
        extra=o.extra(),
    )


def _dialog_type(o: Obj) -> DialogType | int:
    raw = o.req_int("type", lenient=True)
    try:
        return DialogType(raw)
    except ValueError:
        return raw


def read_dialog(o: Obj) -> Dialog:
    return Dialog(
        id=o.req_text("_id"),
        type=_dialog_type(o),
        user_id=o.integer("user_id", lenient=True),
        name=o.text("name"),
        description=o.text("description"),
        photo=o.id_str("photo"),
        xmpp_room_jid=o.text("xmpp_room_jid"),
        occupants_ids=o.int_list("occupants_ids"),
        occupants_count=o.integer("occupants_count", lenient=True),
        admins_ids=o.int_list("admins_ids"),
        pinned_messages_ids=o.str_list("pinned_messages_ids"),
        last_message=o.text("last_message"),
        last_message_id=o.text("last_message_id"),
        last_message_user_id=o.integer("last_message_user_id", lenient=True),
        last_message_date_sent=o.integer("last_message_date_sent", lenient=True),
        last_message_status=o.text("last_message_status"),
        unread_messages_count=o.integer("unread_messages_count", lenient=True),
        created_at=o.timestamp("created_at"),
        updated_at=o.timestamp("updated_at"),
        extensions=o.mapping("extensions"),
        permissions=o.mapping("permissions"),
        extra=o.extra(),
    )


def _read_reactions(o: Obj) -> Reactions:
    total_obj = o.obj("total")
    total: dict[str, int] = {}
    if total_obj is not None:
        for emoji, count in total_obj.data.items():
            total[emoji] = as_int(o.ctx, (*total_obj.path, emoji), count, lenient=True)
    return Reactions(own=o.str_list("own"), total=MappingProxyType(total))


def _attachment(o: Obj, path: tuple[str | int, ...], value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        o.ctx.fail(path, "expected an attachment object")
    result: Mapping[str, Any] = freeze(value)
    return result


def _attachments(o: Obj) -> tuple[Mapping[str, Any], ...]:
    # Stored as a list; the create call sends an index-keyed object and may echo it back.
    raw = o.raw("attachments")
    if isinstance(raw, dict):
        return tuple(_attachment(o, ("attachments", k), v) for k, v in raw.items())
    return o.array("attachments", lambda p, v: _attachment(o, p, v))


def read_message(o: Obj) -> Message:
    reactions = o.obj("reactions")
    return Message(
        id=o.req_text("_id"),
        chat_dialog_id=o.text("chat_dialog_id"),
        message=o.text("message"),
        date_sent=o.integer("date_sent", lenient=True),
        sender_id=o.integer("sender_id", lenient=True),
        recipient_id=o.integer("recipient_id", lenient=True),
        read_ids=o.int_list("read_ids"),
        delivered_ids=o.int_list("delivered_ids"),
        views_count=o.integer("views_count", lenient=True),
        read=o.flag("read"),
        attachments=_attachments(o),
        reactions=_read_reactions(reactions) if reactions is not None else None,
        created_at=o.timestamp("created_at"),
        updated_at=o.timestamp("updated_at"),
        extra=o.extra(),
    )


def read_blob(o: Obj) -> Blob:
    access = o.obj("blob_object_access")
    return Blob(
        id=o.req_int("id", lenient=True),
        uid=o.text("uid"),
        name=o.text("name"),
        content_type=o.text("content_type"),
        size=o.integer("size", lenient=True),
        public=o.flag("public"),
        created_at=o.timestamp("created_at"),
        updated_at=o.timestamp("updated_at"),
        blob_object_access=_read_access(access) if access is not None else None,
        extra=o.extra(),
    )


def _read_access(o: Obj) -> BlobObjectAccess:
    return BlobObjectAccess(
        id=o.integer("id", lenient=True),
        blob_id=o.integer("blob_id", lenient=True),
        expires=o.timestamp("expires"),
        object_access_type=o.text("object_access_type"),
        params=o.text("params"),
        download_url=o.text("download_url"),
        extra=o.extra(),
    )


def read_custom_object(o: Obj) -> CustomObject:
    return CustomObject(
        id=o.req_text("_id"),
        parent_id=o.id_str("_parent_id"),
        user_id=o.integer("user_id", lenient=True),
        created_at=o.timestamp("created_at"),
        updated_at=o.timestamp("updated_at"),
        permissions=o.mapping("permissions"),
        fields=o.extra(),
    )


# -- parsers ------------------------------------------------------------------------------


def parse_empty(status: int, headers: Headers, body: bytes) -> None:
    """For calls that answer an empty (or plain-text) 200: only the status matters."""
    check_status(status, body)


def parse_session(status: int, headers: Headers, body: bytes) -> Session:
    """``{"session": {...}}`` (create / get session)."""
    return read_session(_root(status, body).req_obj("session"))


def parse_user(status: int, headers: Headers, body: bytes) -> User:
    """``{"user": {...}}`` (login, sign-up)."""
    return read_user(_root(status, body).req_obj("user"))


def parse_dialog(status: int, headers: Headers, body: bytes) -> Dialog:
    """A bare dialog object (create, update, subscribe, admins)."""
    return read_dialog(_root(status, body))


def parse_dialog_list(status: int, headers: Headers, body: bytes) -> DialogList:
    """``{"total_entries","skip","limit","items":[dialog]}``."""
    o = _root(status, body)
    return DialogList(
        total_entries=o.integer("total_entries", lenient=True),
        skip=o.integer("skip", lenient=True),
        limit=o.integer("limit", lenient=True),
        items=o.array("items", lambda p, v: read_dialog(Obj(o.ctx, v, p))),
        extra=o.extra(),
    )


def parse_delete_result(status: int, headers: Headers, body: bytes) -> DeleteResult | None:
    """``{"SuccessfullyDeleted":{"ids":[]},"NotFound":{...},"WrongPermissions":{...}}``.

    Deleting a single id answers an empty 200: that gives ``None``.
    """
    check_status(status, body)
    if not body.strip():
        return None
    o = _root(status, body)

    def ids(key: str) -> tuple[str, ...]:
        group = o.obj(key)
        return group.str_list("ids") if group is not None else ()

    return DeleteResult(
        deleted=ids("SuccessfullyDeleted"),
        not_found=ids("NotFound"),
        wrong_permissions=ids("WrongPermissions"),
        extra=o.extra(),
    )


def parse_notification_settings(status: int, headers: Headers, body: bytes) -> NotificationSettings:
    """``{"notifications":{"enabled":1}}`` (1/0 as number or string, or a boolean)."""
    o = _root(status, body).req_obj("notifications")
    enabled = o.flag("enabled")
    if enabled is None:
        o.ctx.fail(o.path, "missing key 'enabled'")
    return NotificationSettings(enabled=enabled)


def parse_occupants(status: int, headers: Headers, body: bytes) -> OccupantList:
    """``{"items":[user]}``; items may be bare users or ``{"user": {...}}`` wrappers."""
    o = _root(status, body)

    def user(p: tuple[str | int, ...], v: Any) -> User:
        item = Obj(o.ctx, v, p)
        inner = item.obj("user") if "user" in item.data and "id" not in item.data else None
        return read_user(inner if inner is not None else Obj(o.ctx, v, p))

    return OccupantList(items=o.array("items", user), extra=o.extra())


def parse_message(status: int, headers: Headers, body: bytes) -> Message:
    """A bare message object (create)."""
    return read_message(_root(status, body))


def parse_message_list(status: int, headers: Headers, body: bytes) -> MessageList:
    """``{"skip","limit","items":[message]}``."""
    o = _root(status, body)
    return MessageList(
        skip=o.integer("skip", lenient=True),
        limit=o.integer("limit", lenient=True),
        items=o.array("items", lambda p, v: read_message(Obj(o.ctx, v, p))),
        extra=o.extra(),
    )


def parse_unread_counts(status: int, headers: Headers, body: bytes) -> UnreadCounts:
    """``{"total":5,"<dialogId>":3,...}``."""
    o = _root(status, body)
    total = o.req_int("total", lenient=True)
    dialogs = {
        key: as_int(o.ctx, (key,), value, lenient=True)
        for key, value in o.data.items()
        if key != "total"
    }
    return UnreadCounts(total=total, dialogs=MappingProxyType(dialogs))


def parse_system_message(status: int, headers: Headers, body: bytes) -> SystemMessageResult:
    """``{"messageId","recipientId","extensionParams":{...}}``."""
    o = _root(status, body)
    return SystemMessageResult(
        message_id=o.req_text("messageId"),
        recipient_id=o.integer("recipientId", lenient=True),
        extension_params=o.mapping("extensionParams") or MappingProxyType({}),
        extra=o.extra(),
    )


def parse_message_reactions(status: int, headers: Headers, body: bytes) -> MessageReactions:
    """``{"👍":[67456,5687],"🚀":[9736]}``."""
    o = _root(status, body)
    by_emoji = {emoji: o.int_list(emoji) for emoji in list(o.data)}
    return MessageReactions(by_emoji=MappingProxyType(by_emoji))


def parse_search(status: int, headers: Headers, body: bytes) -> SearchResult:
    """``{"results":{"dialogs":[...],"messages":[...],"users":[...]}}``."""
    r = _root(status, body).req_obj("results")
    return SearchResult(
        dialogs=r.array("dialogs", lambda p, v: read_dialog(Obj(r.ctx, v, p))),
        messages=r.array("messages", lambda p, v: read_message(Obj(r.ctx, v, p))),
        users=r.array("users", lambda p, v: read_user(_unwrap_user(r, p, v))),
        extra=r.extra(),
    )


def _unwrap_user(r: Obj, p: tuple[str | int, ...], v: Any) -> Obj:
    item = Obj(r.ctx, v, p)
    if "id" not in item.data and isinstance(item.data.get("user"), dict):
        return item.req_obj("user")
    return item


def parse_blob(status: int, headers: Headers, body: bytes) -> Blob:
    """``{"blob": {...}}`` (create, info, object by uid)."""
    return read_blob(_root(status, body).req_obj("blob"))


def parse_upload(status: int, headers: Headers, body: bytes) -> None:
    """The storage (S3) answer to the multipart upload: 201 with an XML body, or an error."""
    check_status(status, body)


def parse_custom_object(status: int, headers: Headers, body: bytes) -> CustomObject:
    """A bare custom-object record (create)."""
    return read_custom_object(_root(status, body))


def parse_custom_object_list(status: int, headers: Headers, body: bytes) -> CustomObjectList:
    """``{"class_name","skip","limit","items":[record]}`` (list, batch create)."""
    o = _root(status, body)
    return CustomObjectList(
        class_name=o.text("class_name"),
        skip=o.integer("skip", lenient=True),
        limit=o.integer("limit", lenient=True),
        items=o.array("items", lambda p, v: read_custom_object(Obj(o.ctx, v, p))),
        extra=o.extra(),
    )
