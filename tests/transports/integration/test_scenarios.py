"""The chat scenarios of issue 5, each on asyncio, trio and blocking over TCP+STARTTLS,
direct TLS and WebSocket, against the real ejabberd (see conftest.py)."""

from __future__ import annotations

import ssl
from collections.abc import Callable

import pytest
from conftest import Connector, Peer, until_marker
from cubeproto.transports.errors import IqError
from ejabberd_server import CubeUser, Ejabberd

from cubeproto import (
    Authenticated,
    MessageLost,
    MessageRejected,
    MessageSent,
    MessageUnconfirmed,
    Transport,
)
from cubeproto.chat import (
    ChatStateChanged,
    DialogLeft,
    MessageBounced,
    MessageDeleted,
    MessageDelivered,
    MessageEdited,
    MessageRead,
    MessageReceived,
    MessageType,
    PrivacyAction,
    PrivacyItem,
    SystemMessageReceived,
)
from cubeproto.errors import StanzaErrorCondition

pytestmark = pytest.mark.integration

NewUser = Callable[[], CubeUser]


def pair(connect: Connector, ejabberd_user: NewUser) -> tuple[CubeUser, Peer, CubeUser, Peer]:
    a, b = ejabberd_user(), ejabberd_user()
    return a, connect(a), b, connect(b)


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"])
def test_login(connect: Connector, ejabberd_user: NewUser, mechanism: str) -> None:
    user = ejabberd_user()
    peer = connect(user, mechanisms=(mechanism,))
    assert peer.wait_for(Authenticated).mechanism == mechanism
    assert peer.is_connected
    assert peer.ping() >= 0.0


def test_login_scram_plus_over_tls12(
    connect: Connector, ejabberd_user: NewUser, ejabberd: Ejabberd, transport: Transport
) -> None:
    """SCRAM-*-PLUS with tls-unique channel binding (ejabberd 23.01's only type) on TLS 1.2.
    (Not collected for ws://, which has no TLS to bind to: conftest.NOT_APPLICABLE.)"""
    tls = ejabberd.ssl_context()
    tls.maximum_version = ssl.TLSVersion.TLSv1_2
    peer = connect(ejabberd_user(), tls=tls)
    assert peer.wait_for(Authenticated).mechanism == "SCRAM-SHA-256-PLUS"


def test_wrong_password_is_refused(connect: Connector, ejabberd_user: NewUser) -> None:
    from cubeproto.transports.errors import ConnectFailed

    user = ejabberd_user()
    with pytest.raises(ConnectFailed):
        connect(user, password="not-" + user.password)


def test_messages_with_extension_both_ways(connect: Connector, ejabberd_user: NewUser) -> None:
    a, pa, b, pb = pair(connect, ejabberd_user)
    ext = {"photo": "uid-1", "attachments": [{"type": "image", "uid": "u1"}]}
    mid = pa.send_message(to_user=b.user_id, body="hello <b> & ü", extension=ext)
    got = pb.wait_for(MessageReceived, lambda e: e.message_id == mid)
    assert (got.body, got.sender_id, got.type) == ("hello <b> & ü", a.user_id, MessageType.CHAT)
    assert got.extension["photo"] == "uid-1"
    assert got.extension["attachments"] == [{"type": "image", "uid": "u1"}]
    reply = pb.send_message(to_user=a.user_id, body="back", extension={"n": "2"})
    back = pa.wait_for(MessageReceived, lambda e: e.message_id == reply)
    assert (back.body, back.extension["n"], back.sender_id) == ("back", "2", b.user_id)
    system = pa.send_system_message(b.user_id, body="sys", extension={"kind": "x"})
    sysmsg = pb.wait_for(SystemMessageReceived, lambda e: e.message_id == system)
    assert sysmsg.extension["kind"] == "x"


def test_typing(connect: Connector, ejabberd_user: NewUser) -> None:
    a, pa, b, pb = pair(connect, ejabberd_user)
    pa.send_typing(to_user=b.user_id)
    assert pb.wait_for(ChatStateChanged).is_typing
    pa.send_stop_typing(to_user=b.user_id)
    stopped = pb.wait_for(ChatStateChanged)
    assert not stopped.is_typing and stopped.user_id == a.user_id


def test_markers(connect: Connector, ejabberd_user: NewUser) -> None:
    a, pa, b, pb = pair(connect, ejabberd_user)
    mid = pa.send_message(to_user=b.user_id, body="mark me", markable=True)
    pb.wait_for(MessageReceived, lambda e: e.message_id == mid)
    pb.send_delivered(mid, to_user=a.user_id, dialog_id="d1")
    pb.send_read(mid, to_user=a.user_id, dialog_id="d1")
    delivered = pa.wait_for(MessageDelivered, lambda e: e.message_id == mid)
    read = pa.wait_for(MessageRead, lambda e: e.message_id == mid)
    assert delivered.user_id == read.user_id == b.user_id
    assert read.dialog_id == "d1"


def test_edit_and_delete(connect: Connector, ejabberd_user: NewUser) -> None:
    a, pa, b, pb = pair(connect, ejabberd_user)
    mid = pa.send_message(to_user=b.user_id, body="tpyo")
    pb.wait_for(MessageReceived, lambda e: e.message_id == mid)
    pa.edit_message(mid, "typo", to_user=b.user_id, last=True)
    edited = pb.wait_for(MessageEdited, lambda e: e.message_id == mid)
    assert (edited.body, edited.last, edited.user_id) == ("typo", True, a.user_id)
    pa.delete_message(mid, to_user=b.user_id)
    assert pb.wait_for(MessageDeleted, lambda e: e.message_id == mid).user_id == a.user_id


def test_group_dialog(
    connect: Connector,
    ejabberd_user: NewUser,
    ejabberd: Ejabberd,
    ejabberd_room_name: Callable[[], str],
) -> None:
    a, pa, b, pb = pair(connect, ejabberd_user)
    room = ejabberd.create_room(ejabberd_room_name())
    dialog = room.split("@")[0].split("_", 1)[1]
    assert pa.join_dialog(dialog).dialog_id == dialog
    pb.join_dialog(dialog)
    assert set(pa.online_users(dialog)) == {a.user_id, b.user_id}
    mid = pa.send_message(to_dialog=dialog, body="to the group", extension={"g": "1"})
    got = pb.wait_for(MessageReceived, lambda e: e.message_id == mid)
    assert (got.type, got.dialog_id, got.sender_id) == (MessageType.GROUPCHAT, dialog, a.user_id)
    pb.send_typing(to_dialog=dialog)
    assert pa.wait_for(ChatStateChanged, lambda e: e.user_id == b.user_id).dialog_id == dialog
    pb.leave_dialog(dialog)
    assert pb.wait_for(DialogLeft, lambda e: e.dialog_id == dialog)
    assert set(pa.online_users(dialog)) == {a.user_id}


def test_privacy_list_block_bounces(connect: Connector, ejabberd_user: NewUser) -> None:
    a, pa, b, pb = pair(connect, ejabberd_user)
    pa.create_privacy_list("blocked", [PrivacyItem(user_id=b.user_id, action=PrivacyAction.DENY)])
    pa.set_default_privacy_list("blocked")
    names = pa.privacy_list_names()
    assert "blocked" in names.names and names.default == "blocked"
    assert [i.user_id for i in pa.get_privacy_list("blocked")] == [b.user_id]
    mid = pb.send_message(to_user=a.user_id, body="let me in")
    bounced = pb.wait_for(MessageBounced, lambda e: e.message_id == mid)
    assert bounced.error.condition is not None
    # update = get + merge + set: allowing b removes the entry.
    c = ejabberd_user()
    pa.update_privacy_list(
        "blocked",
        [
            PrivacyItem(user_id=b.user_id, action=PrivacyAction.ALLOW),
            PrivacyItem(user_id=c.user_id, action=PrivacyAction.DENY),
        ],
    )
    assert [i.user_id for i in pa.get_privacy_list("blocked")] == [c.user_id]
    ok = pb.send_message(to_user=a.user_id, body="now?")
    assert pa.wait_for(MessageReceived, lambda e: e.message_id == ok).body == "now?"
    pa.set_default_privacy_list(None)
    pa.delete_privacy_list("blocked")
    assert "blocked" not in pa.privacy_list_names().names
    with pytest.raises(IqError) as raised:
        pa.get_privacy_list("blocked")
    assert raised.value.error is not None
    assert raised.value.error.condition is StanzaErrorCondition.ITEM_NOT_FOUND


def test_last_activity(connect: Connector, ejabberd_user: NewUser, ejabberd: Ejabberd) -> None:
    a, pa, b, _ = pair(connect, ejabberd_user)
    stranger = ejabberd_user()
    ejabberd.add_roster_both(a, b)
    assert pa.last_activity(b.user_id) >= 0
    with pytest.raises(IqError):  # no roster subscription: refused
        pa.last_activity(stranger.user_id)
    # ConnectyCube's status_streaming subscription is not an XEP; ejabberd refuses it, and
    # the refusal must arrive as a typed error.
    with pytest.raises(IqError):
        pa.subscribe_last_activity(b.user_id)


def test_ping_and_client_state(connect: Connector, ejabberd_user: NewUser) -> None:
    peer = connect(ejabberd_user())
    assert peer.ping(timeout=5.0) >= 0.0
    peer.mark_inactive()
    peer.mark_active()
    assert peer.ping() >= 0.0


def test_every_message_acknowledged_once(connect: Connector, ejabberd_user: NewUser) -> None:
    _, pa, b, pb = pair(connect, ejabberd_user)
    ids = [pa.send_message(to_user=b.user_id, body=f"m{i}") for i in range(50)]
    for mid in ids:
        pa.wait_for(MessageSent, lambda e, mid=mid: e.message_id == mid)
    # Every later outcome of these comes before a marker's own (acks are cumulative);
    # until_marker leaves what came in `seen`.
    until_marker(pa, pb, b.user_id)
    outcomes = (MessageSent, MessageLost, MessageUnconfirmed, MessageRejected)
    settled = [e.message_id for e in pa.seen if isinstance(e, outcomes)]
    assert settled == [], "a message was settled twice"
    received = set()
    while len(received) < len(ids):
        received.add(pb.wait_for(MessageReceived).message_id)
    assert received == set(ids)


def test_with_slixmpp_as_the_peer(
    connect: Connector, ejabberd_user: NewUser, ejabberd: Ejabberd
) -> None:
    """An independent XMPP implementation on the other side, both directions."""
    from slixpeer import SlixPeer

    a, b = ejabberd_user(), ejabberd_user()
    pa = connect(a)
    with SlixPeer(b.jid, b.password, ejabberd.c2s_port, ejabberd.ssl_context()) as slix:
        mid = pa.send_message(to_user=b.user_id, body="hi slixmpp", extension={"x": "1"})
        echo = pa.wait_for(MessageReceived, lambda e: e.body == "echo:hi slixmpp")
        assert echo.sender_id == b.user_id
        assert [(i, body) for _, i, body in slix.received] == [(mid, "hi slixmpp")]
        slix.send(a.jid, "from slixmpp")
        got = pa.wait_for(MessageReceived, lambda e: e.body == "from slixmpp")
        assert got.sender_id == b.user_id and got.type is MessageType.CHAT
