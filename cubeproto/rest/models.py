"""Typed results of the REST calls: sessions, users, dialogs, messages, files, custom objects.

Every model is a frozen, slotted, keyword-only dataclass.  Fields ConnectyCube documents are
typed attributes; everything else the server sent is kept, untouched, in ``extra`` (a
read-only mapping of the raw JSON values) so that new server fields are never lost.
Timestamps become timezone-aware UTC :class:`~datetime.datetime` values whether the server
wrote an ISO-8601 string or unix seconds (it does both: a dialog's dates are ISO-8601, a
custom object's unix seconds).  Message ``date_sent`` stays an ``int`` of unix seconds as
well, because it is the paging cursor (``date_sent[lt]``); :attr:`Message.sent_at` gives it
as a datetime.

The parsers in :mod:`cubeproto.rest.responses` build these; building one by hand (for tests
or for a server) is fine too.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

__all__ = [
    "Blob",
    "BlobObjectAccess",
    "CustomObject",
    "CustomObjectList",
    "DeleteResult",
    "Dialog",
    "DialogList",
    "DialogType",
    "Message",
    "MessageList",
    "MessageReactions",
    "NotificationSettings",
    "OccupantList",
    "Reactions",
    "SearchResult",
    "Session",
    "SystemMessageResult",
    "UnreadCounts",
    "User",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return _EMPTY


class DialogType(enum.IntEnum):
    """Dialog type numbers as the server uses them (the SDK's enum swaps 1 and 4)."""

    BROADCAST = 1
    GROUP = 2
    PRIVATE = 3
    PUBLIC = 4
    MEETING = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """A user record (``{"user": {...}}``); only ``id`` is guaranteed."""

    id: int
    login: str | None = None
    email: str | None = None
    full_name: str | None = None
    phone: str | None = None
    avatar: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_request_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """A REST session.  ``token`` is the ``CB-Token`` and the chat password.

    ``user_id`` is 0 for an application-only session.
    """

    id: int | None
    token: str
    application_id: int | None = None
    user_id: int = 0
    ts: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    user: User | None = None
    extra: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True, kw_only=True)
class Dialog:
    """A dialog.  ``type`` is a :class:`DialogType` or, if unknown, the raw int."""

    id: str
    type: DialogType | int
    user_id: int | None = None
    name: str | None = None
    description: str | None = None
    photo: str | None = None
    xmpp_room_jid: str | None = None
    occupants_ids: tuple[int, ...] = ()
    occupants_count: int | None = None
    admins_ids: tuple[int, ...] = ()
    pinned_messages_ids: tuple[str, ...] = ()
    last_message: str | None = None
    last_message_id: str | None = None
    last_message_user_id: int | None = None
    last_message_date_sent: int | None = None
    last_message_status: str | None = None
    unread_messages_count: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extensions: Mapping[str, Any] | None = None
    permissions: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True, kw_only=True)
class DialogList:
    """``GET /chat/Dialog.json``: one page of dialogs (``total_entries`` counts all)."""

    total_entries: int | None
    skip: int | None
    limit: int | None
    items: tuple[Dialog, ...]
    extra: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True, kw_only=True)
class Reactions:
    """A message's reaction summary: ``own`` emoji and ``total`` counts (own included)."""

    own: tuple[str, ...] = ()
    total: Mapping[str, int] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """A stored message.  Custom extension keys land in ``extra``."""

    id: str
    chat_dialog_id: str | None = None
    message: str | None = None
    date_sent: int | None = None
    sender_id: int | None = None
    recipient_id: int | None = None
    read_ids: tuple[int, ...] = ()
    delivered_ids: tuple[int, ...] = ()
    views_count: int | None = None
    read: bool | None = None
    attachments: tuple[Mapping[str, Any], ...] = ()
    reactions: Reactions | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=_empty)

    @property
    def sent_at(self) -> datetime | None:
        """``date_sent`` as an aware UTC datetime."""
        if self.date_sent is None:
            return None
        return datetime.fromtimestamp(self.date_sent, tz=timezone.utc)


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageList:
    """``GET /chat/Message.json``: one page of history."""

    skip: int | None
    limit: int | None
    items: tuple[Message, ...]
    extra: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteResult:
    """Outcome of deleting several dialogs or messages, id by id."""

    deleted: tuple[str, ...] = ()
    not_found: tuple[str, ...] = ()
    wrong_permissions: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnreadCounts:
    """``GET /chat/Message/unread.json``: ``total`` and one count per dialog id."""

    total: int
    dialogs: Mapping[str, int] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemMessageResult:
    """``POST /chat/Message/system.json`` answer."""

    message_id: str
    recipient_id: int | None
    extension_params: Mapping[str, Any] = field(default_factory=_empty)
    extra: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageReactions:
    """``GET /chat/Message/{id}/reactions.json``: emoji -> ids of the users who chose it."""

    by_emoji: Mapping[str, tuple[int, ...]] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchResult:
    """``GET /chat/search.json``."""

    dialogs: tuple[Dialog, ...] = ()
    messages: tuple[Message, ...] = ()
    users: tuple[User, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationSettings:
    """Per-dialog push notifications on (``True``) or off."""

    enabled: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class OccupantList:
    """``GET /chat/Dialog/{id}/occupants.json``."""

    items: tuple[User, ...]
    extra: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobObjectAccess:
    """Time-limited S3 access for a blob: ``params`` is the upload URL (with its form fields
    as the query), ``download_url`` the signed download URL when asked for."""

    id: int | None = None
    blob_id: int | None = None
    expires: datetime | None = None
    object_access_type: str | None = None
    params: str | None = None
    download_url: str | None = None
    extra: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True, kw_only=True)
class Blob:
    """A stored file.  ``id`` is numeric, ``uid`` a hex string."""

    id: int
    uid: str | None = None
    name: str | None = None
    content_type: str | None = None
    size: int | None = None
    public: bool | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    blob_object_access: BlobObjectAccess | None = None
    extra: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomObject:
    """A custom-object record.  The class's own fields are in ``fields``."""

    id: str
    parent_id: str | None = None
    user_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    permissions: Mapping[str, Any] | None = None
    fields: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomObjectList:
    """``GET /data/{class}.json``."""

    class_name: str | None
    skip: int | None
    limit: int | None
    items: tuple[CustomObject, ...]
    extra: Mapping[str, Any] = field(default_factory=_empty)
