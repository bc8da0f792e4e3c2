"""The official SDK against our local server (``cubeproto serve``), next to our client.

The server runs as the console script would run it, in its own process on free loopback
ports (the ``local`` fixture of conftest).  The SDK logs in over REST and chat (WebSocket or
direct TLS) as alice; our client is bob, over TCP with STARTTLS for chat and our blocking
REST client.  What one side does, the other sees with the same values.  The SDK's other
REST calls are in test_localserver_rest.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cubeproto.transports.http_blocking import (  # type: ignore[import-not-found,unused-ignore]
    BlockingRestClient,
)

from cubeproto.chat import (
    ChatStateChanged,
    DialogJoined,
    JoinDialog,
    MessageRead,
    MessageReceived,
    SendMessage,
)
from cubeproto.rest import requests as rest

from .conftest import LOCAL_APP_ID, Local
from .expect import sdk_decoded, sdk_message_args, sdk_typing_args
from .ourpeer import OurPeer
from .sdkpeer import SdkPeer


@pytest.mark.parametrize("transport", ["websocket", "tls"])
def test_chat_both_ways(
    local: Local,
    local_sdk: Callable[..., SdkPeer],
    bob: OurPeer,
    transport: str,
    rest_as: Callable[[str], BlockingRestClient],
) -> None:
    """The SDK over the server's WebSocket and direct-TLS listeners (the test CA through
    NODE_EXTRA_CA_CERTS), our client over TCP with STARTTLS.

    Not over the plain TCP listener: the server offers ``<starttls><required/>``, and the
    SDK never negotiates STARTTLS (defect D10), so its connect never settles -- no error,
    no callback (the harness documents it).
    """
    alice = local_sdk("alice", transport)
    alice_id, bob_id = local.users["alice"].user_id, local.users["bob"].user_id
    # The server files a 1-1 message under its dialog and bounces an unknown dialog id.
    dialog = rest_as("alice").call(rest.create_dialog(type=3, occupants_ids=[bob_id])).id
    ext: dict[str, Any] = {"save_to_history": 1, "dialog_id": dialog, "meta": {"k": "v <&>"}}
    mid = alice.call("chat.send", bob_id, {"type": "chat", "body": "hi bob", "extension": ext})
    got = bob.wait_for(MessageReceived, lambda e: e.message_id == mid)
    assert sdk_message_args(got)[0] == alice_id
    assert sdk_message_args(got)[1]["body"] == "hi bob"
    # The server stamps date_sent into the extension, as ConnectyCube's does.
    extension = dict(sdk_message_args(got)[1]["extension"])
    assert extension.pop("date_sent").isdigit()
    assert extension == sdk_decoded(ext)
    # Our automatic delivered marker reaches the SDK.
    assert alice.wait_event("onDeliveredStatusListener") == [mid, dialog, bob_id]

    mid2 = bob.send(SendMessage(to_user=alice_id, body="hi alice", dialog_id=dialog))
    args = alice.wait_event("onMessageListener", lambda a: a[1]["id"] == mid2)
    assert args[0] == bob_id
    assert args[1]["body"] == "hi alice"
    extension = dict(args[1]["extension"])
    assert extension.pop("date_sent").isdigit()
    assert extension == {"save_to_history": "1", "dialog_id": dialog}
    alice.call("chat.sendReadStatus", {"messageId": mid2, "dialogId": dialog, "userId": bob_id})
    read = bob.wait_for(MessageRead, lambda e: e.message_id == mid2)
    assert (read.dialog_id, read.user_id) == (dialog, alice_id)

    alice.call("chat.sendIsTypingStatus", bob_id, wait=False)
    typing = bob.wait_for(ChatStateChanged, lambda e: e.user_id == alice_id)
    assert sdk_typing_args(typing) == [True, alice_id, None]


def test_rest_dialog_and_history_seen_alike(
    local: Local, alice: SdkPeer, rest_as: Callable[[str], BlockingRestClient]
) -> None:
    ours = rest_as("bob")
    alice_id, bob_id = local.users["alice"].user_id, local.users["bob"].user_id
    created = alice.call(
        "chat.dialog.create", {"type": 2, "name": "Friday party", "occupants_ids": [bob_id]}
    )
    dialog = created["_id"]
    assert sorted(created["occupants_ids"]) == sorted([alice_id, bob_id])

    mine = [d for d in ours.call(rest.list_dialogs()).items if d.id == dialog]
    assert len(mine) == 1
    assert (mine[0].name, int(mine[0].type), sorted(mine[0].occupants_ids)) == (
        "Friday party",
        2,
        sorted([alice_id, bob_id]),
    )

    ext = {"save_to_history": 1, "dialog_id": dialog}
    mid = alice.call("chat.send", dialog, {"type": "groupchat", "body": "stored", "extension": ext})
    theirs = alice.call("chat.message.list", {"chat_dialog_id": dialog, "mark_as_read": 0})
    seen = ours.call(rest.list_messages(dialog, mark_as_read=False))
    assert [m["_id"] for m in theirs["items"]] == [m.id for m in seen.items] == [mid]
    assert [m["message"] for m in theirs["items"]] == [m.message for m in seen.items] == ["stored"]
    assert [m["sender_id"] for m in theirs["items"]] == [m.sender_id for m in seen.items]

    updated = alice.call("chat.dialog.update", dialog, {"name": "Saturday party"})
    assert updated["name"] == "Saturday party"
    assert [d.name for d in ours.call(rest.list_dialogs()).items if d.id == dialog] == [
        "Saturday party"
    ]


@pytest.mark.parametrize("transport", ["websocket", "tls"])
def test_sdk_logs_in_to_chat_with_its_rest_session_token(
    local: Local, local_sdk: Callable[..., SdkPeer], bob: OurPeer, transport: str
) -> None:
    """The guide's login: ``chat.connect({userId, password: session.token})``.  The SDK
    picks SCRAM-SHA-1, so the server must check the proof against the token's keys too
    (issue 16 item 5)."""
    alice = local_sdk("alice", transport, chat=False)
    token = alice.call("getSession")["token"]
    assert token and token != local.users["alice"].password
    alice.connect(local.users["alice"].user_id, token)
    bob_id = local.users["bob"].user_id
    mid = alice.call("chat.send", bob_id, {"type": "chat", "body": "logged in with my token"})
    got = bob.wait_for(MessageReceived, lambda e: e.message_id == mid)
    assert sdk_message_args(got)[1]["body"] == "logged in with my token"


def test_sdk_join_and_the_room_subject(
    local: Local, alice: SdkPeer, bob: OurPeer, rest_as: Callable[[str], BlockingRestClient]
) -> None:
    """After a join the server sends the room subject (XEP-0045 7.2.16: an empty
    ``<subject/>`` from the room).  The SDK 6.1.2 does not single it out: its message rules
    report it as ``onMessageListener(null, {body: null, ...})`` --
    recorded here as what an SDK application sees; our client reports nothing for it."""
    bob_id = local.users["bob"].user_id
    dialog = rest_as("alice").call(rest.create_dialog(type=2, name="s", occupants_ids=[bob_id])).id
    joined = alice.request("join", dialogId=dialog)
    assert joined["roomJid"].startswith(f"{LOCAL_APP_ID}_{dialog}@")
    subject = alice.wait_event("onMessageListener", lambda a: a[1]["dialog_id"] == dialog)
    assert subject[0] is None
    assert (subject[1]["type"], subject[1]["body"]) == ("groupchat", None)
    bob.send(JoinDialog(dialog_id=dialog))
    bob.wait_for(DialogJoined, lambda e: e.dialog_id == dialog)
    mid = bob.send(SendMessage(to_dialog=dialog, body="after both joined"))
    first = bob.wait_for(MessageReceived, lambda e: e.dialog_id == dialog)
    assert (first.message_id, first.body) == (mid, "after both joined")
    args = alice.wait_event("onMessageListener", lambda a: a[1]["id"] == mid)
    assert args[0] == bob_id
