"""The periodic room check (XEP-0410 self-ping, issue 15) against the real ejabberd, on
asyncio, trio and blocking: an occupant that only listens notices by itself that its room
forgot it, re-joins, and receives what is posted to the room afterwards.

The room forgets its occupants as it does when the node hosting it is SIGKILLed: its
Erlang process is killed (:meth:`Ejabberd.forget_room_occupants`), nobody is told, and the
persistent room comes back empty on the next stanza for it.  Without the check the
listener never learns it (tests/transports/integration/test_cluster.py::
test_room_of_a_killed_node) and what others post never reaches it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import Connector
from ejabberd_server import CubeUser, Ejabberd

from cubeproto import Transport
from cubeproto.chat import (
    ChatOptions,
    ChatSession,
    DialogJoined,
    DialogLost,
    MessageReceived,
)

NewUser = Callable[[], CubeUser]

#: Seconds between checks: short, so that the test does not wait long for one.
INTERVAL = 0.5


def test_a_listener_notices_a_forgotten_room_rejoins_and_hears_again(
    connect: Connector,
    ejabberd_user: NewUser,
    ejabberd: Ejabberd,
    ejabberd_room_name: Callable[[], str],
) -> None:
    listener, talker = ejabberd_user(), ejabberd_user()
    name = ejabberd_room_name()
    ejabberd.create_room(name)
    dialog = name.split("_", 1)[1]
    options = ChatOptions(room_check_interval=INTERVAL, rejoin_lost_dialogs=True)
    pl = connect(listener, handler_factory=lambda: ChatSession(options))
    assert pl.join_dialog(dialog).dialog_id == dialog

    ejabberd.forget_room_occupants(name)
    lost = pl.wait_for(DialogLost)
    assert lost == DialogLost(
        dialog_id=dialog,
        condition_name="not-acceptable",
        message_id=None,
        rejoining=True,
        resending=False,
        detected_by="room_check",
    )
    pl.wait_for(DialogJoined, lambda e: e.dialog_id == dialog)
    assert pl.client._sup.joined_dialogs == {dialog}  # still re-joined after a reconnect

    # Someone joins the restored room and posts: the listener, back in, receives it.
    pt = connect(talker)
    pt.join_dialog(dialog)
    assert set(pt.online_users(dialog)) == {listener.user_id, talker.user_id}
    mid = pt.send_message(to_dialog=dialog, body="after the loss")
    got = pl.wait_for(MessageReceived, lambda e: e.message_id == mid)
    assert (got.dialog_id, got.sender_id, got.body) == (dialog, talker.user_id, "after the loss")
    assert [e for e in pl.seen if isinstance(e, DialogLost)] == []  # one loss, one report


@pytest.mark.parametrize("transport", [Transport.TCP], ids=["tcp-starttls"])
def test_without_rejoin_the_loss_is_reported_and_the_room_dropped(
    connect: Connector,
    ejabberd_user: NewUser,
    ejabberd: Ejabberd,
    ejabberd_room_name: Callable[[], str],
) -> None:
    """A non-persistent room killed with its process is gone: ``item-not-found``; the
    client reports it and drops the room from the set it re-joins."""
    listener = ejabberd_user()
    name = ejabberd_room_name()
    ejabberd.create_room(name)
    ejabberd.api(
        "change_room_option",
        name=name,
        service=ejabberd.muc_domain,
        option="persistent",
        value="false",
    )
    dialog = name.split("_", 1)[1]
    pl = connect(
        listener, handler_factory=lambda: ChatSession(ChatOptions(room_check_interval=INTERVAL))
    )
    pl.join_dialog(dialog)
    ejabberd.forget_room_occupants(name)
    lost = pl.wait_for(DialogLost)
    assert (lost.condition_name, lost.rejoining, lost.detected_by) == (
        "item-not-found",
        False,
        "room_check",
    )
    assert pl.client._sup.joined_dialogs == frozenset()
