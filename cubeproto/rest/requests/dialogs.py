"""Dialogs: create, list, update, delete, clear history, subscribe to public
dialogs, occupants, admins and notification settings.

Encoding quirks of the official SDK kept here: on create, ``occupants_ids`` and
``admins_ids`` are one ``", "``-joined string; DELETE parameters travel in a form body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from ...errors import LocalProtocolError
from ..models import (
    DeleteResult,
    Dialog,
    DialogList,
    DialogType,
    NotificationSettings,
    OccupantList,
)
from ..query import UNDEFINED, Undefined
from ..responses import (
    parse_delete_result,
    parse_dialog,
    parse_dialog_list,
    parse_empty,
    parse_notification_settings,
    parse_occupants,
)
from ..restrequest import DEFAULT_BASE_URL, RestRequest, build, check_segment
from ._checks import (
    SortField,
    add_filters,
    add_paging,
    add_sorting,
    ids_segment,
    non_negative_int,
    text_arg,
)

_DIALOG_LIST_FIELDS: Final = frozenset({"occupants_ids", "admins_ids", "pinned_messages_ids"})


def _sdk_id_list(ids: Sequence[int], what: str) -> str:
    """The SDK's create-dialog quirk: an id array becomes one ``", "``-joined string."""
    if isinstance(ids, (str, bytes)):
        raise LocalProtocolError(f"{what} must be a sequence of user ids")
    return ", ".join(str(non_negative_int(i, what)) for i in ids)


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
    """``POST /chat/Dialog.json``.

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
        params["name"] = text_arg(name, "name")
    if occupants_ids:
        params["occupants_ids"] = _sdk_id_list(occupants_ids, "occupants_ids")
    if admins_ids:
        params["admins_ids"] = _sdk_id_list(admins_ids, "admins_ids")
    if photo is not None:
        params["photo"] = text_arg(photo, "photo")
    if description is not None:
        params["description"] = text_arg(description, "description")
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
    """``GET /chat/Dialog.json`` with filters.

    ``filters`` maps a field to a value (exact match) or to ``{op: value}`` with op one of
    lt, lte, gt, gte, ne, in, nin, all, ctn; list values are comma-joined
    (``{"type": {"in": [2, 3]}}`` -> ``type[in]=2%2C3``).  With no argument at all no query
    string is sent.  ``count=True`` adds ``count=1`` (the server's answer shape for it is
    UNVERIFIED; this parser expects the usual list object).
    """
    params: dict[str, Any] = {}
    add_filters(params, filters)
    add_paging(params, limit, skip)
    add_sorting(params, sort_asc, sort_desc)
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
            out[key] = [non_negative_int(i, f"{what}.{key}") for i in ids]
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
    """``PUT /chat/Dialog/{id}.json``.

    ``push_all`` adds and ``pull_all`` removes ids in ``occupants_ids``, ``admins_ids`` or
    ``pinned_messages_ids``.  ``extensions=None`` sends ``null``, which clears them; leave it
    out to keep them.
    """
    params: dict[str, Any] = {}
    if name is not None:
        params["name"] = text_arg(name, "name")
    if photo is not None:
        params["photo"] = text_arg(photo, "photo")
    if description is not None:
        params["description"] = text_arg(description, "description")
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
    segment = ids_segment(dialog_ids, "dialog id")
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
    add_paging(params, limit, skip)
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
    ids = [non_negative_int(i, "admins_ids") for i in admins_ids]
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
