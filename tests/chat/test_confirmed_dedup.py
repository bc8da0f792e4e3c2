"""Issue 12 item 1: with app-controlled acks, a message id counts as seen (duplicate
suppression) only once its stanza is confirmed handled, so the server's redelivery of
an unconfirmed message after a resumption is reported again -- in the same process
(ResumableSession) and in a new one (the JSON checkpoint)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "core"))

from scripted import FEATURES_BIND, FEATURES_SASL, JID, ScriptedServer, config, drain, logged_in

from cubeproto import Checkpoint, ClientConnection, ConnectionClosed
from cubeproto.chat import ChatSession, MessageReceived

DIALOG = "6507f0a1c2b3d4e5f6a7b8c9"


def chat(mid: str) -> str:
    return (
        f"<message from='1002-42@localhost/r' to='{JID}' type='chat' id='{mid}'>"
        f"<body>{mid}</body><extraParams xmlns='jabber:client'>"
        f"<dialog_id>{DIALOG}</dialog_id></extraParams></message>"
    )


def received(events: list[object]) -> list[str | None]:
    return [e.message_id for e in events if isinstance(e, MessageReceived)]


@pytest.mark.parametrize("via", ["resume_state", "json"])
def test_unconfirmed_redeliveries_are_reported_again_and_confirmed_ones_are_not(via: str) -> None:
    conn, server = logged_in(app_controlled_acks=True, handler_factory=ChatSession)
    server.feed(chat("m1"))
    assert received(drain(conn)) == ["m1"]
    conn.confirm_handled(now=1)  # m1 handled durably
    server.feed(chat("m2") + chat("m3"))
    assert received(drain(conn)) == ["m2", "m3"]  # taken, but never confirmed (a crash)
    server.feed(chat("m2"))  # a second copy on the same connection is still suppressed
    assert received(drain(conn)) == []
    conn.receive_eof(now=2)
    closed = drain(conn)[-1]
    assert isinstance(closed, ConnectionClosed) and closed.resumable
    if via == "json":
        text = conn.checkpoint().to_json()  # type: ignore[union-attr]
        resume: object = Checkpoint.from_json(text)
    else:
        resume = conn.resume_state()
    new = ClientConnection(
        config(app_controlled_acks=True, handler_factory=ChatSession),
        resume=resume,  # type: ignore[arg-type]
    )
    srv = ScriptedServer(new)
    new.start(now=3)
    srv.open_with(FEATURES_SASL)
    srv.sasl_scram()
    srv.open_with(FEATURES_BIND)
    # h counts the carbons result and m1 only: the confirmed stanzas.
    assert srv.client_sent() == b'<resume xmlns="urn:xmpp:sm:3" h="2" previd="smid-1"/>'
    srv.feed("<resumed xmlns='urn:xmpp:sm:3' h='2' previd='smid-1'/>")
    drain(new)
    srv.feed(chat("m2") + chat("m3"))  # ejabberd resends what we never acknowledged
    # Fails before issue 12: the dedup window carried over had m2 and m3 and swallowed them.
    assert received(drain(new)) == ["m2", "m3"]
    srv.feed(chat("m1"))  # a confirmed one comes again (e.g. an offline replay)
    assert received(drain(new)) == []
    new.confirm_handled(now=4)
    srv.feed(chat("m3"))
    assert received(drain(new)) == []
