"""Parsers on the response shapes ConnectyCube documents and on malformed ones."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cubeproto.errors import CubeProtoError
from cubeproto.rest import errors as e
from cubeproto.rest import responses as p
from cubeproto.rest.models import DialogType

H: list[tuple[str, str]] = []
D = "6507f0a1c2b3d4e5f6a7b8c9"


def js(value: Any) -> bytes:
    return json.dumps(value).encode()


SESSION = {
    "session": {
        "id": 111,
        "user_id": 81,
        "application_id": 105,
        "token": "83153a14fb2df777c2f866178902a4bb15000001",
        "ts": 1544010993,
        "created_at": "2018-12-05T11:58:02Z",
        "updated_at": "2018-12-05T11:58:02Z",
        "user": {"id": 81, "login": "john", "full_name": "John Smith", "custom_data": "x"},
        "nonce": 5,
    }
}

DIALOG = {
    "_id": D,
    "user_id": 777,
    "type": 2,
    "name": "Friday party",
    "description": None,
    "photo": None,
    "xmpp_room_jid": f"105_{D}@muc.chat.connectycube.com",
    "occupants_ids": [777, 78],
    "admins_ids": [],
    "pinned_messages_ids": ["5c123fdce588ce064043f53a"],
    "last_message": "hi",
    "last_message_id": "5c094687e588ce59fff87425",
    "last_message_user_id": 78,
    "last_message_date_sent": 1544010993,
    "last_message_status": None,
    "unread_messages_count": 2,
    "created_at": "2018-12-05T11:58:02Z",
    "updated_at": "2018-12-05T11:58:02.123Z",
    "extensions": {"location": "Sun bar"},
    "permissions": {"allow_preview": True},
    "new_field": [1],
}

MESSAGE = {
    "_id": "5c094687e588ce59fff87425",
    "chat_dialog_id": D,
    "message": "hello",
    "date_sent": 1544010993,
    "sender_id": 78,
    "recipient_id": 0,
    "read_ids": [78],
    "delivered_ids": [78, 777],
    "views_count": 0,
    "read": 0,
    "attachments": [{"type": "image", "id": "654645", "uid": "abc"}],
    "reactions": {"own": ["\U0001f44d"], "total": {"\U0001f44d": 2, "\U0001f680": 1}},
    "created_at": "2018-12-05T11:56:33Z",
    "updated_at": "2018-12-05T11:56:33Z",
    "customKey": "v",
}

BLOB = {
    "blob": {
        "id": 46919,
        "uid": "763ef825ad8748239ed07def2c14555100",
        "content_type": "image/jpeg",
        "name": "cat.jpeg",
        "size": None,
        "public": False,
        "created_at": "2018-12-05T11:56:33Z",
        "updated_at": "2018-12-05T11:56:33Z",
        "blob_object_access": {
            "id": 46919,
            "blob_id": 46919,
            "expires": "2018-12-05T12:56:33Z",
            "object_access_type": "Write",
            "params": "https://s3.amazonaws.com/cb-shared-s3?Content-Type=image%2Fjpeg&acl=public-read&key=abc",
        },
    }
}


def test_session() -> None:
    s = p.parse_session(201, H, js(SESSION))
    assert s.token == "83153a14fb2df777c2f866178902a4bb15000001"
    assert (s.id, s.user_id, s.application_id, s.ts) == (111, 81, 105, 1544010993)
    assert s.created_at == datetime(2018, 12, 5, 11, 58, 2, tzinfo=timezone.utc)
    assert s.user is not None and s.user.login == "john" and s.user.extra == {"custom_data": "x"}
    assert s.extra == {"nonce": 5}


def test_app_session_user_id_zero() -> None:
    s = p.parse_session(200, H, js({"session": {"id": 1, "token": "t", "user_id": 0}}))
    assert s.user_id == 0 and s.user is None


def test_user() -> None:
    u = p.parse_user(
        200, H, js({"user": {"id": 81, "login": "john", "last_request_at": 1544010993}})
    )
    assert u.id == 81 and u.last_request_at == datetime.fromtimestamp(1544010993, tz=timezone.utc)


def test_dialog() -> None:
    d = p.parse_dialog(200, H, js(DIALOG))
    assert d.id == D and d.type is DialogType.GROUP
    assert d.occupants_ids == (777, 78) and d.admins_ids == ()
    assert d.pinned_messages_ids == ("5c123fdce588ce064043f53a",)
    assert d.updated_at == datetime(2018, 12, 5, 11, 58, 2, 123000, tzinfo=timezone.utc)
    assert d.extensions == {"location": "Sun bar"} and d.permissions == {"allow_preview": True}
    assert d.extra == {"new_field": (1,)}
    assert d.last_message_date_sent == 1544010993 and d.unread_messages_count == 2


def test_dialog_unknown_type_kept_as_int() -> None:
    d = p.parse_dialog(200, H, js({"_id": "x", "type": 42}))
    assert d.type == 42 and not isinstance(d.type, DialogType)


def test_dialog_list() -> None:
    lst = p.parse_dialog_list(
        200, H, js({"total_entries": 1, "skip": 0, "limit": 100, "items": [DIALOG]})
    )
    assert lst.total_entries == 1 and len(lst.items) == 1 and lst.items[0].name == "Friday party"


def test_delete_results() -> None:
    body = {
        "SuccessfullyDeleted": {"ids": ["a"]},
        "NotFound": {"ids": ["b"]},
        "WrongPermissions": {"ids": []},
    }
    res = p.parse_delete_result(200, H, js(body))
    assert res is not None and (res.deleted, res.not_found, res.wrong_permissions) == (
        ("a",),
        ("b",),
        (),
    )
    assert p.parse_delete_result(200, H, b"") is None


@pytest.mark.parametrize(
    ("raw", "enabled"), [(1, True), (0, False), ("1", True), ("0", False), (True, True)]
)
def test_notifications(raw: Any, enabled: bool) -> None:
    assert (
        p.parse_notification_settings(200, H, js({"notifications": {"enabled": raw}})).enabled
        is enabled
    )


def test_occupants() -> None:
    res = p.parse_occupants(200, H, js({"items": [{"id": 5, "login": "a"}, {"user": {"id": 6}}]}))
    assert [u.id for u in res.items] == [5, 6]


def test_message_and_list() -> None:
    m = p.parse_message(200, H, js(MESSAGE))
    assert m.id == "5c094687e588ce59fff87425" and m.message == "hello" and m.read is False
    assert m.sent_at == datetime.fromtimestamp(1544010993, tz=timezone.utc)
    assert m.reactions is not None and m.reactions.own == ("\U0001f44d",)
    assert m.reactions.total == {"\U0001f44d": 2, "\U0001f680": 1}
    assert m.attachments == ({"type": "image", "id": "654645", "uid": "abc"},)
    assert m.extra == {"customKey": "v"}
    lst = p.parse_message_list(200, H, js({"skip": 0, "limit": 100, "items": [MESSAGE, MESSAGE]}))
    assert len(lst.items) == 2


def test_message_created_with_index_keyed_attachments() -> None:
    body = dict(MESSAGE, attachments={"0": {"type": "image", "id": "1"}})
    assert p.parse_message(201, H, js(body)).attachments == ({"type": "image", "id": "1"},)


def test_unread() -> None:
    u = p.parse_unread_counts(200, H, js({"total": 5, D: 3, "6507f0a1c2b3d4e5f6a7b8ca": 2}))
    assert u.total == 5 and u.dialogs == {D: 3, "6507f0a1c2b3d4e5f6a7b8ca": 2}


def test_system_message() -> None:
    r = p.parse_system_message(
        200, H, js({"messageId": "m1", "recipientId": 29086, "extensionParams": {"a": "b"}})
    )
    assert (r.message_id, r.recipient_id, dict(r.extension_params)) == ("m1", 29086, {"a": "b"})


def test_reactions_list() -> None:
    r = p.parse_message_reactions(200, H, js({"\U0001f44d": [67456, 5687], "\U0001f680": [9736]}))
    assert r.by_emoji == {"\U0001f44d": (67456, 5687), "\U0001f680": (9736,)}


def test_search() -> None:
    body = {
        "results": {
            "dialogs": [DIALOG],
            "messages": [MESSAGE],
            "users": [{"id": 1}, {"user": {"id": 2}}],
        }
    }
    r = p.parse_search(200, H, js(body))
    assert len(r.dialogs) == 1 and len(r.messages) == 1 and [u.id for u in r.users] == [1, 2]


def test_blob() -> None:
    b = p.parse_blob(201, H, js(BLOB))
    assert b.id == 46919 and b.uid == "763ef825ad8748239ed07def2c14555100" and b.public is False
    assert b.size is None
    assert b.blob_object_access is not None and b.blob_object_access.object_access_type == "Write"
    assert b.blob_object_access.params is not None and b.blob_object_access.params.startswith(
        "https://s3"
    )
    assert p.parse_blob(200, H, js({"blob": {"id": 1, "size": "347"}})).size == 347


def test_custom_objects() -> None:
    rec = {
        "_id": "5c09798aca8bf468ab8d2936",
        "_parent_id": None,
        "user_id": 777,
        "reportedUserId": 45,
        "reason": "spam",
        "created_at": 1544124810,
        "updated_at": 1544124810,
        "permissions": {"read": {"access": "open"}},
    }
    o = p.parse_custom_object(201, H, js(rec))
    assert o.id == "5c09798aca8bf468ab8d2936" and o.user_id == 777
    assert o.fields == {"reportedUserId": 45, "reason": "spam"}
    assert o.created_at == datetime.fromtimestamp(1544124810, tz=timezone.utc)
    lst = p.parse_custom_object_list(
        200, H, js({"class_name": "UserReports", "skip": 0, "limit": 100, "items": [rec]})
    )
    assert lst.class_name == "UserReports" and lst.items[0].fields["reason"] == "spam"


def test_empty_body_calls_tolerate_anything_on_2xx() -> None:
    assert p.parse_empty(200, H, b"") is None
    assert p.parse_empty(200, H, b" ") is None
    assert p.parse_empty(202, H, b"OK") is None


# -- errors ---------------------------------------------------------------------------------


def test_session_expired_is_its_own_type() -> None:
    body = js({"errors": {"base": ["Required session does not exist"]}})
    with pytest.raises(e.SessionExpired) as info:
        p.parse_dialog_list(401, H, body)
    assert info.value.status == 401 and info.value.messages == ("Required session does not exist",)


def test_other_401_is_plain_api_error() -> None:
    with pytest.raises(e.ApiError) as info:
        p.parse_session(401, H, js({"errors": {"base": ["Unauthorized"]}}))
    assert not isinstance(info.value, e.SessionExpired)


@pytest.mark.parametrize(
    ("status", "body", "messages"),
    [
        (422, js({"errors": {"base": ["Forbidden. Need user."]}}), ("Forbidden. Need user.",)),
        (422, js({"errors": {"name": ["is too long"]}}), ("name: is too long",)),
        (404, js({"errors": ["Not found"]}), ("Not found",)),
        (500, b"<html>oops</html>", ()),
        (429, b"", ()),
    ],
)
def test_api_error_shapes(status: int, body: bytes, messages: tuple[str, ...]) -> None:
    with pytest.raises(e.ApiError) as info:
        p.parse_message(status, H, body)
    assert (
        info.value.status == status and info.value.messages == messages and info.value.body == body
    )


@pytest.mark.parametrize(
    ("parser", "body", "path", "fragment"),
    [
        (p.parse_session, b"not json", "", "not JSON"),
        (p.parse_session, b"", "", "empty body"),
        (p.parse_session, b"\xff\xfe", "", "UTF-8"),
        (p.parse_session, js([]), "", "expected an object"),
        (p.parse_session, js({}), "", "missing key 'session'"),
        (p.parse_session, js({"session": {"id": 1}}), "session", "missing key 'token'"),
        (p.parse_session, js({"session": {"token": 5}}), "session.token", "expected a string"),
        (p.parse_dialog, js({"_id": "x", "type": "group"}), "type", "expected an integer"),
        (
            p.parse_dialog,
            js({"_id": "x", "type": 2, "occupants_ids": [1, "x"]}),
            "occupants_ids[1]",
            "integer",
        ),
        (
            p.parse_dialog,
            js({"_id": "x", "type": 2, "created_at": "yesterday"}),
            "created_at",
            "ISO-8601",
        ),
        (
            p.parse_dialog,
            js({"_id": "x", "type": 2, "updated_at": 1e300}),
            "updated_at",
            "out of range",
        ),
        (
            p.parse_dialog_list,
            js({"items": [{"_id": "a", "type": 2}, {"type": 2}]}),
            "items[1]",
            "missing key '_id'",
        ),
        (
            p.parse_message,
            js({"_id": "m", "reactions": {"total": {"x": "many"}}}),
            "reactions.total.x",
            "integer",
        ),
        (p.parse_message, js({"_id": "m", "read": "yes"}), "read", "boolean"),
        (p.parse_unread_counts, js({"total": 1, "d": None}), "d", "integer"),
        (p.parse_notification_settings, js({"notifications": {}}), "notifications", "enabled"),
        (
            p.parse_blob,
            js({"blob": {"id": 1, "blob_object_access": []}}),
            "blob.blob_object_access",
            "object",
        ),
        (p.parse_message_reactions, js({"x": {"a": 1}}), "x", "array"),
        (
            p.parse_search,
            js({"results": {"users": [{"name": "no id"}]}}),
            "results.users[0]",
            "'id'",
        ),
        (p.parse_delete_result, b"[1]", "", "object"),
        (p.parse_session, b"[" * 100000, "", "JSON"),
    ],
)
def test_malformed_bodies_name_what_was_wrong(
    parser: Any, body: bytes, path: str, fragment: str
) -> None:
    with pytest.raises(e.ResponseFormatError) as info:
        parser(200, H, body)
    assert info.value.path == path
    assert fragment in str(info.value)


PARSERS = [getattr(p, name) for name in p.__all__ if name.startswith("parse_")]
json_any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=5),
    max_leaves=20,
)
KEYS = [
    "session",
    "token",
    "user",
    "id",
    "_id",
    "type",
    "items",
    "total",
    "results",
    "blob",
    "notifications",
    "enabled",
    "dialogs",
    "messages",
    "users",
    "reactions",
    "own",
    "SuccessfullyDeleted",
    "ids",
    "messageId",
]
shaped = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.floats(),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(KEYS), c, max_size=6),
    max_leaves=25,
)


@given(st.sampled_from(PARSERS), st.integers(100, 599), st.one_of(json_any, shaped).map(json.dumps))
def test_parsers_only_raise_typed_errors_on_any_json(parser: Any, status: int, body: str) -> None:
    with contextlib.suppress(CubeProtoError):
        parser(status, H, body.encode())


@given(st.sampled_from(PARSERS), st.integers(100, 599), st.binary(max_size=64))
def test_parsers_only_raise_typed_errors_on_any_bytes(
    parser: Any, status: int, body: bytes
) -> None:
    with contextlib.suppress(CubeProtoError):
        parser(status, H, body)
