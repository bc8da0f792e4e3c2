"""Group dialogs (MUC rooms) between the official SDK and our client: messages with every
extension shape both ways, occupant join/leave events and online users.

ejabberd delivers groupchat only to occupants (ConnectyCube does not require a join), so
both peers join the room first.  The SDK's join never resolves (defect D1 of the harness);
the harness settles it on the room's self-presence.
"""

from __future__ import annotations

from typing import Any

import pytest
from ejabberd_server import APP_ID, Ejabberd

from cubeproto.chat import (
    DialogJoined,
    DialogLeft,
    GetOnlineUsers,
    JoinDialog,
    LeaveDialog,
    MessageReceived,
    OccupantJoined,
    OccupantLeft,
    OnlineUsers,
    SendMessage,
)

from .cases import dialog_id, expected_args, params
from .conftest import Pair
from .expect import sdk_message_args


def make_room(server: Ejabberd) -> str:
    """A fresh, unlocked room ``42_{dialogId}``; return the dialog id."""
    dialog = dialog_id()
    server.create_room(f"{APP_ID}_{dialog}")
    return dialog


def join_ours(pair: Pair, dialog: str) -> None:
    pair.ours.send(JoinDialog(dialog_id=dialog))
    pair.ours.wait_for(DialogJoined, lambda e: e.dialog_id == dialog)


@pytest.fixture
def group(pair: Pair, ejabberd: Ejabberd) -> str:
    """A room both peers have joined (ours first); its dialog id."""
    dialog = make_room(ejabberd)
    join_ours(pair, dialog)
    pair.sdk.request("join", dialogId=dialog)
    return dialog


@pytest.mark.parametrize(("name", "body", "extension"), params())
def test_group_sdk_to_ours(
    pair: Pair, group: str, name: str, body: str, extension: dict[str, Any]
) -> None:
    ext = {"save_to_history": 1, "dialog_id": group, **extension}
    mid = pair.sdk.call("chat.send", group, {"type": "groupchat", "body": body, "extension": ext})
    got = pair.ours.wait_for(MessageReceived, lambda e: e.message_id == mid)
    assert sdk_message_args(got) == expected_args(
        sender=pair.sdk_id,
        recipient=None,
        dialog=group,
        type_="groupchat",
        mid=mid,
        body=body,
        extension=extension,
    )


@pytest.mark.parametrize(("name", "body", "extension"), params())
def test_group_ours_to_sdk(
    pair: Pair, group: str, name: str, body: str, extension: dict[str, Any]
) -> None:
    mid = pair.ours.send(SendMessage(to_dialog=group, body=body, extension=extension))
    assert mid is not None
    args = pair.sdk.wait_event(
        "onMessageListener", lambda a: a[1]["id"] == mid and a[0] == pair.our_id
    )
    assert args == expected_args(
        sender=pair.our_id,
        recipient=None,
        dialog=group,
        type_="groupchat",
        mid=mid,
        body=body,
        extension=extension,
    )


def test_occupants_both_ways(pair: Pair, ejabberd: Ejabberd) -> None:
    """Join/leave presences of one peer reach the other's occupant events, and both list
    the same online users."""
    dialog = make_room(ejabberd)
    join_ours(pair, dialog)
    pair.sdk.request("join", dialogId=dialog)
    # The SDK joined after us: the room told it about us, and us about it.
    assert pair.sdk.wait_event("onJoinOccupant", lambda a: a[0] == dialog) == [
        dialog,
        pair.our_id,
    ]
    joined = pair.ours.wait_for(OccupantJoined, lambda e: e.dialog_id == dialog)
    assert (joined.dialog_id, joined.user_id) == (dialog, pair.sdk_id)

    online_sdk = pair.sdk.call("chat.muc.listOnlineUsers", dialog)
    pair.ours.send(GetOnlineUsers(dialog_id=dialog))
    online_ours = pair.ours.wait_for(OnlineUsers, lambda e: e.dialog_id == dialog)
    assert sorted(online_sdk) == sorted(online_ours.user_ids) == sorted([pair.sdk_id, pair.our_id])

    pair.ours.send(LeaveDialog(dialog_id=dialog))
    pair.ours.wait_for(DialogLeft, lambda e: e.dialog_id == dialog)
    assert pair.sdk.wait_event("onLeaveOccupant", lambda a: a[0] == dialog) == [
        dialog,
        pair.our_id,
    ]
    join_ours(pair, dialog)
    assert pair.sdk.wait_event("onJoinOccupant", lambda a: a[0] == dialog) == [
        dialog,
        pair.our_id,
    ]
    pair.sdk.request("leave", dialogId=dialog)
    left = pair.ours.wait_for(OccupantLeft, lambda e: e.dialog_id == dialog)
    assert (left.dialog_id, left.user_id) == (dialog, pair.sdk_id)
