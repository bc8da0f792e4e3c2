"""What a built stanza is travels with it (``OutboundStanza.kind``), not read back from its
bytes (issue 13): stream management counts a stanza by its stated kind, and WebSocket
framing (RFC 7395 3.3.3) qualifies a stanza with ``jabber:client`` right after its element
name, whatever follows.  A builder that does not state its kind still gets the bytes it
got before the field existed."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from scripted import JID, drain, logged_in
from test_websocket import OPEN, WsServer, _opened_websocket

from cubeproto import Connected
from cubeproto._connection import ClientConnection
from cubeproto._framing import read_stanza_name_end
from cubeproto.commands import OutboundStanza, StanzaCommand, StanzaContext, StanzaKind


@dataclass(frozen=True, slots=True, kw_only=True)
class Built(StanzaCommand):
    """Sends ``xml`` as it is, with or without a stated kind."""

    xml: str
    kind: StanzaKind | None = None
    countable: bool = False

    def build(self, ctx: StanzaContext) -> OutboundStanza:
        return OutboundStanza(
            xml=self.xml,
            kind=self.kind,
            stanza_id="m1" if self.countable else None,
            countable=self.countable,
        )


def _websocket_ready() -> tuple[ClientConnection, WsServer]:
    """A logged-in WebSocket connection with stream management enabled."""
    conn, ws = _opened_websocket()
    ws.send(
        "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"
        "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>"
        "</mechanisms></stream:features>"
    )
    ws.pump()
    ws.send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    ws.pump()
    ws.send(OPEN)
    ws.send(
        "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"
        "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><sm xmlns='urn:xmpp:sm:3'/>"
        "</stream:features>"
    )
    ws.pump()
    iq_id = ws.received[-1].split('id="')[1].split('"')[0]
    ws.send(
        f"<iq xmlns='jabber:client' type='result' id='{iq_id}'>"
        f"<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>{JID}</jid></bind></iq>"
    )
    ws.pump()
    ws.send("<enabled xmlns='urn:xmpp:sm:3' id='x' resume='true'/>")
    assert drain(conn)[-1] == Connected(jid=JID, resumed=False)
    return conn, ws


def test_websocket_qualifies_a_stated_stanza_right_after_its_name() -> None:
    # Whitespace after the element name and a space inside a value: reading the bytes
    # back (the first space) put the declaration inside the attribute value.
    conn, ws = _websocket_ready()
    xml = '<message\nid="a b" type="chat"><body>x</body></message>'
    conn.send(Built(xml=xml, kind="message"), now=1)
    ws.pump()
    assert ws.received[-1] == (
        '<message xmlns="jabber:client"\nid="a b" type="chat"><body>x</body></message>'
    )


def test_a_stated_nonza_is_written_as_it_is_and_not_counted() -> None:
    conn, ws = _websocket_ready()
    sm = conn._sm
    assert sm is not None
    before = sm.outbound_h
    conn.send(Built(xml='<inactive xmlns="urn:xmpp:csi:0"/>', kind="nonza"), now=1)
    ws.pump()
    assert ws.received[-1] == '<inactive xmlns="urn:xmpp:csi:0"/>'
    assert sm.outbound_h == before
    conn.send(Built(xml="<presence/>", kind="presence"), now=1)
    ws.pump()
    assert ws.received[-1] == '<presence xmlns="jabber:client"/>'
    assert sm.outbound_h == before + 1
    assert sm.unacked[-1].name_end == len("<presence")


@pytest.mark.parametrize(
    ("xml", "name_end"),
    [
        ('<message type="chat" id="m1" to="1002-42@localhost"><body>hi</body></message>', 8),
        ("<presence/>", 9),
        ('<iq type="get" id="q1"><query xmlns="jabber:iq:last"/></iq>', 3),
        ("<iq>", 3),
        ('<message xmlns="jabber:client" id="m2"/>', 0),
        ('<active xmlns="urn:xmpp:csi:0"/>', None),
    ],
)
def test_an_unstated_kind_is_read_from_the_xml(xml: str, name_end: int | None) -> None:
    # The reading kept for builders written before OutboundStanza.kind: where the
    # declaration goes, 0 for a stanza that declares its namespace, None for a nonza.
    assert read_stanza_name_end(xml) == name_end


def test_unstated_and_stated_builders_put_the_same_bytes_on_the_wire() -> None:
    xml = '<message type="chat" id="m1" to="1002-42@localhost"><body>hi</body></message>'
    wire = []
    for kind in (None, "message"):
        conn, ws = _websocket_ready()
        conn.send(Built(xml=xml, kind=kind, countable=True), now=1)  # type: ignore[arg-type]
        ws.pump()
        wire.append(next(m for m in ws.received if m.startswith("<message")))
        tcp, server = logged_in()
        tcp.send(Built(xml=xml, kind=kind, countable=True), now=1)  # type: ignore[arg-type]
        sent = server.client_sent().decode()
        wire.append(sent[: len(xml)])
        assert sent[len(xml) :] in ("", '<r xmlns="urn:xmpp:sm:3"/>')
    assert wire[0] == wire[2] == xml.replace("<message", '<message xmlns="jabber:client"', 1)
    assert wire[1] == wire[3] == xml
