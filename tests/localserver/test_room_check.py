"""The local server answers a MUC self-ping as XEP-0410 (3.3) and ejabberd 23.01 do, so
that the chat layer's periodic room check (``ChatOptions(room_check_interval=...)``)
works against the default server: ``result`` to an occupant pinging its own occupant JID,
``not-acceptable`` to anyone who is not an occupant, ``item-not-found`` for a room that
is no dialog.  Before, every such ping got ``service-unavailable`` -- which XEP-0410
reads as "still joined", so a room that forgot a client was never noticed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cubeproto.transports.http_blocking import BlockingRestClient
from cubeproto.transports.localserver.testing import CubeUser, RunningServer

from cubeproto import Transport
from cubeproto.chat import ChatOptions, ChatSession, DialogJoined, DialogLost

from .conftest import Connector
from .groups import group_of
from .rawxmpp import RawClient
from .test_abuse import raw_login

NewUser = Callable[..., CubeUser]
NewRest = Callable[[CubeUser], BlockingRestClient]
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
MUC = "http://jabber.org/protocol/muc"


def ping(to: str, iq_id: str) -> str:
    return f"<iq type='get' id='{iq_id}' to='{to}'><ping xmlns='urn:xmpp:ping'/></iq>"


def answer_to(client: RawClient, iq_id: str) -> str:
    """The ``<iq>`` answering ``iq_id`` (the server writes every answer with an end tag)."""
    text = client.read_until(f'id="{iq_id}"')
    start = text.rindex("<iq ")
    return text[start:] + client.read_until("</iq>")


def test_the_server_answers_self_pings_as_xep_0410(
    cube_server: RunningServer, cube_user: NewUser, cube_rest_client: NewRest
) -> None:
    alice, bob = cube_user(), cube_user()
    dialog = group_of(cube_rest_client(alice), alice, bob)
    room = f"{alice.app.id}_{dialog}@muc.{cube_server.info.domain}"
    raw = raw_login(cube_server, alice, "r")
    try:
        # not (yet) an occupant: not-acceptable, from the pinged JID
        raw.send(ping(f"{room}/{alice.id}", "p1"))
        before = answer_to(raw, "p1")
        assert 'type="error"' in before and f'from="{room}/{alice.id}"' in before
        assert f'<not-acceptable xmlns="{STANZAS}"/>' in before
        assert 'type="modify"' in before
        raw.send(f"<presence to='{room}/{alice.id}'><x xmlns='{MUC}'/></presence>")
        raw.read_until("<subject/>")
        # an occupant pinging its own nick: result, from its occupant JID
        raw.send(ping(f"{room}/{alice.id}", "p2"))
        joined = answer_to(raw, "p2")
        assert 'type="result"' in joined and f'from="{room}/{alice.id}"' in joined
        # another occupant's nick: not forwarded, as before
        raw.send(ping(f"{room}/{bob.id}", "p3"))
        other = answer_to(raw, "p3")
        assert f'<service-unavailable xmlns="{STANZAS}"/>' in other
        # a room that is no dialog
        gone = f"{alice.app.id}_{'0' * 24}@muc.{cube_server.info.domain}"
        raw.send(ping(f"{gone}/{alice.id}", "p4"))
        assert f'<item-not-found xmlns="{STANZAS}"/>' in answer_to(raw, "p4")
        # left: not an occupant any more
        raw.send(f"<presence type='unavailable' to='{room}/{alice.id}'/>")
        raw.send(ping(f"{room}/{alice.id}", "p5"))
        assert f'<not-acceptable xmlns="{STANZAS}"/>' in answer_to(raw, "p5")
    finally:
        raw.close()


@pytest.mark.parametrize("transport", [Transport.TCP], ids=["starttls"])
def test_a_listener_notices_the_server_forgot_it_and_rejoins(
    connect: Connector,
    cube_server: RunningServer,
    cube_user: NewUser,
    cube_rest_client: NewRest,
) -> None:
    """The hub drops the listener from the room without a word (what a node's death does
    on a cluster); the listener's room check finds it (``not-acceptable``), it re-joins,
    and the others see it in the room again."""
    alice, bob = cube_user(), cube_user()
    dialog = group_of(cube_rest_client(alice), alice, bob)
    room = f"{alice.app.id}_{dialog}@muc.{cube_server.info.domain}"
    options = ChatOptions(room_check_interval=0.3, rejoin_lost_dialogs=True)
    listener = connect(alice, handler_factory=lambda: ChatSession(options))
    talker = connect(bob)
    listener.join_dialog(dialog)
    talker.join_dialog(dialog)
    assert sorted(talker.online_users(dialog)) == sorted([alice.id, bob.id])
    hub = cube_server.server.hub

    def forget() -> None:
        session = hub.rooms[room].pop(alice.id)
        session.rooms.discard(room)

    cube_server.call(forget)
    assert list(talker.online_users(dialog)) == [bob.id]
    lost = listener.wait_for(DialogLost)
    assert lost == DialogLost(
        dialog_id=dialog,
        condition_name="not-acceptable",
        message_id=None,
        rejoining=True,
        resending=False,
        detected_by="room_check",
    )
    listener.wait_for(DialogJoined, dialog_id=dialog)
    assert sorted(talker.online_users(dialog)) == sorted([alice.id, bob.id])
