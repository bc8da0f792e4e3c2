"""The local server follows the XMPP rules a standards-following client relies on (issue 16
items 5, 6, 8 and 9; issue 14 part C's token login), checked with slixmpp -- an independent
implementation -- and with our own client, through real sockets:

* a REST session token is a chat password over SCRAM as over PLAIN;
* a MUC join ends with the room subject (XEP-0045 7.2.16), a nick the server changed comes
  back with status 210 (7.2.9), and our client neither reports the subject as a message nor
  misreads the join;
* available presence reaches every available resource of the user unstripped (RFC 6121
  4.2.2, 4.4.2), directed presence reaches its target (4.6), unavailable presence follows;
* a message to an account that does not exist here is answered as a blocked one is, so the
  answer tells nothing (RFC 6121 8.5.2.1.1), and an IQ with two payloads is a bad request
  (RFC 6120 8.2.3).
"""

from __future__ import annotations

import base64
import os
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cubeproto.transports.errors import IqError
from cubeproto.transports.http_blocking import BlockingRestClient
from cubeproto.transports.localserver.hub import Hub
from cubeproto.transports.localserver.store import Store
from cubeproto.transports.localserver.testing import CubeUser, LocalChatClient, RunningServer

from cubeproto import Authenticated, Transport
from cubeproto._server_connection import ServerConfig, ServerConnection
from cubeproto.chat import (
    DialogJoined,
    LastActivity,
    MessageBounced,
    MessageReceived,
    PresenceReceived,
    PrivacyAction,
    PrivacyItem,
)
from cubeproto.commands import OutboundStanza, StanzaCommand, StanzaContext
from cubeproto.events import UnhandledStanza

from .groups import group_of
from .slix import Slix

NewUser = Callable[..., CubeUser]
NewChat = Callable[..., LocalChatClient]
NewRest = Callable[[CubeUser], BlockingRestClient]
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


@pytest.fixture
def slix(cube_server: RunningServer) -> Iterator[Callable[..., Slix]]:
    """``slix(user, resource=None, muc=False)``: a connected slixmpp client of ``user``."""
    info = cube_server.info
    assert info.ca_file is not None
    tls = ssl.create_default_context(cafile=info.ca_file)
    opened: list[Slix] = []

    def make(user: CubeUser, resource: str | None = None, *, muc: bool = False) -> Slix:
        jid = jid_of(cube_server, user) + (f"/{resource}" if resource else "")
        peer = Slix(jid, user.password, info.xmpp_port, tls, muc=muc).__enter__()
        opened.append(peer)
        return peer

    yield make
    for peer in reversed(opened):
        peer.__exit__(None, None, None)


def jid_of(server: RunningServer, user: CubeUser) -> str:
    return f"{user.id}-{user.app.id}@{server.info.domain}"


# ---------------------------------------------------------------------- item 5: token login


@pytest.mark.parametrize("mechanism", [None, "SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN"])
def test_rest_session_token_is_a_chat_password_over_every_mechanism(
    cube_user: NewUser, cube_chat_client: NewChat, cube_rest_client: NewRest, mechanism: str | None
) -> None:
    """The guide's way (issue 14 C): the REST session token as the chat password, with the
    default mechanisms (which pick SCRAM) and each one named; the password still works
    while the user has live tokens, and the token logs in over every transport."""
    alice, bob = cube_user(), cube_user()
    rest = cube_rest_client(alice)
    token = rest.session.token
    assert token is not None and token != alice.password
    cube_rest_client(alice)  # a second live token: the server has three secrets to try
    config: dict[str, Any] = {} if mechanism is None else {"mechanisms": (mechanism,)}
    chat = cube_chat_client(alice, password=token, **config)
    used = chat.wait_for(Authenticated).mechanism
    assert used == mechanism if mechanism else used.startswith("SCRAM-")
    # The session is a working one: bob (password login) and alice exchange a message.
    bob_chat = cube_chat_client(bob, **config)
    mid = chat.send_message(to_user=bob.id, body="logged in with a token")
    assert bob_chat.wait_for(MessageReceived, message_id=mid).sender_id == alice.id
    if mechanism is None:
        for transport in (Transport.DIRECT_TLS, Transport.WEBSOCKET):
            other = cube_chat_client(alice, transport, password=token)
            assert other.wait_for(Authenticated).mechanism.startswith("SCRAM-")


# ---------------------------------------------------------------------- item 6: MUC joins


def test_slixmpp_join_muc_wait_gets_subject_and_status_210(
    cube_server: RunningServer,
    cube_user: NewUser,
    cube_rest_client: NewRest,
    slix: Callable[..., Slix],
) -> None:
    """slixmpp's ``join_muc_wait`` returns only after the self-presence *and* the room
    subject; the nick it asked for is not a user id, so the server changes it to the user
    id and says so with status 210 next to 110 (XEP-0045 7.2.9)."""
    alice, bob = cube_user(), cube_user()
    dialog = group_of(cube_rest_client(alice), alice, bob)
    room = f"{alice.app.id}_{dialog}@muc.{cube_server.info.domain}"
    peer = slix(alice, muc=True)
    peer.run(lambda: peer.client.send_presence())
    muc = peer.client.plugin["xep_0045"]
    pres, subject, _occupants, _history = peer.run(
        lambda: muc.join_muc_wait(slix_jid(room), "alice-nick", maxstanzas=0, timeout=8),
        timeout=15,
    )
    assert str(pres["from"]) == f"{room}/{alice.id}"
    assert {110, 210} <= set(pres["muc"]["status_codes"])
    assert subject["type"] == "groupchat" and str(subject["from"]) == room
    assert subject.xml.find("{jabber:client}subject") is not None and not subject["body"]
    # A nick equal to the user id is kept: no 210 then.
    peer2 = slix(bob, muc=True)
    muc2 = peer2.client.plugin["xep_0045"]
    pres2, _s, occupants2, _h = peer2.run(
        lambda: muc2.join_muc_wait(slix_jid(room), str(bob.id), maxstanzas=0, timeout=8),
        timeout=15,
    )
    assert 110 in pres2["muc"]["status_codes"] and 210 not in pres2["muc"]["status_codes"]
    assert f"{room}/{alice.id}" in {str(p["from"]) for p in occupants2}


def slix_jid(value: str) -> Any:
    import slixmpp

    return slixmpp.JID(value)


def test_our_client_joins_and_never_sees_the_subject_as_a_message(
    cube_user: NewUser, cube_chat_client: NewChat, cube_rest_client: NewRest
) -> None:
    """DialogJoined as before, and the subject that now follows the self-presence is not
    a message: the first MessageReceived after the join is the one alice then posts."""
    alice, bob = cube_user(), cube_user()
    dialog = group_of(cube_rest_client(alice), alice, bob)
    chat = cube_chat_client(alice)
    assert chat.join_dialog(dialog) == DialogJoined(dialog_id=dialog)
    mid = chat.send_message(to_dialog=dialog, body="after the join")
    first = chat.wait_for(MessageReceived)
    assert (first.message_id, first.body, first.sender_id) == (mid, "after the join", alice.id)
    assert not [e for e in chat.backlog if isinstance(e, MessageReceived)]
    assert not [
        e for e in chat.backlog if isinstance(e, UnhandledStanza) and b"<message" in e.raw[:9]
    ]


# ---------------------------------------------------------------------- item 8: presence


AWAY = (
    "<presence><show>away</show><status>at lunch</status><priority>5</priority>"
    "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='urn:x' ver='v1'/>"
    "</presence>"
)


def test_slixmpp_presence_reaches_the_users_other_resources_unstripped(
    cube_server: RunningServer, cube_user: NewUser, slix: Callable[..., Slix]
) -> None:
    alice, bob = cube_user(), cube_user()
    bare = jid_of(cube_server, alice)
    r1, r2 = slix(alice, "r1"), slix(alice, "r2")
    r2.run(lambda: r2.client.send_presence())
    # r2's initial presence comes back to r2 itself (RFC 6121 4.2.2).
    r2.wait_until(r2.presences, lambda p: str(p["from"]) == f"{bare}/r2")
    r1.send_raw(AWAY)
    for peer in (r1, r2):  # the sender and the other available resource
        got = peer.wait_until(peer.presences, lambda p: p["show"] == "away")
        assert str(got["from"]) == f"{bare}/r1"
        assert (got["status"], got["priority"]) == ("at lunch", 5)
        assert 'node="urn:x"' in str(got) or "node='urn:x'" in str(got)
    # r1 became available after r2: it was told of r2's presence (RFC 6121 4.2.2).
    r1.wait_until(r1.presences, lambda p: str(p["from"]) == f"{bare}/r2")

    # Directed presence from bob to one resource reaches only that resource (4.6.2) ...
    b = slix(bob)
    b.send_raw(f"<presence to='{bare}/r2'><status>hi r2</status></presence>")
    r2.wait_until(r2.presences, lambda p: p["status"] == "hi r2")
    # ... to the bare JID every available resource (and nothing to unknown accounts).
    b.send_raw(f"<presence to='{bare}'><status>hi all</status></presence>")
    b.send_raw(f"<presence to='999999-{alice.app.id}@{cube_server.info.domain}'/>")
    for peer in (r1, r2):
        got = peer.wait_until(peer.presences, lambda p: p["status"] == "hi all")
        assert str(got["from"]) == b.jid
    r1.barrier()
    assert not [p for p in r1.presences if p["status"] == "hi r2"]
    b.barrier()
    assert not [p for p in b.presences if p["type"] == "error"]
    # bob's stream ends: those who got his directed presence hear he is gone (4.6.3).
    b.__exit__(None, None, None)
    for peer in (r1, r2):
        got = peer.wait_until(
            peer.presences, lambda p: p["type"] == "unavailable" and str(p["from"]) == b.jid
        )
    # r1 goes unavailable: r2 is told, with r1's status kept.
    r1.send_raw("<presence type='unavailable'><status>gone</status></presence>")
    got = r2.wait_until(
        r2.presences, lambda p: p["type"] == "unavailable" and str(p["from"]) == f"{bare}/r1"
    )
    assert got["status"] == "gone"


class RawStanza(StanzaCommand):
    """One stanza as written (a presence with children, a message to any JID)."""

    __slots__ = ("xml",)

    def __init__(self, xml: str) -> None:
        self.xml = xml

    def build(self, ctx: StanzaContext) -> OutboundStanza:
        return OutboundStanza(xml=self.xml)


def test_our_client_sees_its_other_resources_presence(
    cube_server: RunningServer, cube_user: NewUser, cube_chat_client: NewChat
) -> None:
    alice = cube_user()
    phone = cube_chat_client(alice, resource="phone")
    desk = cube_chat_client(alice, resource="desk")
    bare = jid_of(cube_server, alice)
    phone.send(RawStanza(AWAY))

    for client in (phone, desk):
        # A typed event since issue 14 (it was an UnhandledStanza), the raw stanza kept.
        got = client.wait_for(PresenceReceived, show="away")
        assert got.from_jid == f"{bare}/phone"
        assert (got.status, got.priority, got.own) == ("at lunch", 5, True)
        assert got.echo is (client is phone)
        raw = got.raw
        assert f'from="{bare}/phone"'.encode() in raw
        assert b"<status>at lunch</status>" in raw and b"<priority>5</priority>" in raw
        assert b'node="urn:x"' in raw


# ---------------------------------------------------------------------- item 9: no oracle


def test_unknown_accounts_are_indistinguishable_from_blocked_ones(
    cube_server: RunningServer,
    cube_user: NewUser,
    cube_chat_client: NewChat,
    slix: Callable[..., Slix],
) -> None:
    """RFC 6121 8.5.2.1.1: a message to an account that does not exist is answered
    service-unavailable -- exactly as a message to a user who blocks the sender, so the
    answer does not tell which accounts exist; the same for another application's user, a
    remote domain and a last-activity query."""
    alice, blocker = cube_user(), cube_user()
    domain = cube_server.info.domain
    blocker_chat = cube_chat_client(blocker)
    blocker_chat.create_privacy_list(
        "block", [PrivacyItem(user_id=alice.id, action=PrivacyAction.DENY)]
    )
    blocker_chat.set_default_privacy_list("block")
    other_app = cube_server.add_app()
    stranger = cube_server.user(other_app, "stranger", "stranger-pw")
    chat = cube_chat_client(alice)
    errors = {}
    for name, to in {
        "blocked": f"{blocker.id}-{alice.app.id}@{domain}",
        "unknown": f"999999-{alice.app.id}@{domain}",
        "other app": f"{stranger.id}-{other_app.id}@{domain}",
        "remote": f"{alice.id}-{alice.app.id}@elsewhere.example",
    }.items():
        mid = f"m-{len(errors)}"
        chat.send(RawStanza(f'<message type="chat" to="{to}" id="{mid}"><body>?</body></message>'))
        bounced = chat.wait_for(MessageBounced, message_id=mid)
        errors[name] = (bounced.error.condition_name, bounced.error.type, bounced.error.text)
    assert errors["blocked"][0] == "service-unavailable"
    assert set(errors.values()) == {errors["blocked"]}, errors
    for user_id in (999999, stranger.id):
        with pytest.raises(IqError, match="service-unavailable"):
            chat.last_activity(user_id)
        with pytest.raises(IqError, match="service-unavailable"):
            chat.subscribe_last_activity(user_id)


def test_iq_with_two_payloads_is_a_bad_request(
    cube_user: NewUser, slix: Callable[..., Slix]
) -> None:
    """RFC 6120 8.2.3: an IQ get/set carries exactly one payload child."""
    alice = cube_user()
    peer = slix(alice)
    peer.send_raw(
        "<iq type='get' id='two'><query xmlns='jabber:iq:last'/><ping xmlns='urn:xmpp:ping'/></iq>"
    )
    answer = peer.wait_until(peer.iqs, lambda s: s["id"] == "two")
    assert answer["type"] == "error"
    assert answer["error"]["condition"] == "bad-request" and answer["error"]["type"] == "modify"
    # Also for an IQ to another user, and with no payload at all.
    peer.send_raw(
        f"<iq type='set' id='two-b' to='{peer.jid}'><a xmlns='urn:a'/><b xmlns='urn:b'/></iq>"
        "<iq type='get' id='none'/>"
    )
    for iq_id in ("two-b", "none"):
        answer = peer.wait_until(peer.iqs, lambda s, i=iq_id: s["id"] == i)
        assert answer["error"]["condition"] == "bad-request", iq_id


def test_unavailable_broadcast_does_not_repeat_last_activity_pushes(
    cube_server: RunningServer, cube_user: NewUser, cube_chat_client: NewChat
) -> None:
    """A resource going away is told to the user's other resources (RFC 6121 4.5.2), and a
    last-activity watcher gets one push when the user is gone, not one per mechanism."""
    alice, bob = cube_user(), cube_user()
    watcher = cube_chat_client(alice)
    watcher.subscribe_last_activity(bob.id)
    phone = cube_chat_client(bob, resource="phone")
    desk = cube_chat_client(bob, resource="desk")
    assert desk.ping() >= 0 and phone.ping() >= 0

    def pushes_so_far() -> list[LastActivity]:
        assert watcher.ping() >= 0  # what the server sent before the pong has arrived
        seen = [*watcher.backlog]
        watcher.backlog.clear()
        while (event := watcher.next_event(timeout=0)) is not None:
            seen.append(event)
        return [e for e in seen if isinstance(e, LastActivity)]

    pushes_so_far()  # those of bob's resources becoming available
    desk.disconnect()
    gone = phone.wait_for(PresenceReceived, available=False, resource="desk")
    assert gone.from_jid == f"{jid_of(cube_server, bob)}/desk" and gone.own
    assert pushes_so_far() == []  # bob is still online (phone)
    phone.disconnect()
    assert watcher.wait_for(LastActivity, user_id=bob.id).seconds >= 0
    assert pushes_so_far() == []


def _scram_server_first(hub: Hub, username: str) -> tuple[bytes, bytes]:
    """Start a SCRAM-SHA-1 login for ``username`` on a real ServerConnection backed by the
    hub; returns the server's answer to ``<auth/>`` and to a client-final with a made-up
    proof (what a prober sees)."""
    server = ServerConnection(
        ServerConfig(
            domain="localhost",
            entropy=os.urandom,
            authenticate=hub.authenticate,
            starttls=False,
            require_tls=False,
        )
    )
    server.start(now=0.0)
    server.receive_data(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
        b" to='localhost' version='1.0'>",
        now=0.0,
    )
    server.data_to_send()
    first = f"n,,n={username},r=clientnonce".encode()
    server.receive_data(
        b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>"
        + base64.b64encode(first)
        + b"</auth>",
        now=0.0,
    )
    answer = server.data_to_send()
    if b"<challenge" not in answer:
        return answer, b""
    challenge = base64.b64decode(answer.split(b">", 1)[1].split(b"<", 1)[0])
    nonce = dict(p.split(b"=", 1) for p in challenge.split(b","))[b"r"]
    final = b"c=biws,r=" + nonce + b",p=" + base64.b64encode(b"\x00" * 20)
    server.receive_data(
        b"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
        + base64.b64encode(final)
        + b"</response>",
        now=0.0,
    )
    return challenge, server.data_to_send()


def test_scram_does_not_tell_unknown_usernames_from_accounts() -> None:
    """RFC 5802 section 5.1: a username with no account gets a server-first message like
    an account's (16-byte salt, 4096 iterations, the same salt each time) and fails only
    at the proof, with the same failure as a wrong password."""
    store = Store()
    hub = Hub(store, domain="localhost", clock=time.time)
    store.create_app(7, "key")
    alice = store.create_user(7, "alice", "alice-pass")
    answers = {}
    for name in (f"{alice.id}-7", "999999-7", "999999-7", "not-a-user"):
        challenge, failure = _scram_server_first(hub, name)
        assert challenge.startswith(b"r=clientnonce"), (name, challenge)
        fields = dict(p.split(b"=", 1) for p in challenge.split(b","))
        assert (len(base64.b64decode(fields[b"s"])), fields[b"i"]) == (16, b"4096")
        assert b"<not-authorized/>" in failure
        answers.setdefault(name, set()).add(fields[b"s"])
    assert len(answers["999999-7"]) == 1  # stable: a repeated probe sees the same salt
    assert len({next(iter(s)) for s in answers.values()}) == 3
