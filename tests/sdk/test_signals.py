"""Everything of the chat guide that is not a chat message, between the official SDK and our
client, both directions: typing and stop typing (1-1 and group), delivered and read markers
(explicit and automatic), edit with ``last`` true and false (1-1 and group), delete (1-1
and group), system messages, and ping.

Each test states the SDK listener arguments it expects once and compares them with the
SDK's listener (our client sending) or with our event mapped to the SDK's arguments (the SDK
sending).
"""

from __future__ import annotations

import pytest
from ejabberd_server import Ejabberd

import cubeproto
from cubeproto.chat import (
    ChatState,
    ChatStateChanged,
    DeleteMessage,
    DeliveryStatus,
    DeliveryStatusChanged,
    EditMessage,
    ExtensionValue,
    MarkerKind,
    MessageDeleted,
    MessageDelivered,
    MessageEdited,
    MessageRead,
    MessageReceived,
    SendChatState,
    SendMarker,
    SendMessage,
    SendSystemMessage,
    SystemMessageReceived,
)

from .cases import dialog_id
from .conftest import Pair
from .expect import (
    sdk_decoded,
    sdk_delete_args,
    sdk_edit_args,
    sdk_marker_args,
    sdk_system_args,
    sdk_typing_args,
)
from .sdkpeer import UNDEFINED
from .test_group import join_ours, make_room

#: An id of a message the markers/edit/delete refer to (the peers need not have seen it).
ORIGINAL = "6507f2b0a1b2c3d4e5000000"


@pytest.fixture(params=["one_to_one", "group"])
def target(request: pytest.FixtureRequest, pair: Pair, ejabberd: Ejabberd) -> str | None:
    """``None`` for 1-1, or the dialog id of a room both peers joined."""
    if request.param == "one_to_one":
        return None
    dialog = make_room(ejabberd)
    join_ours(pair, dialog)
    pair.sdk.request("join", dialogId=dialog)
    return dialog


# -- typing ---------------------------------------------------------------------------------


def test_typing_sdk_to_ours(pair: Pair, target: str | None) -> None:
    to = pair.our_id if target is None else target
    for call, typing in (("chat.sendIsTypingStatus", True), ("chat.sendIsStopTypingStatus", False)):
        pair.sdk.call(call, to, wait=False)
        got = pair.ours.wait_for(ChatStateChanged, lambda e: e.user_id == pair.sdk_id)
        assert sdk_typing_args(got) == [typing, pair.sdk_id, target]


def test_typing_ours_to_sdk(pair: Pair, target: str | None) -> None:
    for state, typing in ((ChatState.COMPOSING, True), (ChatState.PAUSED, False)):
        if target is None:
            pair.ours.send(SendChatState(state=state, to_user=pair.sdk_id))
        else:
            pair.ours.send(SendChatState(state=state, to_dialog=target))
        args = pair.sdk.wait_event("onMessageTypingListener", lambda a: a[1] == pair.our_id)
        assert args == [typing, pair.our_id, target]


# -- delivered and read ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", [MarkerKind.RECEIVED, MarkerKind.DISPLAYED])
def test_markers_sdk_to_ours(pair: Pair, kind: MarkerKind) -> None:
    dialog = dialog_id()
    call = "chat.sendDeliveredStatus" if kind is MarkerKind.RECEIVED else "chat.sendReadStatus"
    pair.sdk.call(call, {"messageId": ORIGINAL, "dialogId": dialog, "userId": pair.our_id})
    got: MessageDelivered | MessageRead
    if kind is MarkerKind.RECEIVED:
        got = pair.ours.wait_for(MessageDelivered, lambda e: e.message_id == ORIGINAL)
    else:
        got = pair.ours.wait_for(MessageRead, lambda e: e.message_id == ORIGINAL)
    assert sdk_marker_args(got) == [ORIGINAL, dialog, pair.sdk_id]


@pytest.mark.parametrize("kind", [MarkerKind.RECEIVED, MarkerKind.DISPLAYED])
def test_markers_ours_to_sdk(pair: Pair, kind: MarkerKind) -> None:
    dialog = dialog_id()
    pair.ours.send(
        SendMarker(kind=kind, message_id=ORIGINAL, to_user=pair.sdk_id, dialog_id=dialog)
    )
    listener = (
        "onDeliveredStatusListener" if kind is MarkerKind.RECEIVED else "onReadStatusListener"
    )
    assert pair.sdk.wait_event(listener) == [ORIGINAL, dialog, pair.our_id]


def test_delivery_cycle_of_our_message(pair: Pair) -> None:
    """Our message: the SDK delivers it automatically, then reads it; our delivery status
    follows sent -> delivered -> read."""
    dialog = dialog_id()
    mid = pair.ours.send(SendMessage(to_user=pair.sdk_id, body="read me", dialog_id=dialog))
    pair.sdk.wait_event("onMessageListener", lambda a: a[1]["id"] == mid)
    delivered = pair.ours.wait_for(MessageDelivered, lambda e: e.message_id == mid)
    assert sdk_marker_args(delivered) == [mid, dialog, pair.sdk_id]
    pair.sdk.call(
        "chat.sendReadStatus", {"messageId": mid, "dialogId": dialog, "userId": pair.our_id}
    )
    read = pair.ours.wait_for(MessageRead, lambda e: e.message_id == mid)
    assert sdk_marker_args(read) == [mid, dialog, pair.sdk_id]
    statuses = [e.status for e in pair.ours.drain(DeliveryStatusChanged) if e.message_id == mid]
    assert statuses[-2:] == [DeliveryStatus.DELIVERED, DeliveryStatus.READ]


def test_delivery_cycle_of_sdk_message(pair: Pair) -> None:
    """The SDK's message: our client delivers it automatically; our read marker reaches the
    SDK's read listener."""
    dialog = dialog_id()
    mid = pair.sdk.call(
        "chat.send",
        pair.our_id,
        {"body": "read me", "extension": {"save_to_history": 1, "dialog_id": dialog}},
    )
    got = pair.ours.wait_for(MessageReceived, lambda e: e.message_id == mid)
    assert pair.sdk.wait_event("onDeliveredStatusListener") == [mid, dialog, pair.our_id]
    assert got.sender_id is not None and got.dialog_id is not None
    pair.ours.send(
        SendMarker(
            kind=MarkerKind.DISPLAYED,
            message_id=mid,
            to_user=got.sender_id,
            dialog_id=got.dialog_id,
        )
    )
    assert pair.sdk.wait_event("onReadStatusListener") == [mid, dialog, pair.our_id]


# -- edit and delete ------------------------------------------------------------------------


@pytest.mark.parametrize("last", [True, False])
def test_edit_sdk_to_ours(pair: Pair, target: str | None, last: bool) -> None:
    dialog = target or dialog_id()
    extension = {"edited": "yes", "meta": {"by": "sdk"}}
    pair.sdk.call(
        "chat.editMessage",
        {
            "to": pair.our_id if target is None else target,
            "dialogId": dialog,
            "body": "corrected <body> & more",
            "originMessageId": ORIGINAL,
            "last": last,
            "extension": extension,
        },
    )
    got = pair.ours.wait_for(MessageEdited, lambda e: e.user_id == pair.sdk_id)
    assert sdk_edit_args(got) == [
        ORIGINAL,
        last,
        "corrected <body> & more",
        dialog,
        pair.sdk_id,
        sdk_decoded({"dialog_id": dialog, **extension}),
    ]


@pytest.mark.parametrize("last", [True, False])
def test_edit_ours_to_sdk(pair: Pair, target: str | None, last: bool) -> None:
    extension: dict[str, ExtensionValue] = {"edited": "yes", "meta": {"by": "us"}}
    if target is None:
        dialog = dialog_id()
        command = EditMessage(
            message_id=ORIGINAL,
            body="corrected <body> & more",
            to_user=pair.sdk_id,
            dialog_id=dialog,
            last=last,
            extension=extension,
        )
    else:
        dialog = target
        command = EditMessage(
            message_id=ORIGINAL,
            body="corrected <body> & more",
            to_dialog=target,
            last=last,
            extension=extension,
        )
    pair.ours.send(command)
    args = pair.sdk.wait_event("onMessageUpdateListener", lambda a: a[4] == pair.our_id)
    assert args == [
        ORIGINAL,
        last,
        "corrected <body> & more",
        dialog,
        pair.our_id,
        sdk_decoded({"dialog_id": dialog, **extension}),
    ]


def test_delete_sdk_to_ours(pair: Pair, target: str | None) -> None:
    dialog = target or dialog_id()
    to = pair.our_id if target is None else target
    pair.sdk.call("chat.deleteMessage", {"to": to, "dialogId": dialog, "messageId": ORIGINAL})
    got = pair.ours.wait_for(MessageDeleted, lambda e: e.user_id == pair.sdk_id)
    assert sdk_delete_args(got) == [ORIGINAL, dialog, pair.sdk_id]


def test_delete_ours_to_sdk(pair: Pair, target: str | None) -> None:
    if target is None:
        dialog = dialog_id()
        pair.ours.send(DeleteMessage(message_id=ORIGINAL, to_user=pair.sdk_id, dialog_id=dialog))
    else:
        dialog = target
        pair.ours.send(DeleteMessage(message_id=ORIGINAL, to_dialog=target))
    args = pair.sdk.wait_event("onMessageDeleteListener", lambda a: a[2] == pair.our_id)
    assert args == [ORIGINAL, dialog, pair.our_id]


# -- system messages ------------------------------------------------------------------------

SYSTEM_EXTENSION: dict[str, ExtensionValue] = {
    "photo_uid": "7cafb6030d3e4348ba49cab24c0cf10800",
    "name": "Our photos <&>",
    "dialog": {"id": "6507f0a1c2b3d4e5f6a7b8c9", "type": 2},
}


def test_system_message_sdk_to_ours(pair: Pair) -> None:
    mid = pair.sdk.call(
        "chat.sendSystemMessage",
        pair.our_id,
        {"body": "dialog/UPDATE_DIALOG", "extension": SYSTEM_EXTENSION},
    )
    got = pair.ours.wait_for(SystemMessageReceived, lambda e: e.message_id == mid)
    assert sdk_system_args(got) == [
        {
            "id": mid,
            "userId": pair.sdk_id,
            "body": "dialog/UPDATE_DIALOG",
            "extension": sdk_decoded(SYSTEM_EXTENSION),
        }
    ]


def test_system_message_ours_to_sdk(pair: Pair) -> None:
    # Without an extension: no <extraParams>, so no moduleIdentifier -- the SDK drops it
    # (it takes a headline as a system message only by that key).  The message after it
    # proves it was dropped, not late: one stream delivers in order.
    dropped = pair.ours.send(SendSystemMessage(to_user=pair.sdk_id, body="no extension"))
    mid = pair.ours.send(
        SendSystemMessage(
            to_user=pair.sdk_id, body="dialog/UPDATE_DIALOG", extension=SYSTEM_EXTENSION
        )
    )
    args = pair.sdk.wait_event("onSystemMessageListener")
    assert args == [
        {
            "id": mid,
            "userId": pair.our_id,
            "body": "dialog/UPDATE_DIALOG",
            "extension": sdk_decoded(SYSTEM_EXTENSION),
        }
    ]
    assert dropped != mid
    assert pair.sdk.take("onSystemMessageListener") == []


# -- ping ------------------------------------------------------------------------------------


def test_ping_both_ways(pair: Pair) -> None:
    """Our client pings the SDK user and the SDK's client answers; an IQ ping sent through
    the SDK's client to our client is answered; each pings the server too."""
    sdk_jid = pair.sdk.request("jid")
    ping_id = pair.ours.send(cubeproto.Ping(to=sdk_jid))
    pong = pair.ours.wait_for(cubeproto.PongReceived, lambda e: e.ping_id == ping_id)
    assert pong.error is None

    our_jid = pair.ours.conn.jid
    reply = pair.sdk.request(
        "sendIq",
        xml=f'<iq type="get" id="sdk-ping-1" to="{our_jid}"><ping xmlns="urn:xmpp:ping"/></iq>',
    )
    assert 'type="result"' in reply or "type='result'" in reply, reply
    received = pair.ours.wait_for(cubeproto.PingReceived, lambda e: e.iq_id == "sdk-ping-1")
    assert received.sender == sdk_jid

    assert pair.sdk.call("chat.ping") is UNDEFINED  # resolved (void)
    server_ping = pair.ours.send(cubeproto.Ping())
    assert (
        pair.ours.wait_for(cubeproto.PongReceived, lambda e: e.ping_id == server_ping).error is None
    )
