"""The catalogue of request builders: every REST call the chat guide uses (sessions, users,
dialogs, messages, storage, custom objects).

Each builder returns a frozen :class:`~cubeproto.rest.restrequest.RestRequest` whose ``parse``
gives the typed result.  All builders take keyword-only ``token`` (the ``CB-Token``; the
session object stamps it for you) and ``base_url`` (default ``https://api.connectycube.com``).
Arguments are checked here, so a request that exists is one the server can read: invalid
ids, header values or JSON data raise :class:`~cubeproto.errors.LocalProtocolError`.

Encoding choices follow the official SDK where it has a quirk: dialog
``occupants_ids``/``admins_ids`` on create and unread ``chat_dialog_ids`` are joined with
``", "``; search ids with ``","``; DELETE parameters travel in a form body.

The builders live in one module per resource, and every name is importable from here:

=====================  ===============================================================
``auth``               sessions, signed sessions, login/logout, the credential objects
``users``              sign-up
``dialogs``            dialogs, occupants, admins, notification settings
``messages``           history, create, mark, edit, delete, system messages, reactions
``search``             search across dialogs, messages and users
``storage``            blobs and their URLs
``custom_objects``     records under ``/data``
``moderation``         user and message reports
=====================  ===============================================================
"""

from __future__ import annotations

from .auth import (
    EmailPassword,
    FirebaseToken,
    GuestUser,
    LoginPassword,
    SocialToken,
    UserAuth,
    create_session,
    create_session_signed,
    destroy_session,
    get_session,
    login,
    logout,
)
from .custom_objects import create_custom_object, create_custom_objects, list_custom_objects
from .dialogs import (
    add_admins,
    clear_history,
    create_dialog,
    delete_dialogs,
    get_notifications,
    list_dialogs,
    list_occupants,
    remove_admins,
    set_notifications,
    subscribe_dialog,
    unsubscribe_dialog,
    update_dialog,
)
from .messages import (
    create_message,
    delete_messages,
    list_messages,
    list_reactions,
    mark_all_read,
    send_system_message,
    unread_counts,
    update_messages,
    update_reactions,
)
from .moderation import report_message, report_user
from .search import search
from .storage import (
    blob_private_url,
    blob_public_url,
    complete_blob,
    create_blob,
    delete_blob,
    get_blob,
    get_blob_object,
)
from .users import sign_up

# isort: split
# The names below were importable from this module when it was one file (it imported them to
# build requests); they stay importable here so that old code keeps working.
from ...errors import LocalProtocolError  # noqa: F401
from ..models import (  # noqa: F401
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
from ..query import UNDEFINED, Undefined, encode_uri_component  # noqa: F401
from ..responses import (  # noqa: F401
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
from ..restrequest import DEFAULT_BASE_URL, RestRequest, build, check_base_url, check_segment  # noqa: F401
from ..signing import signed_session_params  # noqa: F401
from ._checks import SortField  # noqa: F401

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
