"""The request catalogue is split by resource, and nothing that could be imported before the
split went away: ``cubeproto.rest.requests`` (once one module) still offers every name, and
``cubeproto.rest.request`` (the request object's former module) is an alias of
``cubeproto.rest.restrequest``."""

from __future__ import annotations

import importlib

import pytest

from cubeproto.rest import request as former_request_module
from cubeproto.rest import requests as catalogue
from cubeproto.rest import restrequest

RESOURCES = (
    "auth",
    "users",
    "dialogs",
    "messages",
    "search",
    "storage",
    "custom_objects",
    "moderation",
)

#: Public names the single-file ``cubeproto/rest/requests.py`` held besides its ``__all__``
#: (it imported them to build requests).
FORMERLY_IMPORTED = (
    "Blob",
    "CustomObject",
    "CustomObjectList",
    "DEFAULT_BASE_URL",
    "DeleteResult",
    "Dialog",
    "DialogList",
    "DialogType",
    "LocalProtocolError",
    "Message",
    "MessageList",
    "MessageReactions",
    "NotificationSettings",
    "OccupantList",
    "RestRequest",
    "SearchResult",
    "Session",
    "SortField",
    "SystemMessageResult",
    "UNDEFINED",
    "Undefined",
    "UnreadCounts",
    "User",
    "build",
    "check_base_url",
    "check_segment",
    "encode_uri_component",
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
    "parse_user",
    "signed_session_params",
)


def test_every_builder_lives_in_exactly_one_resource_module() -> None:
    homes: dict[str, list[str]] = {name: [] for name in catalogue.__all__}
    for resource in RESOURCES:
        module = importlib.import_module(f"cubeproto.rest.requests.{resource}")
        for name in catalogue.__all__:
            value = vars(module).get(name)
            # Defined here, not imported from a sibling (a function's __module__ says where).
            if value is not None and getattr(value, "__module__", None) == module.__name__:
                homes[name].append(resource)
    # UserAuth is a union alias (no __module__ of its own): it is defined in auth.
    homes["UserAuth"] = ["auth"] if "UserAuth" in vars(catalogue.auth) else []
    assert {name: len(where) for name, where in homes.items() if len(where) != 1} == {}


@pytest.mark.parametrize("name", [*catalogue.__all__, *FORMERLY_IMPORTED])
def test_names_of_the_single_module_stay_importable(name: str) -> None:
    assert getattr(catalogue, name) is not None


def test_former_request_module_is_an_alias() -> None:
    assert former_request_module.RestRequest is restrequest.RestRequest
    assert former_request_module.build is restrequest.build
    assert set(former_request_module.__all__) >= set(restrequest.__all__)
    assert catalogue.RestRequest is restrequest.RestRequest
