"""The shapes of the local server's REST answers, as the official SDK's TypeScript types
declare them (tests/sdk/test_localserver_types.py compiles the SDK's answers against those
types): every field a user object has, no ``null`` where the type says a string or an
optional value, and the storage list and by-uid calls.  Our own client reads every answer
into its models (``cubeproto.rest``), the new fields included.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cubeproto.transports.http_blocking import BlockingHttpClient, BlockingRestClient
from cubeproto.transports.localserver.testing import CubeUser

from cubeproto.rest import ApiError
from cubeproto.rest import requests as rest
from cubeproto.rest.responses import parse_user

NewUser = Callable[..., CubeUser]
NewRest = Callable[[CubeUser], BlockingRestClient]

#: The fields of the SDK's ``Users.User`` (types/users.d.ts), ``is_guest`` (optional) aside.
SDK_USER_FIELDS = {
    "id",
    "full_name",
    "email",
    "login",
    "phone",
    "website",
    "created_at",
    "updated_at",
    "last_request_at",
    "external_user_id",
    "external_id",
    "facebook_id",
    "twitter_id",
    "custom_data",
    "blob_id",
    "avatar",
    "user_tags",
    "timezone",
}


@pytest.fixture
def http() -> Iterator[BlockingHttpClient]:
    with BlockingHttpClient() as client:
        yield client


def get(http: BlockingHttpClient, client: BlockingRestClient, url: str) -> tuple[int, Any]:
    assert client.session.token is not None
    response = http.request("GET", url, headers=[("CB-Token", client.session.token)])
    return response.status, json.loads(response.body)


def test_user_objects_have_every_field_and_keep_the_profile(
    cube_user: NewUser, cube_rest_client: NewRest, http: BlockingHttpClient
) -> None:
    alice = cube_user()
    client = cube_rest_client(alice)
    profile = {
        "email": "typed@example.org",
        "phone": "+380501234567",
        "website": "https://example.org",
        "custom_data": '{"k": 1}',
        "avatar": "https://example.org/a.png",
        "blob_id": "12",
        "external_user_id": 7,
        "external_id": "e-7",
        "facebook_id": "fb",
        "twitter_id": "tw",
        "tag_list": "red, green",
        "timezone": -3,
    }
    signed = client.call(
        rest.sign_up(
            {"login": "profiled", "password": "profiled-pass", **profile},
            base_url=alice.api_url,
            token=client.session.token,
        )
    )
    # Our model reads the documented fields and keeps the rest in ``extra``.
    assert (signed.email, signed.phone, signed.avatar) == (
        "typed@example.org",
        "+380501234567",
        "https://example.org/a.png",
    )
    assert signed.extra["user_tags"] == ("red", "green")  # extra freezes lists
    assert (signed.extra["blob_id"], signed.extra["timezone"]) == (12, -3)

    status, body = get(http, client, f"{alice.api_url}/users/{signed.id}.json")
    assert status == 200
    assert set(body["user"]) == SDK_USER_FIELDS
    assert body["user"]["website"] == "https://example.org"
    assert parse_user(200, {}, json.dumps(body).encode()) == signed

    # A user made without a profile has every field too, null.
    status, body = get(http, client, f"{alice.api_url}/users/{alice.id}.json")
    assert set(body["user"]) == SDK_USER_FIELDS
    assert body["user"]["phone"] is None and body["user"]["user_tags"] is None

    # A number field that is not a number is refused, field-keyed.
    with pytest.raises(ApiError) as refused:
        client.call(
            rest.sign_up(
                {"login": "badtz", "password": "badtz-pass", "timezone": "east"},
                base_url=alice.api_url,
                token=client.session.token,
            )
        )
    assert "timezone: is not a number" in str(refused.value)


def test_dialogs_and_messages_have_no_null_optional_fields(
    cube_user: NewUser, cube_rest_client: NewRest, http: BlockingHttpClient
) -> None:
    alice, bob = cube_user(), cube_user()
    client = cube_rest_client(alice)
    private = client.call(
        rest.create_dialog(type=3, occupants_ids=[bob.id], base_url=alice.api_url)
    )
    group = client.call(
        rest.create_dialog(
            type=2,
            name="Shapes",
            occupants_ids=[bob.id],
            extensions={"topic": "t"},
            base_url=alice.api_url,
        )
    )
    plain = client.call(
        rest.create_message(chat_dialog_id=group.id, message="plain", base_url=alice.api_url)
    )
    liked = client.call(
        rest.create_message(chat_dialog_id=group.id, message="liked", base_url=alice.api_url)
    )
    client.call(rest.update_reactions(liked.id, add="🔥", base_url=alice.api_url))

    status, body = get(http, client, f"{alice.api_url}/chat/Dialog.json")
    assert status == 200
    raw = {d["_id"]: d for d in body["items"]}
    assert raw[private.id]["name"] == ""
    for key in ("extensions", "permissions", "last_message_date_sent"):
        assert key not in raw[private.id]
    assert raw[group.id]["extensions"] == {"topic": "t"}
    assert "permissions" not in raw[group.id]
    assert raw[group.id]["last_message_date_sent"] == liked.date_sent
    assert all(value is not None for value in (raw[group.id]["name"], raw[private.id]["name"]))

    # Our client reads the same: an empty name, no extensions, a date only with a message.
    ours = {d.id: d for d in client.call(rest.list_dialogs(base_url=alice.api_url)).items}
    assert (ours[private.id].name, ours[private.id].extensions) == ("", None)
    assert ours[private.id].last_message_date_sent is None
    assert ours[group.id].extensions == {"topic": "t"}
    assert ours[group.id].last_message_date_sent == liked.date_sent

    status, body = get(
        http, client, f"{alice.api_url}/chat/Message.json?chat_dialog_id={group.id}&mark_as_read=0"
    )
    assert [m["_id"] for m in body["items"]] == [plain.id, liked.id]
    assert "reactions" not in body["items"][0]
    assert body["items"][1]["reactions"] == {"own": ["🔥"], "total": {"🔥": 1}}
    messages = client.call(rest.list_messages(group.id, mark_as_read=False, base_url=alice.api_url))
    assert messages.items[0].reactions is None
    reactions = messages.items[1].reactions
    assert reactions is not None and (reactions.own, dict(reactions.total)) == (("🔥",), {"🔥": 1})


def test_blob_list_and_by_uid(
    cube_user: NewUser, cube_rest_client: NewRest, http: BlockingHttpClient
) -> None:
    alice, bob = cube_user(), cube_user()
    client, other = cube_rest_client(alice), cube_rest_client(bob)
    blobs = [
        client.upload_file(
            io.BytesIO(b"b" * (i + 1)), name=f"b{i}.bin", content_type="a/b", size=i + 1
        )
        for i in range(3)
    ]
    other.upload_file(io.BytesIO(b"theirs"), name="t.bin", content_type="a/b", size=6)

    status, listed = get(http, client, f"{alice.api_url}/blobs.json")
    assert status == 200
    assert (listed["current_page"], listed["per_page"], listed["total_entries"]) == (1, 10, 3)
    assert [b["id"] for b in listed["items"]] == [b.id for b in blobs]
    assert all("upload_key" not in b and "completed" not in b for b in listed["items"])
    status, page = get(http, client, f"{alice.api_url}/blobs.json?page=2&per_page=2")
    assert [b["id"] for b in page["items"]] == [blobs[2].id]
    status, page = get(http, client, f"{alice.api_url}/blobs.json?per_page=1000")
    assert page["per_page"] == 100

    status, found = get(http, client, f"{alice.api_url}/blobs/{blobs[1].uid}.json")
    assert status == 200
    assert found["blob"]["id"] == blobs[1].id
    assert client.call(rest.get_blob(blobs[1].id, base_url=alice.api_url)).uid == blobs[1].uid
    # Bob (same application) finds it by uid too; an unknown uid is a 404.
    assert get(http, other, f"{alice.api_url}/blobs/{blobs[1].uid}.json")[0] == 200
    status, missing = get(http, client, f"{alice.api_url}/blobs/{'cd' * 17}.json")
    assert (status, missing) == (404, {"errors": {"base": ["Not found"]}})
