"""The hub's dates come from the clock it is given, not from the machine's: a message's
``date_sent`` (on the wire and in history), the history record's moments and the dialog's
``updated``, an offline message's ``<delay/>`` stamp, and the REST API's dates.

The real client core, server connection, hub and store wired in memory (the harness of
test_sm_offline.py), on a clock set far from today's time, so that a date read from the
machine's clock could not pass.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from cubeproto.transports.localserver.hub import Hub
from cubeproto.transports.localserver.rest import RestApi
from cubeproto.transports.localserver.store import Store

from cubeproto.chat import MessageReceived
from cubeproto.chat.commands import SendMessage

from . import test_sm_offline as harness


def test_date_sent_and_history_dates_come_from_the_injected_clock() -> None:
    hub, store, clock, alice, bob = harness.setup()
    assert abs(clock.t - time.time()) > 10 * 365 * 86400  # far from the machine's clock
    alice_wire = harness.open_wire(hub, alice, clock)
    bob_wire = harness.open_wire(hub, bob, clock)
    sent_at = []
    for step in (0, 3600):
        clock.t += step
        sent_at.append(int(clock.t))
        alice_wire.client.send(SendMessage(to_user=bob.id, body=f"at {clock.t}"), now=clock.t)
        alice_wire.pump(clock.t)
        bob_wire.pump(clock.t)
    received = [e for e in bob_wire.events if isinstance(e, MessageReceived)]
    assert [e.extension.get("date_sent") for e in received] == [str(t) for t in sent_at]
    dialog = hub.private_dialog(alice, bob)
    history = store.messages(dialog["_id"])
    assert [m["date_sent"] for m in history] == sent_at
    assert [(m["created"], m["updated"]) for m in history] == [(t, t) for t in sent_at]
    assert store.dialog(dialog["_id"])["updated"] == sent_at[-1]  # type: ignore[index]


def test_offline_delay_stamp_comes_from_the_injected_clock() -> None:
    hub, store, clock, alice, bob = harness.setup()
    alice_wire = harness.open_wire(hub, alice, clock)
    alice_wire.client.send(SendMessage(to_user=bob.id, body="while you were out"), now=clock.t)
    alice_wire.pump(clock.t)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock.t))
    stored = store.take_offline(bob.id)
    assert len(stored) == 1
    assert f'stamp="{stamp}"' in stored[0]


def test_rest_dates_come_from_the_hub_clock(tmp_path: Path) -> None:
    hub, store, clock, _alice, bob = harness.setup()
    api = RestApi(store, hub, blob_dir=tmp_path, base_url="http://127.0.0.1:1")

    def call(method: str, target: str, body: dict[str, Any], token: str = "") -> Any:
        headers = {"cb-token": token} if token else {}
        response = api.handle(method, target, headers, json.dumps(body).encode())
        assert response.status in (200, 201), response.body
        return json.loads(response.body)

    session = call(
        "POST",
        "/session.json",
        {
            "application_id": 7,
            "auth_key": "key",
            "user": {"login": "alice", "password": "alice-pass"},
        },
    )["session"]
    assert session["ts"] == int(clock.t)
    clock.t += 90
    message = call(
        "POST",
        "/chat/Message.json",
        {"recipient_id": bob.id, "message": "over REST"},
        session["token"],
    )
    assert message["date_sent"] == int(clock.t)
    assert message["created_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock.t))


def test_what_the_hub_sends_arms_deadlines_on_the_connection_clock() -> None:
    """The server drives each connection on its own clock (the event loop's monotonic
    one), the hub writes dates on the wall clock: a stanza the hub sends must arm its
    connection's ack deadline on the connection's clock, or the deadline lands years away
    and a client that stops acknowledging is never cut."""
    store = Store()
    wall, loop = harness.Clock(), harness.Clock()
    loop.t = 50.0
    hub = Hub(store, domain=harness.DOMAIN, clock=wall, connection_clock=loop)
    store.create_app(7, "key")
    alice = store.create_user(7, "alice", "alice-pass")
    bob = store.create_user(7, "bob", "bob-pass")
    wire = harness.open_wire(hub, alice, loop)
    assert wire.session.conn.get_timer() is None
    wire.up = False  # Alice's acks are lost
    hub.deliver(alice.id, harness.message_to(alice, "m1", bob), store_offline=True)
    wire.pump(loop.t)
    assert wire.session.conn.get_timer() == loop.t + 60.0  # ServerConfig.ack_timeout
