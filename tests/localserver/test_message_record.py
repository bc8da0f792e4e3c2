"""A message stored from chat (``save_to_history``) and one created over REST
(``POST /chat/Message``) are the same kind of record: the same fields, the same defaults,
custom fields that never replace the record's own, and the same view in the API.

The real client core, server connection, hub, store and REST API, wired in memory (the
harness of test_sm_offline.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cubeproto.transports.localserver.rest import RestApi
from cubeproto.transports.localserver.store import MESSAGE_FIELDS

from cubeproto.chat.commands import SendMessage

from . import test_sm_offline as harness


def test_chat_and_rest_store_the_same_record(tmp_path: Path) -> None:
    hub, store, clock, alice, bob = harness.setup()
    api = RestApi(store, hub, blob_dir=tmp_path, base_url="http://127.0.0.1:1")
    alice_wire = harness.open_wire(hub, alice, clock)
    alice_wire.client.send(
        SendMessage(to_user=bob.id, body="from chat", extension={"colour": "blue"}),
        now=clock.t,
    )
    alice_wire.pump(clock.t)

    login = {"login": "alice", "password": "alice-pass"}
    answer = api.handle(
        "POST",
        "/session.json",
        {},
        json.dumps({"application_id": 7, "auth_key": "key", "user": login}).encode(),
    )
    token = json.loads(answer.body)["session"]["token"]
    # "date_sent" and "sender_id" are the record's own: a custom key may not replace them.
    body = {"recipient_id": bob.id, "message": "from REST", "colour": "red"}
    body |= {"date_sent": 1, "sender_id": 999}
    answer = api.handle(
        "POST", "/chat/Message.json", {"cb-token": token}, json.dumps(body).encode()
    )
    assert answer.status == 201, answer.body

    from_chat, from_rest = store.messages(hub.private_dialog(alice, bob)["_id"])
    assert (from_chat["message"], from_rest["message"]) == ("from chat", "from REST")
    assert set(from_chat) == set(from_rest) == MESSAGE_FIELDS | {"colour"}
    for record in (from_chat, from_rest):
        assert {k: record[k] for k in ("sender_id", "recipient_id", "date_sent")} == {
            "sender_id": alice.id,
            "recipient_id": bob.id,
            "date_sent": int(clock.t),
        }
        assert (record["read_ids"], record["delivered_ids"]) == ([alice.id], [alice.id])
        assert (record["views_count"], record["reactions"], record["hidden_for"]) == (0, {}, [])
    views: list[dict[str, Any]] = [api.message_json(m, alice) for m in (from_chat, from_rest)]
    assert set(views[0]) == set(views[1])
