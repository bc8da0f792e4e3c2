"""The ``ejabberd`` fixture gives a real, reachable server: checked with raw sockets.

Our own client does not exist yet, so these tests speak XMPP by hand with the standard
library (socket, ssl, xml.etree's pull parser) and wsproto for RFC 7395 WebSocket framing.
They prove the endpoints the fixture advertises (STARTTLS on c2s, direct TLS verified with
the throw-away CA, WebSocket at /ws) and that its helpers (fresh users, mutual roster,
rooms) change the server's state the way a client then sees it.
"""

from __future__ import annotations

import base64
import re
import socket
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import cast
from urllib.parse import urlsplit

import pytest
from ejabberd_server import AccountExists, CubeUser, Ejabberd
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    RejectConnection,
    Request,
    TextMessage,
)

STREAM_NS = "http://etherx.jabber.org/streams"
TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND_NS = "urn:ietf:params:xml:ns:xmpp-bind"
SM_NS = "urn:xmpp:sm:3"
FRAMING_NS = "urn:ietf:params:xml:ns:xmpp-framing"
ROSTER_NS = "jabber:iq:roster"
DISCO_INFO_NS = "http://jabber.org/protocol/disco#info"

#: Bound on every socket read, so a silent server fails the test instead of hanging it.
READ_TIMEOUT_S = 10.0


def q(ns: str, name: str) -> str:
    """ElementTree's ``{namespace}name`` form."""
    return f"{{{ns}}}{name}"


class RawStream:
    """A hand-driven XMPP client stream over a connected socket (plain or TLS).

    ``open`` sends a stream header and returns the ``<stream:features/>``; ``next_element``
    returns the next complete top-level element.  A new parser per header, as RFC 6120
    requires after STARTTLS and SASL.
    """

    def __init__(self, sock: socket.socket, domain: str) -> None:
        self.sock = sock
        self.domain = domain
        self.root: ET.Element | None = None
        self._parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start", "end"))
        self._depth = 0
        self._ready: list[ET.Element] = []

    def send(self, xml: str) -> None:
        self.sock.sendall(xml.encode("utf-8"))

    def open(self) -> ET.Element:
        self._parser = ET.XMLPullParser(events=("start", "end"))
        self._depth = 0
        self._ready = []
        self.root = None
        self.send(
            "<?xml version='1.0'?>"
            f"<stream:stream to='{self.domain}' version='1.0' xml:lang='en' "
            f"xmlns='jabber:client' xmlns:stream='{STREAM_NS}'>"
        )
        features = self.next_element()
        assert self.root is not None and self.root.tag == q(STREAM_NS, "stream")
        assert features.tag == q(STREAM_NS, "features"), ET.tostring(features)
        return features

    def next_element(self) -> ET.Element:
        while not self._ready:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed the stream")
            self._parser.feed(data)
            # "start"/"end" events always come as (event, Element) pairs
            events = cast("Iterator[tuple[str, ET.Element]]", self._parser.read_events())
            for event, element in events:
                if event == "start":
                    if self._depth == 0:
                        self.root = element
                    self._depth += 1
                else:
                    self._depth -= 1
                    if self._depth == 1:
                        self._ready.append(element)
        return self._ready.pop(0)


def connect_direct_tls(server: Ejabberd) -> ssl.SSLSocket:
    raw = socket.create_connection((server.host, server.c2s_tls_port), timeout=READ_TIMEOUT_S)
    return server.ssl_context().wrap_socket(raw, server_hostname=server.domain)


def mechanisms(features: ET.Element) -> set[str]:
    return {m.text or "" for m in features.iter(q(SASL_NS, "mechanism"))}


def authenticate(stream: RawStream, username: str, password: str) -> ET.Element:
    """SASL PLAIN; returns the server's ``<success/>`` or ``<failure/>``."""
    token = base64.b64encode(f"\0{username}\0{password}".encode()).decode("ascii")
    stream.send(f"<auth xmlns='{SASL_NS}' mechanism='PLAIN'>{token}</auth>")
    return stream.next_element()


def log_in(server: Ejabberd, user: CubeUser) -> RawStream:
    """Direct TLS, SASL PLAIN, stream restart and resource binding: a session ready for IQs."""
    stream = RawStream(connect_direct_tls(server), server.domain)
    stream.open()
    assert authenticate(stream, user.username, user.password).tag == q(SASL_NS, "success")
    features = stream.open()
    assert features.find(q(BIND_NS, "bind")) is not None
    stream.send(
        f"<iq type='set' id='bind1'><bind xmlns='{BIND_NS}'><resource>t</resource></bind></iq>"
    )
    bound = stream.next_element()
    assert bound.get("type") == "result", ET.tostring(bound)
    return stream


def iq_get(stream: RawStream, to: str | None, payload: str, iq_id: str) -> ET.Element:
    """Send an IQ get and return its answer (skipping anything else the server pushes)."""
    to_attr = f" to='{to}'" if to else ""
    stream.send(f"<iq type='get' id='{iq_id}'{to_attr}>{payload}</iq>")
    while True:
        element = stream.next_element()
        if element.tag == q("jabber:client", "iq") and element.get("id") == iq_id:
            return element


@pytest.fixture
def user(ejabberd_user: Callable[[], CubeUser]) -> CubeUser:
    return ejabberd_user()


def test_c2s_offers_starttls_and_the_upgrade_verifies(ejabberd: Ejabberd) -> None:
    with socket.create_connection((ejabberd.host, ejabberd.c2s_port), READ_TIMEOUT_S) as sock:
        stream = RawStream(sock, ejabberd.domain)
        features = stream.open()
        assert stream.root is not None and stream.root.get("from") == ejabberd.domain
        assert features.find(q(TLS_NS, "starttls")) is not None

        stream.send(f"<starttls xmlns='{TLS_NS}'/>")
        assert stream.next_element().tag == q(TLS_NS, "proceed")
        with ejabberd.ssl_context().wrap_socket(sock, server_hostname=ejabberd.domain) as tls:
            secured = RawStream(tls, ejabberd.domain)
            features = secured.open()
            assert features.find(q(TLS_NS, "starttls")) is None
            assert "SCRAM-SHA-1" in mechanisms(features)


def test_direct_tls_verifies_with_the_test_ca(ejabberd: Ejabberd) -> None:
    with connect_direct_tls(ejabberd) as tls:
        assert tls.version() in {"TLSv1.2", "TLSv1.3"}
        cert = tls.getpeercert()
        assert cert is not None
        assert ("DNS", ejabberd.domain) in cert.get("subjectAltName", ())
        features = RawStream(tls, ejabberd.domain).open()
        assert {"SCRAM-SHA-1", "PLAIN"} <= mechanisms(features)


@pytest.mark.parametrize("trust", ["system CAs", "wrong host name"])
def test_direct_tls_refuses_what_it_should_not_trust(ejabberd: Ejabberd, trust: str) -> None:
    if trust == "system CAs":
        context, name = ssl.create_default_context(), ejabberd.domain
    else:
        context, name = ejabberd.ssl_context(), "not-the-server.example"
    raw = socket.create_connection((ejabberd.host, ejabberd.c2s_tls_port), READ_TIMEOUT_S)
    with raw, pytest.raises(ssl.SSLCertVerificationError):
        context.wrap_socket(raw, server_hostname=name)


def ws_frames(sock: socket.socket, ws: WSConnection) -> Iterator[object]:
    """Yield wsproto events as bytes arrive (whole text messages only)."""
    pending = ""
    while True:
        data = sock.recv(65536)
        if not data:
            return
        ws.receive_data(data)
        for event in ws.events():
            if isinstance(event, TextMessage):
                pending += event.data
                if event.message_finished:
                    yield TextMessage(data=pending)
                    pending = ""
            else:
                yield event


def test_websocket_endpoint_speaks_rfc7395(ejabberd: Ejabberd) -> None:
    url = urlsplit(ejabberd.ws_url)
    assert url.scheme == "ws" and url.hostname and url.port
    with socket.create_connection((url.hostname, url.port), READ_TIMEOUT_S) as sock:
        ws = WSConnection(ConnectionType.CLIENT)
        sock.sendall(
            ws.send(
                Request(host=f"{url.hostname}:{url.port}", target=url.path, subprotocols=["xmpp"])
            )
        )
        events = ws_frames(sock, ws)
        accepted = next(events)
        assert not isinstance(accepted, RejectConnection)
        assert isinstance(accepted, AcceptConnection) and accepted.subprotocol == "xmpp"

        sock.sendall(
            ws.send(
                TextMessage(
                    data=f"<open xmlns='{FRAMING_NS}' to='{ejabberd.domain}' version='1.0'/>"
                )
            )
        )
        frames: list[ET.Element] = []
        for event in events:
            assert isinstance(event, TextMessage), event
            frames.append(ET.fromstring(event.data))
            if len(frames) == 2:
                break
        opened, features = frames
        assert opened.tag == q(FRAMING_NS, "open") and opened.get("from") == ejabberd.domain
        assert features.tag == q(STREAM_NS, "features")
        assert "SCRAM-SHA-1" in mechanisms(features)
        sock.sendall(ws.send(CloseConnection(code=1000)))


def test_user_factory_gives_fresh_connectycube_accounts(
    ejabberd: Ejabberd, ejabberd_user: Callable[[], CubeUser]
) -> None:
    first, second = ejabberd_user(), ejabberd_user()
    assert first.user_id != second.user_id
    for made in (first, second):
        assert re.fullmatch(r"\d+-42", made.username)
        assert made.jid == f"{made.username}@{ejabberd.domain}"
    with pytest.raises(AccountExists):
        ejabberd.register(first.username, "another password")


@pytest.mark.parametrize("right_password", [True, False])
def test_registered_user_logs_in_with_its_password_only(
    ejabberd: Ejabberd, user: CubeUser, right_password: bool
) -> None:
    password = user.password if right_password else user.password + "x"
    with connect_direct_tls(ejabberd) as tls:
        stream = RawStream(tls, ejabberd.domain)
        stream.open()
        answer = authenticate(stream, user.username, password)
    expected = "success" if right_password else "failure"
    assert answer.tag == q(SASL_NS, expected), ET.tostring(answer)


def test_add_roster_both_gives_each_a_mutual_subscription(
    ejabberd: Ejabberd, ejabberd_user: Callable[[], CubeUser]
) -> None:
    a, b = ejabberd_user(), ejabberd_user()
    ejabberd.add_roster_both(a, b)
    for owner, contact in ((a, b), (b, a)):
        stream = log_in(ejabberd, owner)
        with stream.sock:
            roster = iq_get(stream, None, f"<query xmlns='{ROSTER_NS}'/>", "roster1")
        items = {
            item.get("jid"): item.get("subscription") for item in roster.iter(q(ROSTER_NS, "item"))
        }
        assert items == {contact.jid: "both"}


def test_create_room_makes_a_joinable_conference(
    ejabberd: Ejabberd, user: CubeUser, ejabberd_room_name: Callable[[], str]
) -> None:
    missing = f"{ejabberd_room_name()}@{ejabberd.muc_domain}"
    room = ejabberd.create_room(ejabberd_room_name())
    assert room.endswith("@" + ejabberd.muc_domain)
    stream = log_in(ejabberd, user)
    with stream.sock:
        info = iq_get(stream, room, f"<query xmlns='{DISCO_INFO_NS}'/>", "info1")
        absent = iq_get(stream, missing, f"<query xmlns='{DISCO_INFO_NS}'/>", "info2")
    assert info.get("type") == "result", ET.tostring(info)
    categories = {i.get("category") for i in info.iter(q(DISCO_INFO_NS, "identity"))}
    assert categories == {"conference"}
    assert absent.get("type") == "error"
