"""Messages: history, create (and send to chat), mark read or delivered, edit,
delete, system messages, unread counts and reactions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...errors import LocalProtocolError
from ..models import (
    DeleteResult,
    Message,
    MessageList,
    MessageReactions,
    SystemMessageResult,
    UnreadCounts,
)
from ..responses import (
    parse_delete_result,
    parse_empty,
    parse_message,
    parse_message_list,
    parse_message_reactions,
    parse_system_message,
    parse_unread_counts,
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
    """``GET /chat/Message.json?chat_dialog_id=...``.

    ``filters`` as for :func:`list_dialogs` (``{"date_sent": {"lt": 1544111751}}`` pages
    backwards).  ``mark_as_read=False`` sends ``mark_as_read=0`` (by default the server marks
    what it returns as read); ``preview=True`` sends ``preview=1``.
    """
    params: dict[str, Any] = {"chat_dialog_id": check_segment(chat_dialog_id, "dialog id")}
    add_filters(params, filters)
    add_sorting(params, sort_asc, sort_desc)
    add_paging(params, limit, skip)
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
    """``POST /chat/Message.json``: store a message in history.

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
        params["recipient_id"] = non_negative_int(recipient_id, "recipient_id")
    if message is not None:
        params["message"] = text_arg(message, "message")
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
        params["message"] = text_arg(message, "message")
    if not params:
        raise LocalProtocolError("update_messages needs read, delivered or message")
    if chat_dialog_id is not None:
        params["chat_dialog_id"] = check_segment(chat_dialog_id, "dialog id")
    segment = ids_segment(message_ids, "message id")
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
    segment = ids_segment(message_ids, "message id")
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
    params: dict[str, Any] = {"recipientId": non_negative_int(recipient_id, "recipient_id")}
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
        params["add"] = text_arg(add, "add")
    if remove is not None:
        params["remove"] = text_arg(remove, "remove")
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
