"""Every chat feature of the guide, with the async (asyncio, trio) and blocking clients,
over STARTTLS, direct TLS and WebSocket, against the local server; each step asserted on
the receiving client and, where the server keeps state, on the server's store."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from cubeproto.transports.http_blocking import BlockingRestClient
from cubeproto.transports.localserver.testing import CubeUser, RunningServer

from cubeproto.chat import (
    CarbonDirection,
    ChatState,
    ChatStateChanged,
    LastActivity,
    MessageBounced,
    MessageDeleted,
    MessageDelivered,
    MessageEdited,
    MessageRead,
    MessageReceived,
    OccupantJoined,
    OccupantLeft,
    PrivacyAction,
    PrivacyItem,
    ReactionsChanged,
    SystemMessageReceived,
)
from cubeproto.rest import requests as R

from .conftest import Connector

NewUser = Callable[..., CubeUser]
NewRest = Callable[[CubeUser], BlockingRestClient]


def stored(server: RunningServer, message_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = server.call(server.server.store.message, message_id)
    return found


def test_one_to_one_message_typing_markers_edit_delete(
    connect: Connector, cube_server: RunningServer, cube_user: NewUser, cube_rest_client: NewRest
) -> None:
    alice, bob = cube_user(), cube_user()
    dialog = cube_rest_client(alice).call(
        R.create_dialog(type=3, occupants_ids=[bob.id], base_url=alice.api_url)
    )
    a, b = connect(alice), connect(bob)
    a.send_typing(to_user=bob.id)
    typing = b.wait_for(ChatStateChanged, state=ChatState.COMPOSING)
    assert typing.user_id == alice.id
    a.send_stop_typing(to_user=bob.id)
    b.wait_for(ChatStateChanged, state=ChatState.PAUSED, user_id=alice.id)
    place = {"type": "place", "latitude": "64.79", "longitude": "-23.73"}
    mid = a.send_message(
        to_user=bob.id,
        body="Ready for Saturday?",
        dialog_id=dialog.id,
        extension={"mood": "excited", "attachments": [place]},
    )
    got = b.wait_for(MessageReceived, message_id=mid)
    assert (got.body, got.sender_id, got.dialog_id) == ("Ready for Saturday?", alice.id, dialog.id)
    assert got.extension["mood"] == "excited"
    assert got.extension["attachments"] == [place]
    record = stored(cube_server, mid)
    assert record is not None and record["message"] == "Ready for Saturday?"
    b.send_delivered(mid, to_user=alice.id, dialog_id=dialog.id)
    a.wait_for(MessageDelivered, message_id=mid, user_id=bob.id)
    b.send_read(mid, to_user=alice.id, dialog_id=dialog.id)
    a.wait_for(MessageRead, message_id=mid, user_id=bob.id)
    record = stored(cube_server, mid)
    assert record is not None
    assert bob.id in record["delivered_ids"] and bob.id in record["read_ids"]
    a.edit_message(mid, "Ready for Sunday?", to_user=bob.id)
    edited = b.wait_for(MessageEdited, message_id=mid)
    assert edited.body == "Ready for Sunday?"
    record = stored(cube_server, mid)
    assert record is not None and record["message"] == "Ready for Sunday?"
    a.delete_message(mid, to_user=bob.id)
    b.wait_for(MessageDeleted, message_id=mid)
    assert stored(cube_server, mid) is None


def test_group_dialog_join_post_online_users_leave(
    connect: Connector, cube_server: RunningServer, cube_user: NewUser, cube_rest_client: NewRest
) -> None:
    alice, bob = cube_user(), cube_user()
    group = cube_rest_client(alice).call(
        R.create_dialog(type=2, name="trip", occupants_ids=[bob.id], base_url=alice.api_url)
    )
    a, b = connect(alice), connect(bob)
    a.join_dialog(group.id)
    b.join_dialog(group.id)
    a.wait_for(OccupantJoined, dialog_id=group.id, user_id=bob.id)
    assert sorted(a.online_users(group.id)) == sorted([alice.id, bob.id])
    b.send_typing(to_dialog=group.id)
    a.wait_for(ChatStateChanged, state=ChatState.COMPOSING, user_id=bob.id)
    mid = b.send_message(to_dialog=group.id, body="group hello")
    got = a.wait_for(MessageReceived, message_id=mid)
    assert (got.body, got.sender_id, got.dialog_id) == ("group hello", bob.id, group.id)
    record = stored(cube_server, mid)
    assert record is not None and record["chat_dialog_id"] == group.id
    b.edit_message(mid, "group hello!", to_dialog=group.id)
    assert a.wait_for(MessageEdited, message_id=mid).body == "group hello!"
    b.leave_dialog(group.id)
    a.wait_for(OccupantLeft, dialog_id=group.id, user_id=bob.id)
    assert list(a.online_users(group.id)) == [alice.id]


def test_privacy_lists_block_both_ways_and_unblock(
    connect: Connector, cube_server: RunningServer, cube_user: NewUser
) -> None:
    alice, bob = cube_user(), cube_user()
    a, b = connect(alice), connect(bob)
    b.create_privacy_list("blocked", [PrivacyItem(user_id=alice.id, action=PrivacyAction.DENY)])
    assert [i.user_id for i in b.get_privacy_list("blocked")] == [alice.id]
    b.set_default_privacy_list("blocked")
    names = b.privacy_list_names()
    assert (names.names, names.default) == (("blocked",), "blocked")
    mid = a.send_message(to_user=bob.id, body="hello?")
    bounced = a.wait_for(MessageBounced, message_id=mid)
    assert bounced.error.condition_name == "service-unavailable"
    assert stored(cube_server, mid) is None
    # Unblock: the next message goes through.
    b.set_default_privacy_list(None)
    b.delete_privacy_list("blocked")
    assert b.privacy_list_names().names == ()
    mid = a.send_message(to_user=bob.id, body="hello again")
    assert b.wait_for(MessageReceived, message_id=mid).body == "hello again"


def test_last_activity_ping_client_state_system_messages(
    connect: Connector, cube_server: RunningServer, cube_user: NewUser
) -> None:
    alice, bob = cube_user(), cube_user()
    a, b = connect(alice), connect(bob)
    assert a.last_activity(bob.id) == 0
    a.subscribe_last_activity(bob.id)
    assert a.ping() >= 0
    b.mark_inactive()
    sessions = cube_server.call(cube_server.server.hub.sessions_of, bob.id)
    assert [s.inactive for s in sessions] == [True]
    b.mark_active()
    assert [s.inactive for s in sessions] == [False]
    sid = a.send_system_message(bob.id, extension={"kind": "invite", "room": "42"})
    system = b.wait_for(SystemMessageReceived, message_id=sid)
    assert system.sender_id == alice.id
    assert system.extension["kind"] == "invite"
    b.disconnect()
    pushed = a.wait_for(LastActivity, user_id=bob.id)
    assert pushed.seconds >= 0


def test_offline_delivery_carbons_and_reactions(
    connect: Connector, cube_server: RunningServer, cube_user: NewUser, cube_rest_client: NewRest
) -> None:
    alice, bob = cube_user(), cube_user()
    a = connect(alice)
    mid = a.send_message(to_user=bob.id, body="while you were away")
    b = connect(bob)
    offline = b.wait_for(MessageReceived, message_id=mid)
    assert offline.body == "while you were away"
    assert offline.delayed_at is not None
    # Carbons: Alice's second device sees what the first sends.
    a2 = connect(alice)
    a2.ping()  # a round trip: the server has seen a2's carbons request sent before it
    cid = a.send_message(to_user=bob.id, body="from my phone")
    carbon = a2.wait_for(MessageReceived, message_id=cid)
    assert carbon.carbon is CarbonDirection.SENT
    b.wait_for(MessageReceived, message_id=cid)
    # Reactions set over REST are pushed to the chat.
    cube_rest_client(bob).call(R.update_reactions(cid, add="🔥", base_url=bob.api_url))
    reaction = a.wait_for(ReactionsChanged, message_id=cid)
    assert (reaction.user_id, reaction.added) == (bob.id, ("🔥",))
    record = stored(cube_server, cid)
    assert record is not None and record["reactions"] == {str(bob.id): "🔥"}


def test_attachment_round_trip(cube_user: NewUser, cube_rest_client: NewRest) -> None:
    """Storage is REST only (transport-independent): upload, complete, download."""
    alice, bob = cube_user(), cube_user()
    photo = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    blob = cube_rest_client(alice).upload_file(
        io.BytesIO(photo), name="p.png", content_type="image/png", size=len(photo)
    )
    sink = io.BytesIO()
    cube_rest_client(bob).download_blob(blob.uid, sink)
    assert sink.getvalue() == photo
