"""The chat layer plugged into the real ClientConnection (logged in over a scripted,
ejabberd-shaped exchange): the StanzaHandler contract end to end."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "core"))

from scripted import APP, HOST, JID, PEER, USER, drain, logged_in

from cubeproto.chat import (
    ChatSession,
    DeliveryStatus,
    DeliveryStatusChanged,
    DialogJoined,
    GetLastActivity,
    JoinDialog,
    LastActivity,
    MessageReceived,
    SendMessage,
)
from cubeproto.events import MessageSent

DIALOG = "6507f0a1c2b3d4e5f6a7b8c9"


def _stanzas(data: bytes) -> list[etree._Element]:
    return list(etree.fromstring(b'<s xmlns="jabber:client">' + data + b"</s>"))


def test_end_to_end() -> None:
    conn, server = logged_in(handler_factory=ChatSession)
    events: list[Any] = []

    mid = conn.send(SendMessage(to_user=PEER, body="hi"), now=1)
    events += drain(conn)
    assert (
        DeliveryStatusChanged(message_id=mid, status=DeliveryStatus.QUEUED, previous=None) in events
    )
    server.client_sent()
    server.feed("<a xmlns='urn:xmpp:sm:3' h='3'/>")  # carbons IQ, presence, message
    events = drain(conn)
    assert MessageSent(message_id=mid) in events
    assert (
        DeliveryStatusChanged(
            message_id=mid, status=DeliveryStatus.SENT, previous=DeliveryStatus.QUEUED
        )
        in events
    )

    server.feed(
        f"<message from='{PEER}-{APP}@{HOST}/r' to='{JID}' type='chat' id='in1'>"
        f"<extraParams xmlns='jabber:client'><dialog_id>{DIALOG}</dialog_id></extraParams>"
        "<body>hello</body></message>"
    )
    received = [e for e in drain(conn) if isinstance(e, MessageReceived)]
    assert [(e.body, e.sender_id, e.dialog_id) for e in received] == [("hello", PEER, DIALOG)]
    (receipt,) = [s for s in _stanzas(server.client_sent()) if s.tag.endswith("message")]
    assert receipt[0].tag == "{urn:xmpp:chat-markers:0}received" and receipt[0].get("id") == "in1"
    assert receipt.get("to") == f"{PEER}-{APP}@{HOST}"

    iq_id = conn.send(GetLastActivity(user_id=PEER), now=2)
    server.client_sent()
    server.feed(
        f"<iq type='result' id='{iq_id}' from='{PEER}-{APP}@{HOST}' to='{JID}'>"
        "<query xmlns='jabber:iq:last' seconds='17'/></iq>"
    )
    assert LastActivity(user_id=PEER, seconds=17) in drain(conn)

    conn.send(JoinDialog(dialog_id=DIALOG), now=3)
    (presence,) = [s for s in _stanzas(server.client_sent()) if s.tag.endswith("presence")]
    assert presence.get("to") == f"{APP}_{DIALOG}@muc.{HOST}/{USER}"
    server.feed(
        f"<presence from='{APP}_{DIALOG}@muc.{HOST}/{USER}' to='{JID}' id='{presence.get('id')}'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' "
        "role='participant'/><status code='110'/></x></presence>"
    )
    assert DialogJoined(dialog_id=DIALOG) in drain(conn)
