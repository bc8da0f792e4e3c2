"""What a built stanza is travels with it (``OutboundStanza.kind``), not read back from its
bytes (issue 13): stream management counts a stanza by its stated kind, and WebSocket
framing (RFC 7395 3.3.3) qualifies a stanza with ``jabber:client`` right after its element
name, whatever follows.  A builder that does not state its kind still gets the bytes it
got before the field existed."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree
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
        # The start tag is read as XML writes it; each of these was misread by the
        # first-space heuristic before.
        ("<message type='chat' xmlns='jabber:client'/>", 0),  # single quotes
        ('<messages xmlns="urn:example:batch"/>', None),  # a nonza whose name starts so
        ("<iqx/>", None),
        ("<message note='say xmlns=\"x\"'/>", 8),  # xmlns= inside a value declares nothing
        ('<message\ta="x>y"><body>hi there</body></message>', 8),  # ">" inside a value
        ("<presence\n/>", 9),
        ('<message xmlns:x="urn:example:x"/>', 8),  # a prefix is not the default namespace
        ("<message type=chat/>", None),  # not XML
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


def test_an_unstated_nonza_named_like_a_stanza_is_not_counted() -> None:
    # Counting it made our handled count run ahead of the server's (which counts only
    # message, presence and iq), so an <a/> would acknowledge the wrong stanzas.
    conn, ws = _websocket_ready()
    sm = conn._sm
    assert sm is not None
    before = sm.outbound_h
    conn.send(Built(xml='<messages xmlns="urn:example:batch"/>'), now=1)
    ws.pump()
    assert ws.received[-1] == '<messages xmlns="urn:example:batch"/>'
    assert sm.outbound_h == before


def test_an_unstated_stanza_declaring_its_namespace_in_single_quotes_is_written_once() -> None:
    # Reading only xmlns="..." put a second xmlns attribute in it: not XML, and the
    # server ends the stream.
    conn, ws = _websocket_ready()
    xml = "<message type='chat' id='m1' xmlns='jabber:client'><body>x</body></message>"
    conn.send(Built(xml=xml, countable=True), now=1)
    ws.pump()
    sent = next(m for m in ws.received if m.startswith("<message"))
    assert sent == xml
    assert etree.fromstring(sent).tag == "{jabber:client}message"


_NAMES = st.sampled_from(["message", "presence", "iq", "messages", "iqx", "presences", "r"])
_SPACE = st.text(alphabet=" \t\n\r", min_size=1, max_size=3)
_VALUE = st.text(alphabet="ab <>/=xmlns'\"&;", max_size=12)


@st.composite
def _start_tags(draw: st.DrawFn) -> tuple[str, str, bool]:
    """A start tag as XML may write it: a name, attributes with either quote and any
    whitespace (values may hold what looks like markup), maybe ``xmlns=``, ``>`` or
    ``/>``.  Returns the XML, the name, and whether it declares its namespace."""
    name = draw(_NAMES)
    names = draw(st.lists(st.sampled_from(["id", "type", "to", "a", "xmlnsx"]), unique=True))
    declares = draw(st.booleans())
    if declares:
        names.insert(draw(st.integers(0, len(names))), "xmlns")
    tag = "<" + name
    for attr in names:
        value = "jabber:client" if attr == "xmlns" else draw(_VALUE)
        value = value.replace("&", "&amp;").replace("<", "&lt;")
        quote = "'" if '"' in value else draw(st.sampled_from(["'", '"']))
        value = value.replace(quote, "&quot;" if quote == '"' else "&apos;")
        around = draw(st.sampled_from(["=", " = ", "\n="]))
        tag += draw(_SPACE) + attr + around + quote + value + quote
    tag += draw(st.sampled_from(["", " ", "\n"]))
    if draw(st.booleans()):
        return tag + "/>", name, declares
    return tag + "><body>a b</body></" + name + ">", name, declares


@given(_start_tags())
def test_the_qualifier_goes_where_xml_allows_it(case: tuple[str, str, bool]) -> None:
    """Whatever the quoting and whitespace: a nonza is None; a stanza declaring its
    namespace is 0; any other stanza gets ``xmlns="jabber:client"`` where its name ends,
    and the result is XML of that namespace with the same attributes."""
    xml, name, declares = case
    end = read_stanza_name_end(xml)
    if name not in ("message", "presence", "iq"):
        assert end is None
        return
    if declares:
        assert end == 0
        return
    assert end == len(name) + 1
    qualified = xml[:end] + ' xmlns="jabber:client"' + xml[end:]
    parsed = etree.fromstring(qualified)
    assert parsed.tag == "{jabber:client}" + name
    assert dict(parsed.attrib) == dict(etree.fromstring(xml).attrib)
