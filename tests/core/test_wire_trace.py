"""ClientConfig.wire_trace: the core tells the trace every piece of the XML stream, both
ways, over TCP and over WebSocket (after deframing), and WireRedactor hides the password
that the SASL exchange carries."""

from __future__ import annotations

import base64

from scripted import FEATURES_BIND, FEATURES_SASL, PASSWORD, ScriptedServer, config, drain
from test_websocket import OPEN, WsServer

from cubeproto import ClientConnection, Connected, Transport
from cubeproto.diagnostics import REDACTED, WireRedactor


class Recorder:
    """The trace: every piece, in order, with its direction."""

    def __init__(self) -> None:
        self.pieces: list[tuple[str, bytes]] = []

    def __call__(self, direction: str, data: bytes) -> None:
        self.pieces.append((direction, data))

    def joined(self, direction: str) -> bytes:
        return b"".join(data for d, data in self.pieces if d == direction)

    def redacted(self) -> str:
        streams = {"in": WireRedactor(), "out": WireRedactor()}
        text = "".join(streams[d].feed(data) for d, data in self.pieces)
        return text + streams["in"].flush() + streams["out"].flush()


def plain_secret() -> str:
    return base64.b64encode(f"\0{1001}-{42}\0{PASSWORD}".encode()).decode()


def test_tcp_trace_is_every_byte_both_ways() -> None:
    trace = Recorder()
    conn = ClientConnection(config(wire_trace=trace, mechanisms=("PLAIN",)))
    server = ScriptedServer(conn)
    conn.start(now=0)
    server.open_with(FEATURES_SASL)
    server.sasl_plain()
    server.open_with(FEATURES_BIND)
    server.bind()
    server.session_setup()
    assert isinstance(drain(conn)[-1], Connected)
    server.client_sent()
    conn.close(now=1)
    server.client_sent()
    # Over TCP the XML is the bytes: what was traced is exactly what went each way.
    assert trace.joined("out") == b"".join(server.sent_log)
    fed = trace.joined("in")
    assert fed.startswith(b"<?xml") and b"<success" in fed and b"<enabled" in fed
    assert plain_secret().encode() in trace.joined("out")  # unredacted, as documented
    shown = trace.redacted()
    assert plain_secret() not in shown and PASSWORD not in shown
    assert f'mechanism="PLAIN">{REDACTED}</auth>' in shown
    assert "</stream:stream>" in shown and "<bind" in shown


def test_websocket_trace_is_the_xml_not_the_frames() -> None:
    trace = Recorder()
    conn = ClientConnection(
        config(
            transport=Transport.WEBSOCKET,
            require_tls=False,
            allow_plain_unencrypted=True,
            mechanisms=("PLAIN",),
            wire_trace=trace,
        )
    )
    ws = WsServer(conn)
    conn.start(now=0)
    ws.pump()
    ws.pump()
    ws.send(OPEN)
    ws.send(
        "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"
        "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>"
        "</mechanisms></stream:features>"
    )
    ws.pump()
    ws.send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    ws.pump()
    # Outbound pieces are the WebSocket messages' text, one per message (no frame bytes,
    # no masking); inbound likewise.
    assert [data.decode() for d, data in trace.pieces if d == "out"] == ws.received
    inbound = [data for d, data in trace.pieces if d == "in"]
    assert inbound[0] == OPEN.encode() and inbound[-1].startswith(b"<success")
    shown = trace.redacted()
    assert plain_secret() not in shown and REDACTED in shown


def test_no_trace_by_default() -> None:
    conn = ClientConnection(config())
    assert conn._framing.trace is None
