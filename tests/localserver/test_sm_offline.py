"""Stream management meets offline storage: a message the client did not acknowledge is
kept for the resumed session, goes offline when the session expires, and comes once --
not twice -- when a late resume attempt says (through its ``h``) the client had it.

The real client core, the real server connection, the real hub and store, wired in
memory with a controlled clock (the socket-level resumption is in test_restart.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from cubeproto.transports.localserver.hub import Hub, Session
from cubeproto.transports.localserver.store import Store, User

from cubeproto import ClientConfig, ClientConnection
from cubeproto._server_connection import (
    ServerConfig,
    ServerConnection,
    TlsRequested,
)
from cubeproto.chat import ChatSession, MessageReceived
from cubeproto.events import Event, TlsUpgradeRequired

DOMAIN = "localhost"


@dataclass
class Wire:
    """One client connection to the hub."""

    hub: Hub
    client: ClientConnection
    session: Session
    events: list[Event] = field(default_factory=list)
    #: When false, what the client writes is lost (its acks never reach the server).
    up: bool = True
    #: Everything the server wrote to this client.
    wire_bytes: bytes = b""

    def pump(self, now: float) -> None:
        for _ in range(100):
            out = self.client.data_to_send()
            if out and self.up:
                self.session.conn.receive_data(out, now=now)
            while (event := self.session.conn.next_event()) is not None:
                if isinstance(event, TlsRequested):
                    self.session.conn.tls_established(now=now)
                    continue
                self.hub.on_event(self.session, event)
            back = self.session.conn.data_to_send()
            self.hub.take_dirty()
            if back:
                self.wire_bytes += back
                self.client.receive_data(back, now=now)
            while (cevent := self.client.next_event()) is not None:
                self.events.append(cevent)
                if isinstance(cevent, TlsUpgradeRequired):
                    self.client.tls_established(now=now)
            if not out and not back:
                return
        raise AssertionError("did not settle")

    def received(self, message_id: str) -> int:
        """How many times the server sent ``message_id`` on this connection (counted on
        the wire: the client's own duplicate suppression must not hide a resend)."""
        sent = self.wire_bytes.count(f'id="{message_id}"'.encode())
        shown = sum(
            1 for e in self.events if isinstance(e, MessageReceived) and e.message_id == message_id
        )
        assert shown <= sent
        return sent


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def setup() -> tuple[Hub, Store, Clock, User, User]:
    store = Store()
    clock = Clock()
    hub = Hub(store, domain=DOMAIN, clock=clock, resume_seconds=60)
    store.create_app(7, "key")
    alice = store.create_user(7, "alice", "alice-pass")
    bob = store.create_user(7, "bob", "bob-pass")
    return hub, store, clock, alice, bob


def open_wire(hub: Hub, user: User, clock: Clock, resume: object = None) -> Wire:
    server = ServerConnection(
        ServerConfig(
            domain=DOMAIN,
            entropy=os.urandom,
            authenticate=hub.authenticate,
            resume_seconds=hub.resume_seconds,
        )
    )
    client = ClientConnection(
        ClientConfig(
            app_id=user.app_id,
            user_id=user.id,
            password=f"{user.login}-pass",
            entropy=os.urandom,
            wall_clock=clock,
            chat_host=DOMAIN,
            handler_factory=ChatSession,
        ),
        resume=resume,  # type: ignore[arg-type]
    )
    wire = Wire(hub, client, Session(server))
    server.start(now=clock.t)
    client.start(now=clock.t)
    wire.pump(clock.t)
    return wire


def message_to(user: User, message_id: str, sender: User) -> str:
    return (
        f'<message xmlns="jabber:client" type="chat" id="{message_id}" '
        f'from="{sender.id}-{sender.app_id}@{DOMAIN}/r" to="{user.id}-{user.app_id}@{DOMAIN}">'
        f"<body>hello {message_id}</body></message>"
    )


def cut(wire: Wire, now: float) -> None:
    wire.session.conn.receive_eof(now=now)
    wire.up = False
    wire.pump(now)
    wire.client.receive_eof(now=now)
    wire.pump(now)


def test_handled_but_unacked_message_comes_once_after_a_late_resume() -> None:
    hub, store, clock, alice, bob = setup()
    first = open_wire(hub, alice, clock)
    assert hub.sessions_of(alice.id)
    first.up = False  # Alice's acks are lost: the server never learns she had it
    hub.deliver(alice.id, message_to(alice, "m1", bob), store_offline=True)
    first.pump(clock.t)
    assert first.received("m1") == 1
    assert [x for x in first.session.conn.unacked_stanzas() if 'id="m1"' in x]
    cut(first, clock.t)
    assert len(hub.detached) == 1
    # Too late: the session expires and its unacked message goes offline ...
    clock.t += 61
    hub.expire_detached()
    assert store.offline_count(alice.id) == 1
    # ... but the resume attempt carries h=1: she had it, so it is dropped, not resent.
    resume = first.client.resume_state()
    assert resume is not None
    second = open_wire(hub, alice, clock, resume=resume)
    assert store.offline_count(alice.id) == 0
    assert hub.sessions_of(alice.id)  # bound afresh
    assert second.received("m1") == 0


def test_unhandled_message_still_comes_after_a_late_resume() -> None:
    hub, store, clock, alice, bob = setup()
    first = open_wire(hub, alice, clock)
    cut(first, clock.t)
    # Routed while detached, never sent: kept with the session, then offline.
    hub.deliver(alice.id, message_to(alice, "m2", bob), store_offline=True)
    clock.t += 61
    hub.expire_detached()
    resume = first.client.resume_state()
    second = open_wire(hub, alice, clock, resume=resume)
    assert second.received("m2") == 1
    assert store.offline_count(alice.id) == 0


def test_timely_resume_resends_without_offline_copy() -> None:
    hub, store, clock, alice, bob = setup()
    first = open_wire(hub, alice, clock)
    first.up = False
    hub.deliver(alice.id, message_to(alice, "m3", bob), store_offline=True)
    first.pump(clock.t)
    cut(first, clock.t)
    hub.deliver(alice.id, message_to(alice, "m4", bob), store_offline=True)
    clock.t += 5
    second = open_wire(hub, alice, clock, resume=first.client.resume_state())
    assert store.offline_count(alice.id) == 0
    # m3 she had (h covers it: not resent); m4 comes with the resumed session.
    assert (first.received("m3"), second.received("m3"), second.received("m4")) == (1, 0, 1)


def test_offline_storage_keeps_one_copy_per_message_id() -> None:
    _hub, store, _clock, alice, bob = setup()
    xml = message_to(alice, "m5", bob)
    assert store.add_offline(alice.id, xml, message_id="m5")
    assert not store.add_offline(alice.id, xml, message_id="m5")
    assert store.offline_count(alice.id) == 1
