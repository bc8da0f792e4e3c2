"""Request builders for every REST call the chat guide uses (sections 4, 10, 11, 17, 24).

Each builder returns a frozen :class:`~cubeproto.rest.request.RestRequest` whose ``parse``
gives the typed result.  All builders take keyword-only ``token`` (the ``CB-Token``; the
session object stamps it for you) and ``base_url`` (default ``https://api.connectycube.com``).
Arguments are checked here, so a request that exists is one the server can read: invalid
ids, header values or JSON data raise :class:`~cubeproto.errors.LocalProtocolError`.

Encoding choices follow the official SDK where it has a quirk (section 28): dialog
``occupants_ids``/``admins_ids`` on create and unread ``chat_dialog_ids`` are joined with
``", "``; search ids with ``","``; DELETE parameters travel in a form body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final, Literal

from ..errors import LocalProtocolError
from .models import (
    Blob,
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
    SearchResult,
    Session,
    SystemMessageResult,
    UnreadCounts,
    User,
)
from .query import UNDEFINED, Undefined, encode_uri_component
from .request import DEFAULT_BASE_URL, RestRequest, build, check_base_url, check_segment
from .responses import (
    parse_blob,
    parse_custom_object,
    parse_custom_object_list,
    parse_delete_result,
    parse_dialog,
    parse_dialog_list,
    parse_empty,
    parse_message,
    parse_message_list,
    parse_message_reactions,
    parse_notification_settings,
    parse_occupants,
    parse_search,
    parse_session,
    parse_system_message,
    parse_unread_counts,
    parse_user,
)
from .signing import signed_session_params

__all__ = [
    "EmailPassword",
    "FirebaseToken",
    "GuestUser",
    "LoginPassword",
    "SocialToken",
    "UserAuth",
    "add_admins",
    "blob_private_url",
    "blob_public_url",
    "clear_history",
    "complete_blob",
    "create_blob",
    "create_custom_object",
    "create_custom_objects",
    "create_dialog",
    "create_message",
    "create_session",
    "create_session_signed",
    "delete_blob",
    "delete_dialogs",
    "delete_messages",
    "destroy_session",
    "get_blob",
    "get_blob_object",
    "get_notifications",
    "get_session",
    "list_custom_objects",
    "list_dialogs",
    "list_messages",
    "list_occupants",
    "list_reactions",
    "login",
    "logout",
    "mark_all_read",
    "remove_admins",
    "report_message",
    "report_user",
    "search",
    "send_system_message",
    "set_notifications",
    "sign_up",
    "subscribe_dialog",
    "unread_counts",
    "unsubscribe_dialog",
    "update_dialog",
    "update_messages",
    "update_reactions",
]

SortField = str
#: Parameters that have their own keyword argument; a filter may not smuggle them in.
_RESERVED_PARAMS: Final = frozenset(
    {"limit", "skip", "sort_asc", "sort_desc", "count", "chat_dialog_id", "mark_as_read", "preview"}
)
_DIALOG_LIST_FIELDS: Final = frozenset({"occupants_ids", "admins_ids", "pinned_messages_ids"})


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise LocalProtocolError(f"{what} must be a str, not {type(value).__name__}")
    return value


def _user_id(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LocalProtocolError(f"{what} must be a non-negative int, got {value!r}")
    return value


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LocalProtocolError(f"{what} must be a non-negative int, got {value!r}")
    return value


def _ids_segment(ids: str | Sequence[str], what: str) -> str:
    """One id or several joined with a bare comma (section 3.1)."""
    items = [ids] if isinstance(ids, str) else list(ids)
    if not items:
        raise LocalProtocolError(f"at least one {what} is required")
    return ",".join(check_segment(i, what) for i in items)


def _paging(params: dict[str, Any], limit: int | None, skip: int | None) -> None:
    if limit is not None:
        params["limit"] = _count(limit, "limit")
    if skip is not None:
        params["skip"] = _count(skip, "skip")


def _sorting(params: dict[str, Any], sort_asc: str | None, sort_desc: str | None) -> None:
    if sort_asc is not None and sort_desc is not None:
        raise LocalProtocolError("give sort_asc or sort_desc, not both")
    if sort_asc is not None:
        params["sort_asc"] = _text(sort_asc, "sort_asc")
    if sort_desc is not None:
        params["sort_desc"] = _text(sort_desc, "sort_desc")


def _filters(params: dict[str, Any], filters: Mapping[str, Any] | None) -> None:
    """``{"updated_at": {"gt": 1700000000}, "type": {"in": [2, 3]}}`` -> ``field[op]=...``."""
    if filters is None:
        return
    if not isinstance(filters, Mapping):
        raise LocalProtocolError("filters must be a mapping of field -> value or {op: value}")
    for key, value in filters.items():
        if key in params or key in _RESERVED_PARAMS:
            raise LocalProtocolError(f"filter {key!r} clashes with a named argument")
        params[key] = value


# -- sessions (section 4) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginPassword:
    """A user session by login and password."""

    login: str
    password: str

    def fields(self) -> dict[str, Any]:
        return {
            "user": {
                "login": _text(self.login, "login"),
                "password": _text(self.password, "password"),
            }
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailPassword:
    """A user session by e-mail and password."""

    email: str
    password: str

    def fields(self) -> dict[str, Any]:
        return {
            "user": {
                "email": _text(self.email, "email"),
                "password": _text(self.password, "password"),
            }
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class GuestUser:
    """A guest user session (the user lives one day)."""

    full_name: str

    def fields(self) -> dict[str, Any]:
        return {"user": {"guest": "1", "full_name": _text(self.full_name, "full_name")}}


@dataclass(frozen=True, slots=True, kw_only=True)
class SocialToken:
    """Facebook or Twitter login; ``secret`` is Twitter's token secret."""

    provider: Literal["facebook", "twitter"]
    token: str
    secret: str | None = None

    def __post_init__(self) -> None:
        if self.provider not in ("facebook", "twitter"):
            raise LocalProtocolError(f"unknown social provider {self.provider!r}")

    def fields(self) -> dict[str, Any]:
        keys: dict[str, Any] = {"token": _text(self.token, "token")}
        if self.secret is not None:
            keys["secret"] = _text(self.secret, "secret")
        return {"provider": self.provider, "keys": keys}


@dataclass(frozen=True, slots=True, kw_only=True)
class FirebaseToken:
    """Firebase phone or e-mail login with a Firebase ID token."""

    provider: Literal["firebase_phone", "firebase_email"]
    project_id: str
    access_token: str

    def __post_init__(self) -> None:
        if self.provider not in ("firebase_phone", "firebase_email"):
            raise LocalProtocolError(f"unknown firebase provider {self.provider!r}")

    def fields(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            self.provider: {
                "project_id": _text(self.project_id, "project_id"),
                "access_token": _text(self.access_token, "access_token"),
            },
        }


UserAuth = LoginPassword | EmailPassword | GuestUser | SocialToken | FirebaseToken


def _app_fields(application_id: int | str, auth_key: str) -> dict[str, Any]:
    if isinstance(application_id, bool) or not isinstance(application_id, (int, str)):
        raise LocalProtocolError("application_id must be an int or str")
    return {"application_id": application_id, "auth_key": _text(auth_key, "auth_key")}


def create_session(
    *,
    application_id: int | str,
    auth_key: str,
    user: UserAuth | None = None,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[Session]:
    """``POST /session.json`` -- an application session, or a user session with ``user``.

    ``token``: an older token still held (the SDK sends it on every request).
    """
    params = _app_fields(application_id, auth_key)
    if user is not None:
        params.update(user.fields())
    return build("POST", ["session"], parse_session, params=params, token=token, base_url=base_url)


def create_session_signed(
    *,
    application_id: int | str,
    auth_key: str,
    auth_secret: str,
    nonce: int | str,
    timestamp: int,
    user: UserAuth | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[Session]:
    """The legacy signed ``POST /session.json`` (section 4.2; UNVERIFIED on today's server).

    ``nonce`` (SDK 3.x: a random int 0..9999) and ``timestamp`` (unix seconds) are injected so
    the request is reproducible; the signature is HMAC-SHA1 over the sorted parameters.
    """
    params = _app_fields(application_id, auth_key)
    params["nonce"] = nonce
    params["timestamp"] = timestamp
    if user is not None:
        params.update(user.fields())
    signed = signed_session_params(params, auth_secret)
    return build("POST", ["session"], parse_session, params=signed, base_url=base_url)


def get_session(
    *, token: str | None = None, base_url: str = DEFAULT_BASE_URL
) -> RestRequest[Session]:
    """``GET /session.json``."""
    return build("GET", ["session"], parse_session, token=token, base_url=base_url)


def destroy_session(
    *, token: str | None = None, base_url: str = DEFAULT_BASE_URL
) -> RestRequest[None]:
    """``DELETE /session.json`` (empty 200)."""
    return build("DELETE", ["session"], parse_empty, token=token, base_url=base_url)


def login(
    auth: LoginPassword | EmailPassword,
    *,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[User]:
    """``POST /login.json``: attach a user to the current application session.

    The credentials go at the top level, not under ``user`` (section 4.3).
    """
    if not isinstance(auth, (LoginPassword, EmailPassword)):
        raise LocalProtocolError("login takes LoginPassword or EmailPassword")
    params = dict(auth.fields()["user"])
    return build("POST", ["login"], parse_user, params=params, token=token, base_url=base_url)


def logout(*, token: str | None = None, base_url: str = DEFAULT_BASE_URL) -> RestRequest[None]:
    """``DELETE /login.json`` (empty 200)."""
    return build("DELETE", ["login"], parse_empty, token=token, base_url=base_url)


def sign_up(
    user: Mapping[str, Any],
    *,
    auth_key: str | None = None,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[User]:
    """``POST /users.json`` ``{"user": {...}}``; ``CB-AuthKey`` is sent when there is no token."""
    if not isinstance(user, Mapping):
        raise LocalProtocolError("user must be a mapping of user fields")
    return build(
        "POST",
        ["users"],
        parse_user,
        params={"user": dict(user)},
        token=token,
        auth_key=auth_key,
        base_url=base_url,
    )


# -- dialogs (section 10) -----------------------------------------------------------------


def _sdk_id_list(ids: Sequence[int], what: str) -> str:
    """The SDK's create-dialog quirk: an id array becomes one ``", "``-joined string."""
    if isinstance(ids, (str, bytes)):
        raise LocalProtocolError(f"{what} must be a sequence of user ids")
    return ", ".join(str(_user_id(i, what)) for i in ids)


def create_dialog(
    *,
    type: DialogType | int,
    occupants_ids: Sequence[int] = (),
    name: str | None = None,
    photo: str | None = None,
    description: str | None = None,
    admins_ids: Sequence[int] = (),
    extensions: Mapping[str, Any] | None = None,
    permissions: Mapping[str, Any] | None = None,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[Dialog]:
    """``POST /chat/Dialog.json`` (section 10.2).

    Types 2 (group) and 3 (private) need ``occupants_ids`` (private: exactly one, the peer;
    the caller is added by the server); types 1, 2 and 4 need a ``name``.
    """
    try:
        kind = DialogType(type)
    except ValueError as exc:
        raise LocalProtocolError(f"unknown dialog type {type!r}") from exc
    if kind in (DialogType.GROUP, DialogType.PRIVATE) and not occupants_ids:
        raise LocalProtocolError(f"a {kind.name.lower()} dialog needs occupants_ids")
    if kind is DialogType.PRIVATE and len(occupants_ids) != 1:
        raise LocalProtocolError("a private dialog has exactly one other occupant")
    if kind in (DialogType.BROADCAST, DialogType.GROUP, DialogType.PUBLIC) and not name:
        raise LocalProtocolError(f"a {kind.name.lower()} dialog needs a name")
    params: dict[str, Any] = {"type": int(kind)}
    if name is not None:
        params["name"] = _text(name, "name")
    if occupants_ids:
        params["occupants_ids"] = _sdk_id_list(occupants_ids, "occupants_ids")
    if admins_ids:
        params["admins_ids"] = _sdk_id_list(admins_ids, "admins_ids")
    if photo is not None:
        params["photo"] = _text(photo, "photo")
    if description is not None:
        params["description"] = _text(description, "description")
    if extensions is not None:
        params["extensions"] = dict(extensions)
    if permissions is not None:
        params["permissions"] = dict(permissions)
    return build(
        "POST", ["chat", "Dialog"], parse_dialog, params=params, token=token, base_url=base_url
    )


def list_dialogs(
    *,
    filters: Mapping[str, Any] | None = None,
    limit: int | None = None,
    skip: int | None = None,
    sort_asc: SortField | None = None,
    sort_desc: SortField | None = None,
    count: bool = False,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[DialogList]:
    """``GET /chat/Dialog.json`` with filters (section 10.1).

    ``filters`` maps a field to a value (exact match) or to ``{op: value}`` with op one of
    lt, lte, gt, gte, ne, in, nin, all, ctn; list values are comma-joined
    (``{"type": {"in": [2, 3]}}`` -> ``type[in]=2%2C3``).  With no argument at all no query
    string is sent.  ``count=True`` adds ``count=1`` (the server's answer shape for it is
    UNVERIFIED; this parser expects the usual list object).
    """
    params: dict[str, Any] = {}
    _filters(params, filters)
    _paging(params, limit, skip)
    _sorting(params, sort_asc, sort_desc)
    if count:
        params["count"] = 1
    return build(
        "GET",
        ["chat", "Dialog"],
        parse_dialog_list,
        params=params or None,
        token=token,
        base_url=base_url,
    )


def _list_change(
    value: Mapping[str, Sequence[Any]] | None, what: str
) -> dict[str, list[Any]] | None:
    if value is None:
        return None
    out: dict[str, list[Any]] = {}
    for key, ids in value.items():
        if key not in _DIALOG_LIST_FIELDS:
            raise LocalProtocolError(
                f"{what} key {key!r} is not one of {sorted(_DIALOG_LIST_FIELDS)}"
            )
        if isinstance(ids, (str, bytes)):
            raise LocalProtocolError(f"{what}.{key} must be a sequence of ids")
        if key == "pinned_messages_ids":
            out[key] = [check_segment(i, "pinned message id") for i in ids]
        else:
            out[key] = [_user_id(i, f"{what}.{key}") for i in ids]
    return out


def update_dialog(
    dialog_id: str,
    *,
    name: str | None = None,
    photo: str | None = None,
    description: str | None = None,
    push_all: Mapping[str, Sequence[Any]] | None = None,
    pull_all: Mapping[str, Sequence[Any]] | None = None,
    extensions: Mapping[str, Any] | Undefined | None = UNDEFINED,
    permissions: Mapping[str, Any] | None = None,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[Dialog]:
    """``PUT /chat/Dialog/{id}.json`` (section 10.4).

    ``push_all`` adds and ``pull_all`` removes ids in ``occupants_ids``, ``admins_ids`` or
    ``pinned_messages_ids``.  ``extensions=None`` sends ``null``, which clears them; leave it
    out to keep them.
    """
    params: dict[str, Any] = {}
    if name is not None:
        params["name"] = _text(name, "name")
    if photo is not None:
        params["photo"] = _text(photo, "photo")
    if description is not None:
        params["description"] = _text(description, "description")
    pushed = _list_change(push_all, "push_all")
    if pushed:
        params["push_all"] = pushed
    pulled = _list_change(pull_all, "pull_all")
    if pulled:
        params["pull_all"] = pulled
    if not isinstance(extensions, Undefined):
        params["extensions"] = None if extensions is None else dict(extensions)
    if permissions is not None:
        params["permissions"] = dict(permissions)
    if not params:
        raise LocalProtocolError("update_dialog needs at least one change")
    segment = check_segment(dialog_id, "dialog id")
    return build(
        "PUT",
        ["chat", "Dialog", segment],
        parse_dialog,
        params=params,
        token=token,
        base_url=base_url,
    )


def delete_dialogs(
    dialog_ids: str | Sequence[str],
    *,
    force: bool = False,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[DeleteResult | None]:
    """``DELETE /chat/Dialog/{id1},{id2}.json``, body ``force=1`` to delete for everybody.

    One id answers an empty 200 (result ``None``); several give a :class:`DeleteResult`.
    """
    segment = _ids_segment(dialog_ids, "dialog id")
    return build(
        "DELETE",
        ["chat", "Dialog", segment],
        parse_delete_result,
        params={"force": 1} if force else None,
        token=token,
        base_url=base_url,
    )


def clear_history(
    dialog_id: str,
    *,
    force: bool = False,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[None]:
    """``DELETE /chat/Dialog/clearHistory/{id}.json``; ``force=1`` clears it for everyone
    (owner only, per the docs; the SDK never sends it)."""
    segment = check_segment(dialog_id, "dialog id")
    return build(
        "DELETE",
        ["chat", "Dialog", "clearHistory", segment],
        parse_empty,
        params={"force": 1} if force else None,
        token=token,
        base_url=base_url,
    )


def subscribe_dialog(
    dialog_id: str, *, token: str | None = None, base_url: str = DEFAULT_BASE_URL
) -> RestRequest[Dialog]:
    """``POST /chat/Dialog/{id}/subscribe.json`` (join a public dialog), no body."""
    segment = check_segment(dialog_id, "dialog id")
    return build(
        "POST",
        ["chat", "Dialog", segment, "subscribe"],
        parse_dialog,
        token=token,
        base_url=base_url,
    )


def unsubscribe_dialog(
    dialog_id: str, *, token: str | None = None, base_url: str = DEFAULT_BASE_URL
) -> RestRequest[None]:
    """``DELETE /chat/Dialog/{id}/subscribe.json``."""
    segment = check_segment(dialog_id, "dialog id")
    return build(
        "DELETE",
        ["chat", "Dialog", segment, "subscribe"],
        parse_empty,
        token=token,
        base_url=base_url,
    )


def list_occupants(
    dialog_id: str,
    *,
    limit: int | None = None,
    skip: int | None = None,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[OccupantList]:
    """``GET /chat/Dialog/{id}/occupants.json`` (public dialogs)."""
    segment = check_segment(dialog_id, "dialog id")
    params: dict[str, Any] = {}
    _paging(params, limit, skip)
    return build(
        "GET",
        ["chat", "Dialog", segment, "occupants"],
        parse_occupants,
        params=params or None,
        token=token,
        base_url=base_url,
    )


def _admins(
    dialog_id: str, op: str, admins_ids: Sequence[int], token: str | None, base_url: str
) -> RestRequest[Dialog]:
    segment = check_segment(dialog_id, "dialog id")
    if isinstance(admins_ids, (str, bytes)) or not admins_ids:
        raise LocalProtocolError("admins_ids must be a non-empty sequence of user ids")
    ids = [_user_id(i, "admins_ids") for i in admins_ids]
    return build(
        "PUT",
        ["chat", "Dialog", segment, "admins"],
        parse_dialog,
        params={op: {"admins_ids": ids}},
        token=token,
        base_url=base_url,
    )


def add_admins(
    dialog_id: str,
    admins_ids: Sequence[int],
    *,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[Dialog]:
    """``PUT /chat/Dialog/{id}/admins.json`` ``{"push_all":{"admins_ids":[...]}}``."""
    return _admins(dialog_id, "push_all", admins_ids, token, base_url)


def remove_admins(
    dialog_id: str,
    admins_ids: Sequence[int],
    *,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[Dialog]:
    """``PUT /chat/Dialog/{id}/admins.json`` ``{"pull_all":{"admins_ids":[...]}}``."""
    return _admins(dialog_id, "pull_all", admins_ids, token, base_url)


def get_notifications(
    dialog_id: str, *, token: str | None = None, base_url: str = DEFAULT_BASE_URL
) -> RestRequest[NotificationSettings]:
    """``GET /chat/Dialog/{id}/notifications.json``."""
    segment = check_segment(dialog_id, "dialog id")
    return build(
        "GET",
        ["chat", "Dialog", segment, "notifications"],
        parse_notification_settings,
        token=token,
        base_url=base_url,
    )


def set_notifications(
    dialog_id: str, enabled: bool, *, token: str | None = None, base_url: str = DEFAULT_BASE_URL
) -> RestRequest[NotificationSettings]:
    """``PUT /chat/Dialog/{id}/notifications.json`` ``{"enabled":1}`` or ``0`` (as the SDK)."""
    segment = check_segment(dialog_id, "dialog id")
    if not isinstance(enabled, bool):
        raise LocalProtocolError("enabled must be a bool")
    return build(
        "PUT",
        ["chat", "Dialog", segment, "notifications"],
        parse_notification_settings,
        params={"enabled": int(enabled)},
        token=token,
        base_url=base_url,
    )


# -- messages (section 11) ----------------------------------------------------------------


def list_messages(
    chat_dialog_id: str,
    *,
    filters: Mapping[str, Any] | None = None,
    sort_asc: SortField | None = None,
    sort_desc: SortField | None = None,
    limit: int | None = None,
    skip: int | None = None,
    mark_as_read: bool = True,
    preview: bool = False,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[MessageList]:
    """``GET /chat/Message.json?chat_dialog_id=...`` (section 11.1).

    ``filters`` as for :func:`list_dialogs` (``{"date_sent": {"lt": 1544111751}}`` pages
    backwards).  ``mark_as_read=False`` sends ``mark_as_read=0`` (by default the server marks
    what it returns as read); ``preview=True`` sends ``preview=1``.
    """
    params: dict[str, Any] = {"chat_dialog_id": check_segment(chat_dialog_id, "dialog id")}
    _filters(params, filters)
    _sorting(params, sort_asc, sort_desc)
    _paging(params, limit, skip)
    if not mark_as_read:
        params["mark_as_read"] = 0
    if preview:
        params["preview"] = 1
    return build(
        "GET",
        ["chat", "Message"],
        parse_message_list,
        params=params,
        token=token,
        base_url=base_url,
    )


def create_message(
    *,
    chat_dialog_id: str | None = None,
    recipient_id: int | None = None,
    message: str | None = None,
    attachments: Sequence[Mapping[str, Any]] = (),
    extension: Mapping[str, Any] | None = None,
    send_to_chat: bool = False,
    markable: bool = False,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[Message]:
    """``POST /chat/Message.json``: store a message in history (section 11.3).

    Exactly one of ``chat_dialog_id`` / ``recipient_id``.  ``attachments`` go as an
    index-keyed object (``{"0": {...}}``); ``extension`` keys become top-level custom keys;
    ``send_to_chat=True`` also delivers it over XMPP.
    """
    if (chat_dialog_id is None) == (recipient_id is None):
        raise LocalProtocolError("give exactly one of chat_dialog_id and recipient_id")
    params: dict[str, Any] = {}
    if chat_dialog_id is not None:
        params["chat_dialog_id"] = check_segment(chat_dialog_id, "dialog id")
    if recipient_id is not None:
        params["recipient_id"] = _user_id(recipient_id, "recipient_id")
    if message is not None:
        params["message"] = _text(message, "message")
    if attachments:
        params["attachments"] = {str(i): dict(a) for i, a in enumerate(attachments)}
    if send_to_chat:
        params["send_to_chat"] = 1
    if markable:
        params["markable"] = 1
    for key, value in (extension or {}).items():
        if key in params:
            raise LocalProtocolError(f"extension key {key!r} clashes with a message field")
        params[key] = value
    return build(
        "POST", ["chat", "Message"], parse_message, params=params, token=token, base_url=base_url
    )


def update_messages(
    message_ids: str | Sequence[str],
    *,
    chat_dialog_id: str | None = None,
    read: bool = False,
    delivered: bool = False,
    message: str | None = None,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[None]:
    """``PUT /chat/Message/{id1},{id2}.json``: mark read / delivered, or edit the body."""
    params: dict[str, Any] = {}
    if read:
        params["read"] = 1
    if delivered:
        params["delivered"] = 1
    if message is not None:
        params["message"] = _text(message, "message")
    if not params:
        raise LocalProtocolError("update_messages needs read, delivered or message")
    if chat_dialog_id is not None:
        params["chat_dialog_id"] = check_segment(chat_dialog_id, "dialog id")
    segment = _ids_segment(message_ids, "message id")
    return build(
        "PUT",
        ["chat", "Message", segment],
        parse_empty,
        params=params,
        token=token,
        base_url=base_url,
    )


def mark_all_read(
    chat_dialog_id: str, *, token: str | None = None, base_url: str = DEFAULT_BASE_URL
) -> RestRequest[None]:
    """``PUT /chat/Message.json`` ``{"read":1,"chat_dialog_id":...}`` (no ids: all messages)."""
    params = {"read": 1, "chat_dialog_id": check_segment(chat_dialog_id, "dialog id")}
    return build(
        "PUT", ["chat", "Message"], parse_empty, params=params, token=token, base_url=base_url
    )


def delete_messages(
    message_ids: str | Sequence[str],
    *,
    force: bool = False,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[DeleteResult | None]:
    """``DELETE /chat/Message/{ids}.json``: for me, or for everybody with ``force=1``."""
    segment = _ids_segment(message_ids, "message id")
    return build(
        "DELETE",
        ["chat", "Message", segment],
        parse_delete_result,
        params={"force": 1} if force else None,
        token=token,
        base_url=base_url,
    )


def send_system_message(
    recipient_id: int,
    extension: Mapping[str, Any] | None = None,
    *,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[SystemMessageResult]:
    """``POST /chat/Message/system.json`` ``{"recipientId":..., any other keys}``."""
    params: dict[str, Any] = {"recipientId": _user_id(recipient_id, "recipient_id")}
    for key, value in (extension or {}).items():
        if key == "recipientId":
            raise LocalProtocolError("extension must not contain recipientId")
        params[key] = value
    return build(
        "POST",
        ["chat", "Message", "system"],
        parse_system_message,
        params=params,
        token=token,
        base_url=base_url,
    )


def unread_counts(
    chat_dialog_ids: Sequence[str] | None = None,
    *,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[UnreadCounts]:
    """``GET /chat/Message/unread.json?chat_dialog_ids=a%2C%20b`` (ids joined with ``", "``
    as the SDK does); no ids: every dialog."""
    params: dict[str, Any] | None = None
    if chat_dialog_ids is not None:
        if isinstance(chat_dialog_ids, str):
            raise LocalProtocolError("chat_dialog_ids must be a sequence of dialog ids")
        params = {
            "chat_dialog_ids": ", ".join(check_segment(i, "dialog id") for i in chat_dialog_ids)
        }
    return build(
        "GET",
        ["chat", "Message", "unread"],
        parse_unread_counts,
        params=params,
        token=token,
        base_url=base_url,
    )


def update_reactions(
    message_id: str,
    *,
    add: str | None = None,
    remove: str | None = None,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[None]:
    """``PUT /chat/Message/{id}/reactions.json`` ``{"add":..,"remove":..}``; both = change."""
    params: dict[str, Any] = {}
    if add is not None:
        params["add"] = _text(add, "add")
    if remove is not None:
        params["remove"] = _text(remove, "remove")
    if not params:
        raise LocalProtocolError("update_reactions needs add, remove or both")
    segment = check_segment(message_id, "message id")
    return build(
        "PUT",
        ["chat", "Message", segment, "reactions"],
        parse_empty,
        params=params,
        token=token,
        base_url=base_url,
    )


def list_reactions(
    message_id: str, *, token: str | None = None, base_url: str = DEFAULT_BASE_URL
) -> RestRequest[MessageReactions]:
    """``GET /chat/Message/{id}/reactions.json``."""
    segment = check_segment(message_id, "message id")
    return build(
        "GET",
        ["chat", "Message", segment, "reactions"],
        parse_message_reactions,
        token=token,
        base_url=base_url,
    )


def _iso_date(value: datetime | int, what: str) -> str:
    """JS ``new Date(x).toISOString()``: ints are milliseconds; output has ``.mmmZ``."""
    if isinstance(value, bool):
        raise LocalProtocolError(f"{what} must be a datetime or int milliseconds")
    if isinstance(value, int):
        try:
            moment = datetime.fromtimestamp(value / 1000, tz=timezone.utc)
        except (OverflowError, OSError, ValueError) as exc:
            raise LocalProtocolError(f"{what} {value} is out of range") from exc
        millis = value % 1000
    elif isinstance(value, datetime):
        if value.tzinfo is None:
            raise LocalProtocolError(f"{what} must be timezone-aware")
        moment = value.astimezone(timezone.utc)
        millis = moment.microsecond // 1000
    else:
        raise LocalProtocolError(f"{what} must be a datetime or int milliseconds")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"


def search(
    search_text: str,
    *,
    chat_dialog_ids: Sequence[str] | None = None,
    start_date: datetime | int | None = None,
    end_date: datetime | int | None = None,
    limit: int | None = None,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[SearchResult]:
    """``GET /chat/search.json`` (section 11.5).  Dates: aware datetimes or int milliseconds
    (as JS ``Date``), sent as ``2016-03-23T17:00:42.000Z``; ``end_date`` goes with
    ``start_date``."""
    params: dict[str, Any] = {"search_text": _text(search_text, "search_text")}
    if (start_date is None) != (end_date is None):
        raise LocalProtocolError("start_date and end_date go together")
    if start_date is not None and end_date is not None:
        params["start_date"] = _iso_date(start_date, "start_date")
        params["end_date"] = _iso_date(end_date, "end_date")
    if chat_dialog_ids is not None:
        if isinstance(chat_dialog_ids, str):
            raise LocalProtocolError("chat_dialog_ids must be a sequence of dialog ids")
        params["chat_dialog_ids"] = ",".join(check_segment(i, "dialog id") for i in chat_dialog_ids)
    _paging(params, limit, None)
    return build(
        "GET", ["chat", "search"], parse_search, params=params, token=token, base_url=base_url
    )


# -- storage (section 17) -----------------------------------------------------------------


def create_blob(
    *,
    name: str,
    content_type: str,
    public: bool = False,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[Blob]:
    """``POST /blobs.json`` ``{"blob":{"name","content_type","public"}}``.

    Private by default, as the server docs say (the SDK's upload helper defaults to public).
    """
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise LocalProtocolError("blob name must be 1-100 characters")
    if not isinstance(public, bool):
        raise LocalProtocolError("public must be a bool")
    params = {
        "blob": {
            "name": name,
            "content_type": _text(content_type, "content_type"),
            "public": public,
        }
    }
    return build("POST", ["blobs"], parse_blob, params=params, token=token, base_url=base_url)


def complete_blob(
    blob_id: int, size: int, *, token: str | None = None, base_url: str = DEFAULT_BASE_URL
) -> RestRequest[None]:
    """``PUT /blobs/{id}/complete.json`` ``{"size": N}`` (the SDK's body form)."""
    segment = check_segment(_user_id(blob_id, "blob id"), "blob id")
    return build(
        "PUT",
        ["blobs", segment, "complete"],
        parse_empty,
        params={"size": _count(size, "size")},
        token=token,
        base_url=base_url,
    )


def get_blob(
    blob_id: int, *, token: str | None = None, base_url: str = DEFAULT_BASE_URL
) -> RestRequest[Blob]:
    """``GET /blobs/{id}.json`` (info by numeric id)."""
    segment = check_segment(_user_id(blob_id, "blob id"), "blob id")
    return build("GET", ["blobs", segment], parse_blob, token=token, base_url=base_url)


def get_blob_object(
    uid: str, *, token: str | None = None, base_url: str = DEFAULT_BASE_URL
) -> RestRequest[Blob]:
    """``GET /blobs/{uid}/object.json?download_url=1``: the blob with a signed download URL."""
    segment = check_segment(uid, "blob uid")
    return build(
        "GET",
        ["blobs", segment, "object"],
        parse_blob,
        params={"download_url": 1},
        token=token,
        base_url=base_url,
    )


def delete_blob(
    blob_id: int, *, token: str | None = None, base_url: str = DEFAULT_BASE_URL
) -> RestRequest[None]:
    """``DELETE /blobs/{id}.json`` (numeric id, not uid)."""
    segment = check_segment(_user_id(blob_id, "blob id"), "blob id")
    return build("DELETE", ["blobs", segment], parse_empty, token=token, base_url=base_url)


def blob_private_url(uid: str, token: str, *, base_url: str = DEFAULT_BASE_URL) -> str:
    """``{base}/blobs/{uid}?token={token}`` (no ``.json``), as the SDK's helper builds it."""
    base = check_base_url(base_url)
    return f"{base}/blobs/{check_segment(uid, 'blob uid')}?token={encode_uri_component(token)}"


def blob_public_url(uid: str, *, base_url: str = DEFAULT_BASE_URL) -> str:
    """``{base}/blobs/{uid}``."""
    return f"{check_base_url(base_url)}/blobs/{check_segment(uid, 'blob uid')}"


# -- custom objects and moderation (section 24) -------------------------------------------


def create_custom_object(
    class_name: str,
    fields: Mapping[str, Any],
    *,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[CustomObject]:
    """``POST /data/{class}.json`` with the record's fields."""
    segment = check_segment(class_name, "class name")
    if not isinstance(fields, Mapping):
        raise LocalProtocolError("fields must be a mapping")
    return build(
        "POST",
        ["data", segment],
        parse_custom_object,
        params=dict(fields),
        token=token,
        base_url=base_url,
    )


def create_custom_objects(
    class_name: str,
    records: Sequence[Mapping[str, Any]],
    *,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[CustomObjectList]:
    """``POST /data/{class}/multi.json`` ``{"record":{"1":{...},"2":{...}}}`` (numbered from 1
    as the SDK does; the docs start at 0)."""
    segment = check_segment(class_name, "class name")
    if not records:
        raise LocalProtocolError("records must not be empty")
    params = {"record": {str(i): dict(r) for i, r in enumerate(records, start=1)}}
    return build(
        "POST",
        ["data", segment, "multi"],
        parse_custom_object_list,
        params=params,
        token=token,
        base_url=base_url,
    )


def list_custom_objects(
    class_name: str,
    *,
    filters: Mapping[str, Any] | None = None,
    limit: int | None = None,
    skip: int | None = None,
    sort_asc: str | None = None,
    sort_desc: str | None = None,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[CustomObjectList]:
    """``GET /data/{class}.json`` with the same filter forms as dialogs."""
    segment = check_segment(class_name, "class name")
    params: dict[str, Any] = {}
    _filters(params, filters)
    _paging(params, limit, skip)
    _sorting(params, sort_asc, sort_desc)
    return build(
        "GET",
        ["data", segment],
        parse_custom_object_list,
        params=params or None,
        token=token,
        base_url=base_url,
    )


def report_user(
    reported_user_id: int,
    reason: str,
    *,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[CustomObject]:
    """``POST /data/UserReports.json`` ``{"reportedUserId": N, "reason": "..."}``."""
    fields = {
        "reportedUserId": _user_id(reported_user_id, "reported_user_id"),
        "reason": _text(reason, "reason"),
    }
    return create_custom_object("UserReports", fields, token=token, base_url=base_url)


def report_message(
    reported_message_id: str,
    reason: str,
    *,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[CustomObject]:
    """``POST /data/MessageReports.json``; the 24-hex id is sent as a string (section 24)."""
    fields = {
        "reportedMessageId": check_segment(reported_message_id, "message id"),
        "reason": _text(reason, "reason"),
    }
    return create_custom_object("MessageReports", fields, token=token, base_url=base_url)
