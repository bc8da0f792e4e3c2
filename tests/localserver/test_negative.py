"""Negative paths through real sockets: each ends in a clear, ConnectyCube-shaped error,
and the store afterwards holds nothing it should not (asserted on the server's own store).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cubeproto.transports.errors import ConnectFailed
from cubeproto.transports.http_blocking import BlockingHttpClient, BlockingRestClient
from cubeproto.transports.localserver.testing import (
    CubeUser,
    LocalChatClient,
    RunningServer,
    running_server,
)

from cubeproto.chat import (
    MessageBounced,
    MessageReceived,
    PrivacyAction,
    PrivacyItem,
)
from cubeproto.rest import ApiError
from cubeproto.rest import requests as R

NewUser = Callable[..., CubeUser]
NewChat = Callable[..., LocalChatClient]
NewRest = Callable[[CubeUser], BlockingRestClient]


@pytest.fixture
def http() -> Iterator[BlockingHttpClient]:
    with BlockingHttpClient() as client:
        yield client


def raw(
    http: BlockingHttpClient,
    user: CubeUser,
    method: str,
    path: str,
    *,
    token: str | None,
    body: bytes = b"",
) -> tuple[int, Any]:
    """One request exactly as given (no session handling); status and parsed JSON body."""
    headers = [("Content-Type", "application/json")]
    if token is not None:
        headers.append(("CB-Token", token))
    response = http.request(method, user.api_url + path, headers=headers, body=body)
    return response.status, json.loads(response.body) if response.body else None


def login_token(http: BlockingHttpClient, user: CubeUser) -> str:
    body = json.dumps(
        {
            "application_id": user.app.id,
            "auth_key": user.app.auth_key,
            "user": {"login": user.login, "password": user.password},
        }
    ).encode()
    status, data = raw(http, user, "POST", "/session.json", token=None, body=body)
    assert status == 201
    return str(data["session"]["token"])


def dialogs_of(server: RunningServer, user: CubeUser) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = server.call(server.server.store.dialogs, user.app.id)
    return found


def history(server: RunningServer, dialog_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = server.call(server.server.store.messages, dialog_id)
    return found


def offline_count(server: RunningServer, user_id: int) -> int:
    db = server.server.store.db
    row = server.call(
        lambda: db.execute("SELECT COUNT(*) FROM offline WHERE user_id=?", (user_id,)).fetchone()
    )
    return int(row[0])


def session_count(server: RunningServer, user_id: int) -> int:
    db = server.server.store.db
    row = server.call(
        lambda: db.execute("SELECT COUNT(*) FROM sessions WHERE user_id=?", (user_id,)).fetchone()
    )
    return int(row[0])


NO_SESSION = {"errors": {"base": ["Required session does not exist"]}}


# ---------------------------------------------------------------------- sessions, passwords


def test_bad_token_is_refused_and_creates_nothing(
    cube_server: RunningServer, cube_user: NewUser, http: BlockingHttpClient
) -> None:
    alice, bob = cube_user(), cube_user()
    body = json.dumps({"type": 3, "occupants_ids": str(bob.id)}).encode()
    for token in (None, "0" * 40, "not a token"):
        status, data = raw(http, alice, "POST", "/chat/Dialog.json", token=token, body=body)
        assert (status, data) == (401, NO_SESSION)
    assert dialogs_of(cube_server, alice) == []


def test_expired_session_is_refused_then_renewed_once_by_the_client(
    cube_server: RunningServer,
    cube_user: NewUser,
    cube_rest_client: NewRest,
    http: BlockingHttpClient,
) -> None:
    alice, bob = cube_user(), cube_user()
    token = login_token(http, alice)
    cube_server.call(cube_server.server.store.expire_session, token)
    body = json.dumps({"type": 3, "occupants_ids": str(bob.id)}).encode()
    status, data = raw(http, alice, "POST", "/chat/Dialog.json", token=token, body=body)
    assert (status, data) == (401, NO_SESSION)
    assert dialogs_of(cube_server, alice) == []
    # The expired token is no chat password either.
    with pytest.raises(ConnectFailed):
        LocalChatClient(
            alice.chat_config(password=token),
            host=alice.server.info.host,
            port=alice.server.info.xmpp_port,
            ca_file=alice.server.info.ca_file,
        ).connect()
    # The REST client renews an expired session once and replays the call.
    rest = cube_rest_client(alice)
    rest.call(R.list_dialogs(base_url=alice.api_url))
    assert rest.session.token is not None
    cube_server.call(cube_server.server.store.expire_session, rest.session.token)
    dialog = rest.call(R.create_dialog(type=3, occupants_ids=[bob.id], base_url=alice.api_url))
    assert [d["_id"] for d in dialogs_of(cube_server, alice)] == [dialog.id]


def test_wrong_password_is_refused_over_rest_and_xmpp(
    cube_server: RunningServer, cube_user: NewUser, http: BlockingHttpClient
) -> None:
    alice = cube_user()
    body = json.dumps(
        {
            "application_id": alice.app.id,
            "auth_key": alice.app.auth_key,
            "user": {"login": alice.login, "password": "wrong"},
        }
    ).encode()
    status, data = raw(http, alice, "POST", "/session.json", token=None, body=body)
    assert (status, data) == (401, {"errors": {"base": ["Unauthorized"]}})
    assert session_count(cube_server, alice.id) == 0
    for mechanism in ("SCRAM-SHA-1", "PLAIN"):
        client = LocalChatClient(
            alice.chat_config(password="wrong", mechanisms=(mechanism,)),
            host=alice.server.info.host,
            port=alice.server.info.xmpp_port,
            ca_file=alice.server.info.ca_file,
        )
        with pytest.raises(ConnectFailed, match="not-authorized"):
            client.connect()
    assert cube_server.call(cube_server.server.hub.sessions_of, alice.id) == []


# ---------------------------------------------------------------------- chat permissions


def test_non_occupant_cannot_post_to_a_group_dialog(
    cube_server: RunningServer,
    cube_user: NewUser,
    cube_chat_client: NewChat,
    cube_rest_client: NewRest,
) -> None:
    alice, bob, mallory = cube_user(), cube_user(), cube_user()
    group = cube_rest_client(alice).call(
        R.create_dialog(type=2, name="club", occupants_ids=[bob.id], base_url=alice.api_url)
    )
    bob_chat, mallory_chat = cube_chat_client(bob), cube_chat_client(mallory)
    mid = mallory_chat.send_message(to_dialog=group.id, body="let me in")
    bounced = mallory_chat.wait_for(MessageBounced, message_id=mid)
    assert bounced.error.condition_name == "forbidden"
    assert bounced.error.code == 403
    # Over REST too.
    with pytest.raises(ApiError) as caught:
        cube_rest_client(mallory).call(
            R.create_message(chat_dialog_id=group.id, message="hi", base_url=alice.api_url)
        )
    assert caught.value.status == 403
    assert history(cube_server, group.id) == []
    # Bob got nothing of it: the next message he sees is Alice's.
    alice_chat = cube_chat_client(alice)
    alice_chat.send_message(to_dialog=group.id, body="members only")
    assert bob_chat.wait_for(MessageReceived).body == "members only"


def test_blocked_sender_gets_the_error_and_nothing_is_stored(
    cube_server: RunningServer,
    cube_user: NewUser,
    cube_chat_client: NewChat,
    cube_rest_client: NewRest,
) -> None:
    alice, bob = cube_user(), cube_user()
    dialog = cube_rest_client(alice).call(
        R.create_dialog(type=3, occupants_ids=[bob.id], base_url=alice.api_url)
    )
    bob_chat = cube_chat_client(bob)
    bob_chat.create_privacy_list(
        "blocked", [PrivacyItem(user_id=alice.id, action=PrivacyAction.DENY)]
    )
    bob_chat.set_default_privacy_list("blocked")
    bob_chat.disconnect()  # offline: a message would otherwise be stored for him
    alice_chat = cube_chat_client(alice)
    mid = alice_chat.send_message(
        to_user=bob.id,
        body="are you there?",
        dialog_id=dialog.id,
    )
    bounced = alice_chat.wait_for(MessageBounced, message_id=mid)
    assert bounced.error.condition_name == "service-unavailable"
    assert bounced.error.code == 503
    assert history(cube_server, dialog.id) == []
    assert offline_count(cube_server, bob.id) == 0


# ---------------------------------------------------------------------- REST validation


def test_oversized_upload_is_refused_and_leaves_no_file(cube_user: NewUser) -> None:
    with running_server(max_upload_bytes=4096) as server:
        app = server.add_app()
        alice = server.user(app, "alice", "alice-pass")
        with BlockingRestClient.connect(alice.credentials, base_url=alice.api_url) as rest:
            data = b"x" * 5000
            with pytest.raises(ApiError) as caught:
                rest.upload_file(
                    io.BytesIO(data), name="big.bin", content_type="text/plain", size=len(data)
                )
            assert caught.value.status in (400, 413)
            assert "maximum allowed size" in str(caught.value)
            blob_dir = server.server.api.blob_dir
            assert list(blob_dir.iterdir()) == []
            blobs = server.call(
                lambda: server.server.store.db.execute("SELECT data FROM blobs").fetchall()
            )
            assert all(not json.loads(b[0])["completed"] for b in blobs)
            # Within the limit it works, on the same server.
            ok = b"y" * 4000
            blob = rest.upload_file(
                io.BytesIO(ok), name="ok.bin", content_type="text/plain", size=len(ok)
            )
            sink = io.BytesIO()
            rest.download_blob(blob.uid, sink)
            assert sink.getvalue() == ok


@pytest.mark.parametrize("body", [b"{bad json", b'["a list"]', b"\xff\xfe", b'{"type": 2'])
def test_malformed_json_is_a_400_and_stores_nothing(
    cube_server: RunningServer, cube_user: NewUser, http: BlockingHttpClient, body: bytes
) -> None:
    alice = cube_user()
    token = login_token(http, alice)
    status, data = raw(http, alice, "POST", "/chat/Dialog.json", token=token, body=body)
    assert status == 400
    assert data["errors"]["base"][0].startswith(("Malformed JSON", "The JSON body"))
    assert dialogs_of(cube_server, alice) == []


def test_unknown_ids_are_404_over_rest_and_bounce_over_xmpp(
    cube_server: RunningServer,
    cube_user: NewUser,
    cube_rest_client: NewRest,
    cube_chat_client: NewChat,
) -> None:
    alice = cube_user()
    rest = cube_rest_client(alice)
    base = alice.api_url
    unknown = "0123456789abcdef01234567"
    calls: list[Any] = [
        R.list_messages(unknown, base_url=base),
        R.update_dialog(unknown, name="x", base_url=base),
        R.delete_dialogs(unknown, base_url=base),
        R.update_reactions(unknown, add="+1", base_url=base),
        R.update_messages(unknown, chat_dialog_id=unknown, read=True, base_url=base),
        R.get_blob(987654, base_url=base),
    ]
    for request in calls:
        with pytest.raises(ApiError) as caught:
            rest.call(request)
        assert caught.value.status == 404, request.url
    with pytest.raises(ApiError) as caught:
        rest.call(R.create_dialog(type=3, occupants_ids=[999999], base_url=base))
    assert caught.value.status == 422
    assert dialogs_of(cube_server, alice) == []
    chat = cube_chat_client(alice)
    mid = chat.send_message(to_user=999999, body="anyone?")
    assert (
        chat.wait_for(MessageBounced, message_id=mid).error.condition_name == "service-unavailable"
    )
    gid = chat.send_message(to_dialog=unknown, body="anyone?")
    assert chat.wait_for(MessageBounced, message_id=gid).error.condition_name == "item-not-found"
    assert offline_count(cube_server, 999999) == 0


def test_only_the_creator_manages_admins(
    cube_server: RunningServer, cube_user: NewUser, cube_rest_client: NewRest
) -> None:
    owner, admin, carol = cube_user(), cube_user(), cube_user()
    others = [cube_user() for _ in range(5)]
    base = owner.api_url
    owner_rest, admin_rest = cube_rest_client(owner), cube_rest_client(admin)
    group = owner_rest.call(
        R.create_dialog(
            type=2,
            name="team",
            occupants_ids=[admin.id, carol.id, *(u.id for u in others)],
            base_url=base,
        )
    )
    owner_rest.call(R.add_admins(group.id, [admin.id], base_url=base))
    for attempt in (
        R.add_admins(group.id, [carol.id], base_url=base),
        R.remove_admins(group.id, [admin.id], base_url=base),
        R.add_admins(group.id, [carol.id], base_url=base),  # a second attempt, same answer
    ):
        with pytest.raises(ApiError) as caught:
            admin_rest.call(attempt)
        assert caught.value.status == 403
        assert "owner" in str(caught.value)
    stored = cube_server.call(cube_server.server.store.dialog, group.id)
    assert stored["admins_ids"] == [admin.id]
    # At most five admins, even for the owner: a sixth leaves the list as it was.
    owner_rest.call(R.add_admins(group.id, [u.id for u in others[:4]], base_url=base))
    with pytest.raises(ApiError) as caught:
        owner_rest.call(R.add_admins(group.id, [others[4].id], base_url=base))
    assert caught.value.status == 422
    stored = cube_server.call(cube_server.server.store.dialog, group.id)
    assert stored["admins_ids"] == sorted([admin.id, *(u.id for u in others[:4])])
