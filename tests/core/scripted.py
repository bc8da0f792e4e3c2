"""Helpers for driving a ClientConnection in tests: deterministic entropy and clock, a
scripted server built from real server answers, and event collection.

Nothing here is a mock of the code under test: the server side is made of the bytes a
real server sends (ejabberd's shapes), and SCRAM's server role is scramp's real
implementation, so a wrong client proof or a wrong server signature really fails.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from scramp import ScramMechanism

from cubeproto import ConnectionClosed, Event
from cubeproto._connection import ClientConnection
from cubeproto._state import StreamState
from cubeproto._xmlstream import escape_text
from cubeproto.commands import OutboundStanza, StanzaCommand, StanzaContext
from cubeproto.config import ClientConfig, Transport

APP = 42
USER = 1001
PEER = 1002
HOST = "localhost"
JID = f"{USER}-{APP}@{HOST}/res1"
PASSWORD = "pw-1001"

STREAM_HEADER = (
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='localhost' "
    "version='1.0' xml:lang='en'>"
)
FEATURES_TLS = (
    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
    "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>"
    "<mechanism>SCRAM-SHA-1</mechanism><mechanism>SCRAM-SHA-256</mechanism></mechanisms>"
    "</stream:features>"
)
FEATURES_SASL = (
    "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
    "<mechanism>PLAIN</mechanism><mechanism>SCRAM-SHA-1</mechanism>"
    "<mechanism>SCRAM-SHA-256</mechanism></mechanisms></stream:features>"
)
FEATURES_BIND = (
    "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
    "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>"
    "<sm xmlns='urn:xmpp:sm:2'/><sm xmlns='urn:xmpp:sm:3'/><csi xmlns='urn:xmpp:csi:0'/>"
    "</stream:features>"
)


def entropy(seed: int = 7) -> Any:
    rng = random.Random(seed)
    return rng.randbytes


def wall_clock() -> float:
    return 1_700_000_000.0


def config(**overrides: Any) -> ClientConfig:
    base: dict[str, Any] = dict(
        app_id=APP,
        user_id=USER,
        password=PASSWORD,
        chat_host=HOST,
        entropy=entropy(),
        wall_clock=wall_clock,
        transport=Transport.DIRECT_TLS,
        # Timer assertions elsewhere are about one deadline at a time; the idle release of
        # the parser has its own tests (test_iq_ping_keepalive.py).
        release_parser_when_idle=None,
    )
    base.update(overrides)
    return ClientConfig(**base)


def drain(conn: ClientConnection) -> list[Event]:
    events = []
    while (event := conn.next_event()) is not None:
        events.append(event)
    return events


def attr(xml: bytes, name: str) -> str:
    """The value of the first ``name="..."`` attribute in ``xml``."""
    text = xml.decode()
    marker = f'{name}="'
    start = text.index(marker) + len(marker)
    return text[start : text.index('"', start)]


@dataclass
class ScriptedServer:
    """Answers a client the way ejabberd does, one step at a time.

    Each method consumes what the client sent (``conn.data_to_send()``), checks it, and
    feeds the server's answer.  SCRAM is verified by scramp's server role.
    """

    conn: ClientConnection
    now: float = 0.0
    sent_log: list[bytes] = field(default_factory=list)

    def client_sent(self) -> bytes:
        data = self.conn.data_to_send()
        self.sent_log.append(data)
        return data

    def feed(self, text: str) -> None:
        self.conn.receive_data(text.encode(), now=self.now)

    def open_with(self, features: str) -> bytes:
        sent = self.client_sent()
        assert b"<stream:stream" in sent, sent
        self.feed(STREAM_HEADER + features)
        return sent

    def sasl_plain(self) -> None:
        sent = self.client_sent()
        assert b'mechanism="PLAIN"' in sent, sent
        payload = base64.b64decode(sent.split(b">")[1].split(b"<")[0])
        assert payload == f"\0{USER}-{APP}\0{PASSWORD}".encode()
        self.feed("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")

    def sasl_scram(self, mechanism: str = "SCRAM-SHA-256", *, tamper: bool = False) -> None:
        sent = self.client_sent()
        assert f'mechanism="{mechanism}"'.encode() in sent, sent
        client_first = base64.b64decode(sent.split(b">")[1].split(b"<")[0]).decode()
        m = ScramMechanism(mechanism)
        salt, stored, server_key, iterations = m.make_auth_info(PASSWORD, iteration_count=4096)
        server = m.make_server(lambda _u: (salt, stored, server_key, iterations))
        server.set_client_first(client_first)
        challenge = base64.b64encode(server.get_server_first().encode()).decode()
        self.feed(f"<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{challenge}</challenge>")
        sent = self.client_sent()
        client_final = base64.b64decode(sent.split(b">")[1].split(b"<")[0]).decode()
        server.set_client_final(client_final)  # raises if the client proof is wrong
        final = server.get_server_final()
        if tamper:
            final = "v=" + base64.b64encode(b"\0" * 32).decode()
        data = base64.b64encode(final.encode()).decode()
        self.feed(f"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{data}</success>")

    def bind(self, jid: str = JID) -> None:
        sent = self.client_sent()
        assert b"<bind" in sent, sent
        iq_id = attr(sent.split(b"<iq", 1)[1], "id")
        self.feed(
            f"<iq type='result' id='{iq_id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            f"<jid>{jid}</jid></bind></iq>"
        )

    def session_setup(self, *, sm: bool = True, resume: bool = True) -> bytes:
        sent = self.client_sent()
        if sm:
            assert b'<enable xmlns="urn:xmpp:sm:3"' in sent, sent
            res = " resume='true'" if resume else ""
            self.feed(f"<enabled xmlns='urn:xmpp:sm:3' id='smid-1'{res} max='300'/>")
        if b":enableCarbons" in sent:
            # ejabberd answers the carbons IQ with an empty result addressed to us.
            carbons_id = attr(sent[sent.index(b'<iq type="set"') :], "id")
            self.feed(f"<iq type='result' id='{carbons_id}' to='{JID}'/>")
        return sent

    def login(
        self, *, sm: bool = True, resume: bool = True, mechanism: str = "SCRAM-SHA-256"
    ) -> None:
        """Run a whole login on an encrypted (direct TLS) connection."""
        self.conn.start(now=self.now)
        self.open_with(FEATURES_SASL)
        if mechanism == "PLAIN":
            self.sasl_plain()
        else:
            self.sasl_scram(mechanism)
        self.open_with(FEATURES_BIND)
        self.bind()
        self.session_setup(sm=sm, resume=resume)


def logged_in(**overrides: Any) -> tuple[ClientConnection, ScriptedServer]:
    conn = ClientConnection(config(**overrides))
    server = ScriptedServer(conn)
    server.login()
    drain(conn)
    server.client_sent()
    return conn, server


def kinds(events: Iterable[Event]) -> list[str]:
    return [type(e).__name__ for e in events]


@dataclass(frozen=True, slots=True, kw_only=True)
class Say(StanzaCommand):
    """A minimal countable chat message (the chat layer has the real one)."""

    body: str

    def build(self, ctx: StanzaContext) -> OutboundStanza:
        mid = ctx.new_message_id()
        return OutboundStanza(
            xml=f'<message type="chat" id="{mid}" to="1002-42@localhost">'
            f"<body>{escape_text(self.body)}</body></message>",
            stanza_id=mid,
            countable=True,
        )


def drop_and_resume(
    conn: ClientConnection, server: ScriptedServer
) -> tuple[ClientConnection, ScriptedServer, bytes]:
    """Cut ``conn`` (EOF unless it already ended) and resume its session on a new
    connection up to the ``<resume/>`` it sends: (the new connection, its server, the
    ``<resume/>`` bytes)."""
    if conn.state is not StreamState.CLOSED:
        conn.receive_eof(now=5)
        closed = drain(conn)
        assert isinstance(closed[-1], ConnectionClosed) and closed[-1].resumable
    state = conn.resume_state()
    assert state is not None
    new = ClientConnection(config(), resume=state)
    new_server = ScriptedServer(new)
    new.start(now=6)
    new_server.open_with(FEATURES_SASL)
    new_server.sasl_scram()
    new_server.open_with(FEATURES_BIND)
    resume = new_server.client_sent()
    return new, new_server, resume
