"""The SDK's REST calls against our local server, next to our own client.

For each call the SDK makes (reactions, unread counts, mark read, search, storage, custom
objects, dialog delete/subscribe/occupants/admins/notifications), the SDK's promise
resolves, and its result equals what our client -- the ``cubeproto.rest`` builders through
``BlockingRestClient`` -- reads for the same data, signed in as the same user with its own
session.  Server pushes caused by a REST call (reactions) reach the SDK's listener and our
chat client with the same values.

Each test makes its own dialogs, so the tests share one server process.
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from cubeproto.transports.http_blocking import (  # type: ignore[import-not-found,unused-ignore]
    BlockingRestClient,
)

from cubeproto.chat import (
    MessageDeleted,
    MessageReceived,
    ReactionsChanged,
    SendMessage,
    SystemMessageReceived,
)
from cubeproto.rest import ApiError
from cubeproto.rest import requests as rest
from cubeproto.rest.models import Blob, CustomObject, Dialog, Message

from .conftest import Local
from .ourpeer import OurPeer
from .sdkpeer import UNDEFINED, SdkPeer

Rest = Callable[[str], BlockingRestClient]


def ids(local: Local, *names: str) -> list[int]:
    return [local.users[name].user_id for name in names]


def group_by_sdk(sdk: SdkPeer, name: str, occupants: list[int]) -> str:
    """A group dialog the SDK creates (the SDK's user is its owner); its id."""
    created = sdk.call("chat.dialog.create", {"type": 2, "name": name, "occupants_ids": occupants})
    return str(created["_id"])


def post_messages(client: BlockingRestClient, dialog: str, *bodies: str) -> list[str]:
    """Messages stored in ``dialog``'s history by our client; their ids."""
    return [client.call(rest.create_message(chat_dialog_id=dialog, message=b)).id for b in bodies]


def iso(value: datetime | None) -> str | None:
    """Our parsed timestamp back in the server's ISO form (to compare with the SDK's string)."""
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def message_view(m: Message) -> dict[str, Any]:
    """Our parsed message in the SDK's JSON terms (the fields both sides carry)."""
    reactions = (
        None
        if m.reactions is None
        else {"own": list(m.reactions.own), "total": dict(m.reactions.total)}
    )
    return {
        "_id": m.id,
        "chat_dialog_id": m.chat_dialog_id,
        "message": m.message,
        "date_sent": m.date_sent,
        "sender_id": m.sender_id,
        "recipient_id": m.recipient_id,
        "read_ids": sorted(m.read_ids),
        "delivered_ids": sorted(m.delivered_ids),
        "read": int(bool(m.read)),
        "reactions": reactions,
        "created_at": iso(m.created_at),
        "updated_at": iso(m.updated_at),
    }


def sdk_message_view(m: dict[str, Any]) -> dict[str, Any]:
    """The same fields of a message as the SDK resolved it."""
    view = {key: m.get(key) for key in message_view(Message(id=""))}
    view["read_ids"] = sorted(view["read_ids"] or [])
    view["delivered_ids"] = sorted(view["delivered_ids"] or [])
    return view


def dialog_view(d: Dialog) -> dict[str, Any]:
    """Our parsed dialog in the SDK's JSON terms."""
    return {
        "_id": d.id,
        "type": int(d.type),
        "name": d.name,
        "user_id": d.user_id,
        "occupants_ids": sorted(d.occupants_ids),
        "admins_ids": sorted(d.admins_ids),
        "last_message": d.last_message,
        "last_message_id": d.last_message_id,
        "last_message_user_id": d.last_message_user_id,
        "last_message_date_sent": d.last_message_date_sent,
        "unread_messages_count": d.unread_messages_count,
        "xmpp_room_jid": d.xmpp_room_jid,
    }


def sdk_dialog_view(d: dict[str, Any]) -> dict[str, Any]:
    view = {key: d.get(key) for key in dialog_view(Dialog(id="", type=2))}
    view["occupants_ids"] = sorted(view["occupants_ids"] or [])
    view["admins_ids"] = sorted(view["admins_ids"] or [])
    return view


def blob_view(b: Blob) -> dict[str, Any]:
    return {
        "id": b.id,
        "uid": b.uid,
        "name": b.name,
        "content_type": b.content_type,
        "size": b.size,
        "public": b.public,
        "created_at": iso(b.created_at),
        "updated_at": iso(b.updated_at),
    }


def record_view(r: CustomObject) -> dict[str, Any]:
    """Our parsed custom object in the SDK's JSON terms (unix-second timestamps)."""
    return {
        "_id": r.id,
        "_parent_id": r.parent_id,
        "user_id": r.user_id,
        "created_at": None if r.created_at is None else int(r.created_at.timestamp()),
        "updated_at": None if r.updated_at is None else int(r.updated_at.timestamp()),
        "permissions": r.permissions,
        **r.fields,
    }


# -- history: create, edit, delete, clear; system messages ----------------------------------


def test_history_create_edit_delete_clear(
    local: Local, alice: SdkPeer, bob: OurPeer, rest_as: Rest
) -> None:
    alice_id, bob_id = ids(local, "alice", "bob")
    ours_alice, ours_bob = rest_as("alice"), rest_as("bob")
    dialog = group_by_sdk(alice, "History", [bob_id])

    # The SDK stores a message with attachments and a custom key (history only).
    attachment = {"type": "image", "uid": "a1b2c3", "name": "cat <1>.jpeg"}
    created = alice.call(
        "chat.message.create",
        {
            "chat_dialog_id": dialog,
            "message": "stored ✓",
            "attachments": [attachment],
            "city": "Kyiv",
        },
    )
    [seen] = ours_alice.call(rest.list_messages(dialog, mark_as_read=False)).items
    assert sdk_message_view(created) == message_view(seen)
    assert (created["sender_id"], created["message"]) == (alice_id, "stored ✓")
    assert list(seen.attachments) == created["attachments"] == [attachment]
    assert seen.extra["city"] == created["city"] == "Kyiv"

    # Our client stores one; the SDK's list holds both, equal to ours.
    mine = ours_bob.call(rest.create_message(chat_dialog_id=dialog, message="from bob")).id
    theirs = alice.call("chat.message.list", {"chat_dialog_id": dialog, "mark_as_read": 0})
    seen_all = ours_alice.call(rest.list_messages(dialog, mark_as_read=False)).items
    assert [sdk_message_view(m) for m in theirs["items"]] == [message_view(m) for m in seen_all]
    assert [m["_id"] for m in theirs["items"]] == [created["_id"], mine]

    # Edit the body through the SDK's update: our client reads the new text.
    assert (
        alice.call(
            "chat.message.update", created["_id"], {"message": "edited", "chat_dialog_id": dialog}
        )
        == ""
    )
    assert [m.message for m in ours_bob.call(rest.list_messages(dialog)).items] == [
        "edited",
        "from bob",
    ]

    # Delete for everybody, with an unknown id: the SDK reads the result as text (JSON that
    # our parser reads as a DeleteResult); our chat client gets the removal push.
    unknown = "0123456789abcdef01234567"
    text = alice.call("chat.message.delete", [created["_id"], unknown], {"force": 1})
    assert json.loads(text) == {
        "SuccessfullyDeleted": {"ids": [created["_id"]]},
        "NotFound": {"ids": [unknown]},
        "WrongPermissions": {"ids": []},
    }
    removed = bob.wait_for(MessageDeleted, lambda e: e.message_id == created["_id"])
    assert (removed.dialog_id, removed.user_id) == (dialog, alice_id)
    assert [m.id for m in ours_bob.call(rest.list_messages(dialog)).items] == [mine]

    # Clear history (for the caller only).
    assert alice.call("chat.dialog.clearHistory", dialog) == ""
    assert ours_alice.call(rest.list_messages(dialog)).items == ()
    assert alice.call("chat.message.list", {"chat_dialog_id": dialog})["items"] == []
    assert [m.id for m in ours_bob.call(rest.list_messages(dialog)).items] == [mine]


def test_history_create_send_to_chat(local: Local, alice: SdkPeer, bob: OurPeer) -> None:
    (bob_id,) = ids(local, "bob")
    dialog = group_by_sdk(alice, "Send to chat", [bob_id])
    created = alice.call(
        "chat.message.create", {"chat_dialog_id": dialog, "message": "live", "send_to_chat": 1}
    )
    got = bob.wait_for(MessageReceived, lambda e: e.body == "live", timeout=3)
    assert (got.message_id, got.dialog_id) == (created["_id"], dialog)


def test_system_message_over_rest(local: Local, alice: SdkPeer, bob: OurPeer) -> None:
    alice_id, bob_id = ids(local, "alice", "bob")
    params = {"recipientId": bob_id, "kind": "dialog/UPDATE", "name": "Our <photos> & more"}
    result = alice.call("chat.message.createSystem", params)
    assert result["recipientId"] == bob_id
    assert result["extensionParams"] == {"kind": "dialog/UPDATE", "name": "Our <photos> & more"}
    got = bob.wait_for(SystemMessageReceived, lambda e: e.message_id == result["messageId"])
    assert got.sender_id == alice_id
    assert dict(got.extension) == result["extensionParams"]


# -- reactions ------------------------------------------------------------------------------


def test_reactions_rest_and_push(local: Local, alice: SdkPeer, bob: OurPeer, rest_as: Rest) -> None:
    alice_id, bob_id = ids(local, "alice", "bob")
    dialog = group_by_sdk(alice, "Reactions", [bob_id])
    mid = bob.send(SendMessage(to_dialog=dialog, body="react to me"))
    assert mid is not None
    alice.wait_event("onMessageListener", lambda a: a[1]["id"] == mid)
    ours_bob, ours_alice = rest_as("bob"), rest_as("alice")

    # The SDK adds: its call resolves, and the server's <reactions> push reaches our client
    # and the SDK's own listener with the same values.
    alice.call("chat.message.addReaction", mid, "👍")
    pushed = bob.wait_for(ReactionsChanged, lambda e: e.message_id == mid)
    assert (pushed.user_id, pushed.dialog_id, pushed.added, pushed.removed) == (
        alice_id,
        dialog,
        ("👍",),
        (),
    )
    own = alice.wait_event("onMessageReactionsListener", lambda a: a[0] == mid)
    assert own == [mid, alice_id, dialog, "👍", UNDEFINED]

    # Our client adds: the SDK's listener gets exactly our values.
    ours_bob.call(rest.update_reactions(mid, add="🔥"))
    assert alice.wait_event("onMessageReactionsListener", lambda a: a[1] == bob_id) == [
        mid,
        bob_id,
        dialog,
        "🔥",
        UNDEFINED,
    ]
    bob.wait_for(ReactionsChanged, lambda e: e.user_id == bob_id)

    # List: the SDK and our client read the same emoji -> user ids.
    theirs = alice.call("chat.message.listReactions", mid)
    seen = ours_alice.call(rest.list_reactions(mid))
    assert {k: sorted(v) for k, v in theirs.items()} == {
        k: sorted(v) for k, v in seen.by_emoji.items()
    }
    assert {k: sorted(v) for k, v in theirs.items()} == {"👍": [alice_id], "🔥": [bob_id]}

    # The message's reaction summary in history, for the same reader.
    [sdk_msg] = alice.call("chat.message.list", {"chat_dialog_id": dialog, "mark_as_read": 0})[
        "items"
    ]
    [our_msg] = ours_alice.call(rest.list_messages(dialog, mark_as_read=False)).items
    assert sdk_message_view(sdk_msg) == message_view(our_msg)
    assert sdk_msg["reactions"] == {"own": ["👍"], "total": {"👍": 1, "🔥": 1}}

    # Change (add and remove in one call), then remove: pushes both ways.
    alice.call("chat.message.updateReaction", mid, "🎉", "👍")
    pushed = bob.wait_for(ReactionsChanged, lambda e: e.user_id == alice_id)
    assert (pushed.added, pushed.removed) == (("🎉",), ("👍",))
    assert alice.wait_event("onMessageReactionsListener", lambda a: a[1] == alice_id) == [
        mid,
        alice_id,
        dialog,
        "🎉",
        "👍",
    ]
    ours_bob.call(rest.update_reactions(mid, remove="🔥"))
    assert alice.wait_event("onMessageReactionsListener", lambda a: a[1] == bob_id) == [
        mid,
        bob_id,
        dialog,
        UNDEFINED,
        "🔥",
    ]
    alice.call("chat.message.removeReaction", mid, "🎉")
    pushed = bob.wait_for(ReactionsChanged, lambda e: e.user_id == alice_id)
    assert (pushed.added, pushed.removed) == ((), ("🎉",))
    assert alice.call("chat.message.listReactions", mid) == {}
    assert dict(ours_alice.call(rest.list_reactions(mid)).by_emoji) == {}


def test_reactions_in_private_dialog(
    local: Local, alice: SdkPeer, bob: OurPeer, rest_as: Rest
) -> None:
    """1-1: the push names the dialog in extraParams (no room JID to take it from)."""
    alice_id, bob_id = ids(local, "alice", "bob")
    created = alice.call("chat.dialog.create", {"type": 3, "occupants_ids": [bob_id]})
    dialog = str(created["_id"])
    mid = rest_as("bob").call(rest.create_message(chat_dialog_id=dialog, message="private")).id
    alice.call("chat.message.addReaction", mid, "❤️")
    pushed = bob.wait_for(ReactionsChanged, lambda e: e.message_id == mid)
    assert (pushed.user_id, pushed.dialog_id, pushed.added) == (alice_id, dialog, ("❤️",))
    assert alice.wait_event("onMessageReactionsListener", lambda a: a[0] == mid) == [
        mid,
        alice_id,
        dialog,
        "❤️",
        UNDEFINED,
    ]


# -- unread counts and marking read ---------------------------------------------------------


def unread_pair(
    sdk: SdkPeer, ours: BlockingRestClient, dialogs: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The SDK's and our unread counts for ``dialogs``, in the SDK's JSON shape."""
    theirs = sdk.call("chat.message.unreadCount", {"chat_dialog_ids": dialogs})
    seen = ours.call(rest.unread_counts(dialogs))
    return theirs, {"total": seen.total, **seen.dialogs}


def test_unread_counts_and_mark_read(local: Local, alice: SdkPeer, rest_as: Rest) -> None:
    (bob_id,) = ids(local, "bob")
    ours_alice, ours_bob = rest_as("alice"), rest_as("bob")
    first = group_by_sdk(alice, "Unread one", [bob_id])
    second = group_by_sdk(alice, "Unread two", [bob_id])
    in_first = post_messages(ours_bob, first, "one", "two", "three")
    post_messages(ours_bob, second, "four", "five")

    theirs, seen = unread_pair(alice, ours_alice, [first, second])
    assert theirs == seen == {"total": 5, first: 3, second: 2}

    # The dialog list carries the same counts.
    sdk_dialogs = {d["_id"]: d for d in alice.call("chat.dialog.list", {})["items"]}
    our_dialogs = {d.id: d for d in ours_alice.call(rest.list_dialogs()).items}
    for dialog in (first, second):
        assert sdk_dialog_view(sdk_dialogs[dialog]) == dialog_view(our_dialogs[dialog])
    assert sdk_dialogs[first]["unread_messages_count"] == 3

    # Mark one read (PUT /chat/Message/{id}.json): the SDK resolves the empty text body.
    assert (
        alice.call("chat.message.update", in_first[0], {"read": 1, "chat_dialog_id": first}) == ""
    )
    theirs, seen = unread_pair(alice, ours_alice, [first, second])
    assert theirs == seen == {"total": 4, first: 2, second: 2}
    [read_one] = [m for m in ours_bob.call(rest.list_messages(first)).items if m.id == in_first[0]]
    assert local.users["alice"].user_id in read_one.read_ids

    # Mark all read (PUT /chat/Message.json without ids): the SDK's update with an empty id.
    assert alice.call("chat.message.update", "", {"read": 1, "chat_dialog_id": second}) == ""
    theirs, seen = unread_pair(alice, ours_alice, [first, second])
    assert theirs == seen == {"total": 2, first: 2, second: 0}

    # And our client marks the rest read for alice; the SDK sees it.
    ours_alice.call(rest.mark_all_read(first))
    theirs, seen = unread_pair(alice, ours_alice, [first, second])
    assert theirs == seen == {"total": 0, first: 0, second: 0}
    every = alice.call("chat.message.unreadCount")
    mine = ours_alice.call(rest.unread_counts())
    assert every == {"total": mine.total, **mine.dialogs}


# -- search ---------------------------------------------------------------------------------


def test_search(local: Local, alice: SdkPeer, rest_as: Rest) -> None:
    (bob_id,) = ids(local, "bob")
    ours_alice = rest_as("alice")
    word = "quux" + os.urandom(4).hex()
    dialog = group_by_sdk(alice, f"Dialog {word}", [bob_id])
    other = group_by_sdk(alice, "Elsewhere", [bob_id])
    posted = post_messages(rest_as("bob"), dialog, f"first {word}", "no match here", f"{word}!")
    hits = [posted[0], posted[2]]
    post_messages(ours_alice, other, f"other {word}")

    theirs = alice.call("chat.search", {"search_text": word, "chat_dialog_ids": [dialog]})
    seen = ours_alice.call(rest.search(word, chat_dialog_ids=[dialog]))
    results = theirs["results"]
    assert [m["_id"] for m in results["messages"]] == [m.id for m in seen.messages] == hits
    assert [sdk_message_view(m) for m in results["messages"]] == [
        message_view(m) for m in seen.messages
    ]
    assert [d["_id"] for d in results["dialogs"]] == [d.id for d in seen.dialogs] == [dialog]
    assert [u["id"] for u in results["users"]] == [u.id for u in seen.users] == []

    # Without a dialog filter both sides find the other dialog's message too.
    everywhere = alice.call("chat.search", {"search_text": word})["results"]
    assert sorted(m["_id"] for m in everywhere["messages"]) == sorted(
        m.id for m in ours_alice.call(rest.search(word)).messages
    )
    assert len(everywhere["messages"]) == 3

    # A user's login is found as well.
    users = alice.call("chat.search", {"search_text": "carol"})["results"]["users"]
    assert [u["id"] for u in users] == [u.id for u in ours_alice.call(rest.search("carol")).users]
    assert [u["id"] for u in users] == ids(local, "carol")


# -- storage --------------------------------------------------------------------------------


def sdk_download(sdk: SdkPeer, url: str) -> tuple[int, bytes]:
    got = sdk.request("download", url=url)
    return int(got["status"]), base64.b64decode(got["base64"])


@pytest.mark.parametrize(
    ("file", "public"),
    [("buffer", False), ("stream", True)],
    ids=["buffer-private", "stream-public"],
)
def test_storage_sdk_uploads_and_both_download(
    local: Local, local_sdk: Callable[..., SdkPeer], rest_as: Rest, file: str, public: bool
) -> None:
    sdk = local_sdk("alice", chat=False)
    ours = rest_as("alice")
    data = os.urandom(3000) + "ünïcode\r\n--boundary--\r\n".encode()
    blob = sdk.request(
        "upload",
        name="cat photo.jpeg",
        contentType="image/jpeg",
        base64=base64.b64encode(data).decode(),
        file=file,
        public=public,
    )
    assert (blob["name"], blob["content_type"], blob["size"], blob["public"]) == (
        "cat photo.jpeg",
        "image/jpeg",
        len(data),
        public,
    )

    # Our client reads the same blob, now complete, by id.
    info = ours.call(rest.get_blob(blob["id"]))
    assert blob_view(info) == {**blob_view(info), "uid": blob["uid"], "size": len(data)}
    theirs = sdk.call("storage.getInfo", blob["id"])["blob"]
    assert {k: theirs.get(k) for k in blob_view(info)} == blob_view(info)

    # The SDK's private URL helper names a URL that gives the bytes (to the SDK's fetch and
    # to our download), and it is the URL our builder makes.
    url = sdk.call("storage.privateUrl", blob["uid"])
    assert ours.session.token is not None
    assert url == rest.blob_private_url(
        blob["uid"], sdk.call("service.getSession")["token"], base_url=local.api_url
    )
    assert sdk_download(sdk, url) == (200, data)
    sink = io.BytesIO()
    assert ours.download_blob(blob["uid"], sink) == len(data)
    assert sink.getvalue() == data
    public_url = sdk.call("storage.publicUrl", blob["uid"])
    assert public_url == rest.blob_public_url(blob["uid"], base_url=local.api_url)
    # Without a token only a public blob is served (the refusal's status is the server's).
    status, body = sdk_download(sdk, public_url)
    if public:
        assert (status, body) == (200, data)
    else:
        assert status >= 400
        assert data not in body


def test_storage_ours_uploads_sdk_downloads(
    local: Local, local_sdk: Callable[..., SdkPeer], rest_as: Rest
) -> None:
    sdk = local_sdk("alice", chat=False)
    ours = rest_as("alice")
    data = b"\x00\xff" * 1000 + b"end"
    blob = ours.upload_file(
        io.BytesIO(data), name="notes.bin", content_type="application/octet-stream", size=len(data)
    )
    theirs = sdk.call("storage.getInfo", blob.id)["blob"]
    assert {k: theirs.get(k) for k in blob_view(blob)} == {
        **blob_view(ours.call(rest.get_blob(blob.id)))
    }
    assert theirs["size"] == len(data)
    assert sdk_download(sdk, sdk.call("storage.privateUrl", blob.uid)) == (200, data)

    # Deleting through the SDK: our client no longer finds it.
    assert sdk.call("storage.delete", blob.id) == ""
    with pytest.raises(ApiError) as missing:
        ours.call(rest.get_blob(blob.id))
    assert missing.value.status == 404


# -- custom objects -------------------------------------------------------------------------


def test_reports_as_custom_objects(
    local: Local, local_sdk: Callable[..., SdkPeer], rest_as: Rest
) -> None:
    sdk = local_sdk("alice", chat=False)
    ours = rest_as("alice")
    (bob_id,) = ids(local, "bob")
    reason = "spam <&> " + os.urandom(3).hex()

    made = sdk.call("data.create", "UserReports", {"reportedUserId": bob_id, "reason": reason})
    assert (made["user_id"], made["reportedUserId"], made["reason"]) == (
        local.users["alice"].user_id,
        bob_id,
        reason,
    )
    listed = ours.call(rest.list_custom_objects("UserReports"))
    assert [record_view(r) for r in listed.items if r.id == made["_id"]] == [made]

    # Our client reports a message; the SDK lists the same record.
    mid = "6650c2f0a1b2c3d4e5f60718"
    ours_record = ours.call(rest.report_message(mid, reason))
    sdk_list = sdk.call("data.list", "MessageReports", {})
    assert sdk_list["class_name"] == "MessageReports"
    assert [r for r in sdk_list["items"] if r["_id"] == ours_record.id] == [
        record_view(ours_record)
    ]
    assert ours_record.fields == {"reportedMessageId": mid, "reason": reason}

    # A batch from the SDK (records numbered from 1): our list holds every one.
    batch = sdk.call(
        "data.create", "UserReports", [{"reportedUserId": bob_id, "reason": r} for r in ("a", "b")]
    )
    assert [r["reason"] for r in batch["items"]] == ["a", "b"]
    ours_ids = {r.id for r in ours.call(rest.list_custom_objects("UserReports")).items}
    assert {r["_id"] for r in batch["items"]} <= ours_ids


# -- dialogs --------------------------------------------------------------------------------


def test_dialog_admins_notifications_delete(local: Local, alice: SdkPeer, rest_as: Rest) -> None:
    bob_id, carol_id = ids(local, "bob", "carol")
    ours_alice, ours_bob = rest_as("alice"), rest_as("bob")
    dialog = group_by_sdk(alice, "Admins", [bob_id, carol_id])

    updated = alice.call("chat.dialog.addAdmins", dialog, [bob_id, carol_id])
    ours = next(d for d in ours_bob.call(rest.list_dialogs()).items if d.id == dialog)
    assert sorted(updated["admins_ids"]) == sorted(ours.admins_ids) == sorted([bob_id, carol_id])
    updated = alice.call("chat.dialog.removeAdmins", dialog, [carol_id])
    ours = next(d for d in ours_bob.call(rest.list_dialogs()).items if d.id == dialog)
    assert updated["admins_ids"] == list(ours.admins_ids) == [bob_id]

    assert alice.call("chat.dialog.getNotificationsSettings", dialog) == {
        "notifications": {"enabled": int(ours_alice.call(rest.get_notifications(dialog)).enabled)}
    }
    off = alice.call("chat.dialog.updateNotificationsSettings", dialog, False)
    assert off == {"notifications": {"enabled": 0}}
    assert ours_alice.call(rest.get_notifications(dialog)).enabled is False
    ours_alice.call(rest.set_notifications(dialog, True))
    assert alice.call("chat.dialog.getNotificationsSettings", dialog) == {
        "notifications": {"enabled": 1}
    }

    # Delete for me (one id: the SDK reads an empty text body); others keep it.
    assert alice.call("chat.dialog.delete", dialog) == ""
    assert dialog not in [d.id for d in ours_alice.call(rest.list_dialogs()).items]
    assert dialog in [d.id for d in ours_bob.call(rest.list_dialogs()).items]

    # Delete several, one of them unknown: the SDK reads the JSON result ours parses.
    first = group_by_sdk(alice, "Gone one", [bob_id])
    second = group_by_sdk(alice, "Gone two", [bob_id])
    unknown = "0123456789abcdef01234567"
    result = alice.call("chat.dialog.delete", [first, second, unknown], {"force": 1})
    assert sorted(result["SuccessfullyDeleted"]["ids"]) == sorted([first, second])
    assert result["NotFound"]["ids"] == [unknown]
    remaining = {d.id for d in ours_bob.call(rest.list_dialogs()).items}
    assert not {first, second} & remaining


def test_public_dialog_subscribe_and_occupants(local: Local, alice: SdkPeer, rest_as: Rest) -> None:
    alice_id, bob_id, carol_id = ids(local, "alice", "bob", "carol")
    ours_bob, ours_carol = rest_as("bob"), rest_as("carol")
    dialog = ours_bob.call(rest.create_dialog(type=4, name="Public square")).id
    ours_carol.call(rest.subscribe_dialog(dialog))

    subscribed = alice.call("chat.dialog.subscribe", dialog)
    assert subscribed["_id"] == dialog
    ours_view = next(d for d in ours_bob.call(rest.list_dialogs()).items if d.id == dialog)
    assert sdk_dialog_view(subscribed) | {"unread_messages_count": None} == dialog_view(
        ours_view
    ) | {"unread_messages_count": None}

    # Occupants: items wrap each user as {"user": {...}}, which our parser unwraps.
    theirs = alice.call("chat.dialog.getPublicOccupants", dialog, {})
    seen = ours_bob.call(rest.list_occupants(dialog))
    assert sorted((u["user"]["id"], u["user"]["login"]) for u in theirs["items"]) == sorted(
        (u.id, u.login) for u in seen.items
    )
    assert sorted(u.id for u in seen.items) == sorted([alice_id, bob_id, carol_id])
    paged = alice.call("chat.dialog.getPublicOccupants", dialog, {"limit": 1, "skip": 1})
    assert [u["user"]["id"] for u in paged["items"]] == [
        u.id for u in ours_bob.call(rest.list_occupants(dialog, limit=1, skip=1)).items
    ]
    assert len(paged["items"]) == 1

    assert alice.call("chat.dialog.unsubscribe", dialog) == ""
    seen = ours_bob.call(rest.list_occupants(dialog))
    assert alice_id not in [u.id for u in seen.items]
