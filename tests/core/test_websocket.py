"""RFC 7395 framing: the core performs the HTTP upgrade with wsproto; the peer here is
wsproto's real server role, so both ends of the WebSocket protocol are real code."""

from __future__ import annotations

import base64

import pytest
from scripted import APP, JID, PASSWORD, USER, config, drain
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Message, Request, TextMessage

from cubeproto import (
    Authenticated,
    CloseReason,
    Connected,
    ConnectionClosed,
    StreamErrorCondition,
)
from cubeproto._connection import ClientConnection
from cubeproto.config import Transport

OPEN = (
    "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='ws1' from='localhost' "
    "version='1.0' xml:lang='en'/>"
)


class WsServer:
    """Moves bytes between the client connection and a wsproto server connection."""

    def __init__(self, conn: ClientConnection, *, subprotocol: str | None = "xmpp") -> None:
        self.conn = conn
        self.ws = WSConnection(ConnectionType.SERVER)
        self.subprotocol = subprotocol
        self.received: list[str] = []
        #: Every chunk of bytes the client wrote (the HTTP upgrade is plain text).
        self.raw: list[bytes] = []
        self.closed = False

    def pump(self) -> None:
        """Client -> server: decode everything the client wrote."""
        data = self.conn.data_to_send()
        self.raw.append(data)
        self.ws.receive_data(data)
        partial: list[str] = []
        for event in self.ws.events():
            if isinstance(event, Request):
                assert event.subprotocols == ["xmpp"]
                assert event.target == "/ws"
                self.conn.receive_data(
                    self.ws.send(AcceptConnection(subprotocol=self.subprotocol)), now=0
                )
            elif isinstance(event, TextMessage):
                partial.append(event.data)
                if event.message_finished:
                    self.received.append("".join(partial))
                    partial.clear()
            elif isinstance(event, CloseConnection):
                self.closed = True

    def send(self, xml: str) -> None:
        self.conn.receive_data(self.ws.send(Message(data=xml)), now=0)


def test_websocket_login_one_element_per_message() -> None:
    conn = ClientConnection(
        config(
            transport=Transport.WEBSOCKET,
            require_tls=False,
            allow_plain_unencrypted=True,
            mechanisms=("PLAIN",),
        )
    )
    ws = WsServer(conn)
    conn.start(now=0)
    ws.pump()  # the HTTP upgrade, answered with 101
    ws.pump()  # the stream opening
    assert ws.received == [
        '<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="localhost" version="1.0"/>'
    ]
    ws.send(OPEN)
    ws.send(
        "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"
        "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>"
        "</mechanisms></stream:features>"
    )
    ws.pump()
    assert ws.received[-1].startswith('<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl"')
    ws.send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    ws.pump()
    assert ws.received[-1].startswith("<open ")
    ws.send(OPEN)
    ws.send(
        "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"
        "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><sm xmlns='urn:xmpp:sm:3'/>"
        "</stream:features>"
    )
    ws.pump()
    bind = ws.received[-1]
    iq_id = bind.split('id="')[1].split('"')[0]
    ws.send(
        f"<iq xmlns='jabber:client' type='result' id='{iq_id}'>"
        f"<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>{JID}</jid></bind></iq>"
    )
    ws.pump()
    # SM enable, carbons, presence: three separate WebSocket messages; the stanzas are
    # qualified by jabber:client (RFC 7395 section 3.3.3), the nonza keeps its own.
    assert ws.received[-3].startswith('<enable xmlns="urn:xmpp:sm:3"')
    assert ws.received[-2].startswith('<iq xmlns="jabber:client" type="set"')
    assert ws.received[-1] == '<presence xmlns="jabber:client"/>'
    ws.send("<enabled xmlns='urn:xmpp:sm:3' id='x' resume='true'/>")
    events = drain(conn)
    assert Authenticated(mechanism="PLAIN") in events
    assert events[-1] == Connected(jid=JID, resumed=False)
    # A server ping over WebSocket: the answer is one message.
    ws.send("<r xmlns='urn:xmpp:sm:3'/>")
    ws.pump()
    assert ws.received[-1] == '<a xmlns="urn:xmpp:sm:3" h="0"/>'
    # Closing: <close/> then the WebSocket closing handshake.
    conn.close(now=1)
    ws.pump()
    assert ws.received[-1] == '<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>'
    ws.send("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
    ws.pump()
    assert ws.closed
    assert drain(conn)[-1] == ConnectionClosed(reason=CloseReason.LOCAL, clean=True)
    # The password went only inside the SASL exchange: one message carries the PLAIN
    # credentials (base64, RFC 4616), and no other message nor the HTTP upgrade holds
    # the password, in clear or in that encoding.
    credentials = base64.b64encode(f"\0{USER}-{APP}\0{PASSWORD}".encode()).decode()
    carrying = [m for m in ws.received if credentials in m]
    assert carrying == [
        f'<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">{credentials}</auth>'
    ]
    others = [m for m in ws.received if m not in carrying]
    assert len(others) == len(ws.received) - 1
    assert not [m for m in ws.received if PASSWORD in m]
    encoded_password = base64.b64encode(PASSWORD.encode()).decode()[:-2]
    assert not [m for m in others if encoded_password in m]
    upgrade = ws.raw[0]
    assert upgrade.startswith(b"GET /ws HTTP/1.1\r\n")
    assert PASSWORD.encode() not in upgrade and credentials.encode() not in upgrade


def test_wrong_subprotocol_fails_cleanly() -> None:
    conn = ClientConnection(config(transport=Transport.WEBSOCKET, require_tls=False))
    ws = WsServer(conn, subprotocol=None)
    conn.start(now=0)
    ws.pump()
    (closed,) = drain(conn)
    assert isinstance(closed, ConnectionClosed)
    assert closed.reason is CloseReason.PROTOCOL_ERROR
    assert closed.condition is StreamErrorCondition.UNSUPPORTED_FEATURE


def test_http_rejection_fails_cleanly() -> None:
    conn = ClientConnection(config(transport=Transport.WEBSOCKET, require_tls=False))
    conn.start(now=0)
    conn.data_to_send()
    conn.receive_data(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n", now=0)
    (closed,) = drain(conn)
    assert isinstance(closed, ConnectionClosed)
    assert closed.condition is StreamErrorCondition.REMOTE_CONNECTION_FAILED


def _server_frame(payload: bytes) -> bytes:
    """One final, unmasked server-to-client text frame (RFC 6455 5.2), any payload."""
    assert len(payload) < 126
    return bytes([0x81, len(payload)]) + payload


def _opened_websocket() -> tuple[ClientConnection, WsServer]:
    conn = ClientConnection(
        config(
            transport=Transport.WEBSOCKET,
            require_tls=False,
            allow_plain_unencrypted=True,
            mechanisms=("PLAIN",),
        )
    )
    ws = WsServer(conn)
    conn.start(now=0)
    ws.pump()
    ws.pump()
    ws.send(OPEN)
    drain(conn)
    return conn, ws


@pytest.mark.parametrize(
    ("payload", "condition"),
    [
        # Issue 11: wsproto closes with 1007 and this used to be an ordinary remote close.
        (b"<message><body>\xff</body></message>", StreamErrorCondition.UNSUPPORTED_ENCODING),
        (b"<message><body>\xc0\xaf</body></message>", StreamErrorCondition.UNSUPPORTED_ENCODING),
        (
            b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>",
            StreamErrorCondition.BAD_FORMAT,
        ),
        (b"<message><foo:body>x</foo:body></message>", StreamErrorCondition.BAD_NAMESPACE_PREFIX),
    ],
)
def test_websocket_faults_are_typed_like_tcp(
    payload: bytes, condition: StreamErrorCondition
) -> None:
    conn, ws = _opened_websocket()
    conn.receive_data(_server_frame(payload), now=1)
    (closed,) = drain(conn)
    assert isinstance(closed, ConnectionClosed)
    assert closed.reason is CloseReason.PROTOCOL_ERROR
    assert closed.condition is condition
    assert closed.error is not None and closed.text
    ws.pump()
    assert f"<{condition.value} ".encode() in "".join(ws.received).encode()
