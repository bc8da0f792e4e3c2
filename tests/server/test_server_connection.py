"""The server role of the core, paired in memory with the real client role."""

from __future__ import annotations

import base64

import pytest
from hostile_cases import CASES as HOSTILE
from hostile_cases import FOLLOWER
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from scramp import ScramException, ScramMechanism

from cubeproto._server_connection import (
    ClientAuthenticated,
    ClientAuthFailed,
    ClientBound,
    ClientClosed,
    ClientResumed,
    ServerConfig,
    ServerConnection,
    ServerTransport,
    SmEnabled,
    StanzaReceived,
    StreamStarted,
    TlsRequested,
    UserAuth,
    check_plain_password,
    make_user_auth,
)
from cubeproto._server_state import ServerState
from cubeproto.commands import Ping
from cubeproto.config import Transport
from cubeproto.errors import LocalProtocolError, StreamErrorCondition
from cubeproto.events import (
    Authenticated,
    AuthenticationFailed,
    Connected,
    ConnectionClosed,
    MessageSent,
    PongReceived,
    StreamResumed,
    UnhandledStanza,
)

from .pair import (
    APP,
    DOMAIN,
    PASSWORD,
    USER,
    Pair,
    client_config,
    connect,
    of_type,
    server_config,
    user_auth,
)

MECHANISMS = ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]
HEADER = (
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
    b" to='localhost' version='1.0'>"
)


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_login_over_starttls(mechanism: str) -> None:
    pair = connect(client_config(mechanisms=(mechanism,)))
    assert of_type(pair.server_events, TlsRequested)
    assert pair.server.encrypted
    auth = of_type(pair.server_events, ClientAuthenticated)
    assert auth == [ClientAuthenticated(username=f"{USER}-{APP}", mechanism=mechanism)]
    assert of_type(pair.client_events, Authenticated)[0].mechanism == mechanism
    bound = of_type(pair.server_events, ClientBound)
    connected = of_type(pair.client_events, Connected)
    assert len(bound) == 1 and len(connected) == 1
    assert connected[0].jid == bound[0].jid == pair.server.jid
    assert bound[0].jid.startswith(f"{USER}-{APP}@{DOMAIN}/")
    assert pair.server.state is ServerState.READY
    # The SDK's session setup (carbons IQ, presence) reaches the application.
    kinds = [e.kind for e in of_type(pair.server_events, StanzaReceived)]
    assert kinds == ["iq", "presence"]


@pytest.mark.parametrize(
    "transport", [Transport.DIRECT_TLS, Transport.WEBSOCKET, Transport.SECURE_WEBSOCKET]
)
def test_login_over_other_transports(transport: Transport) -> None:
    extra = {"allow_plain_unencrypted": True} if transport is Transport.WEBSOCKET else {}
    pair = connect(client_config(transport=transport, require_tls=False, **extra))
    assert of_type(pair.client_events, Connected)
    assert not of_type(pair.server_events, TlsRequested)
    # SCRAM is preferred whatever the transport.
    assert of_type(pair.server_events, ClientAuthenticated)[0].mechanism == "SCRAM-SHA-256"


def test_scram_plus_with_channel_binding() -> None:
    binding = ("tls-server-end-point", b"\x01" * 32)
    cfg = client_config(transport=Transport.DIRECT_TLS)
    scfg = server_config(transport=ServerTransport.DIRECT_TLS)
    from cubeproto._connection import ClientConnection

    from .pair import Pair

    pair = Pair(ClientConnection(cfg), ServerConnection(scfg))
    pair.server.start(now=0.0, channel_binding=binding)
    pair.client.start(now=0.0, channel_binding=binding)
    pair.pump()
    assert of_type(pair.server_events, ClientAuthenticated)[0].mechanism == "SCRAM-SHA-256-PLUS"
    # A different binding on the client side (a man in the middle) must fail.
    pair2 = Pair(ClientConnection(cfg), ServerConnection(scfg))
    pair2.server.start(now=0.0, channel_binding=binding)
    pair2.client.start(now=0.0, channel_binding=("tls-server-end-point", b"\x02" * 32))
    pair2.pump()
    assert of_type(pair2.server_events, ClientAuthFailed)
    assert not of_type(pair2.client_events, Connected)


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_wrong_password_is_refused(mechanism: str) -> None:
    pair = connect(client_config(password="nope", mechanisms=(mechanism,)))
    failed = of_type(pair.server_events, ClientAuthFailed)
    assert len(failed) == 1 and failed[0].username == f"{USER}-{APP}"
    assert of_type(pair.client_events, AuthenticationFailed)[0].condition_name == "not-authorized"
    assert pair.server.username is None
    assert not of_type(pair.server_events, ClientBound)


def test_unknown_user_is_refused() -> None:
    pair = connect(client_config(user_id=99))
    assert of_type(pair.server_events, ClientAuthFailed)
    assert of_type(pair.client_events, AuthenticationFailed)


def test_session_token_works_as_plain_password() -> None:
    auth = make_user_auth(
        "pw", salt=b"salt-of-16-bytes", iterations=4096, tokens=frozenset({"tok123"})
    )
    assert check_plain_password(auth, "pw")
    assert check_plain_password(auth, "tok123")
    assert not check_plain_password(auth, "tok124")
    assert not check_plain_password(auth, "")
    with pytest.raises(LocalProtocolError):
        make_user_auth("pw", salt=b"short", iterations=4096)


def _with_tokens(tokens: frozenset[str]) -> ServerConfig:
    """A server whose user also holds live REST session tokens (the local server's
    ``authenticate`` returns them the same way)."""
    base = user_auth()
    auth = UserAuth(salt=base.salt, iterations=base.iterations, keys=base.keys, tokens=tokens)
    return server_config(authenticate=lambda name: auth if name == f"{USER}-{APP}" else None)


@pytest.mark.parametrize("mechanism", [*MECHANISMS, "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"])
def test_session_token_or_password_over_every_mechanism(mechanism: str) -> None:
    """Issue 16 item 5: a user with a password and two live tokens logs in with either
    token or the password over SCRAM (SHA-1, SHA-256, -PLUS) as over PLAIN; the client
    checks the server's signature, so the server proved it knew the secret that matched."""
    from cubeproto._connection import ClientConnection

    from .pair import Pair

    tokens = frozenset({"a" * 40, "b" * 40})
    binding = ("tls-server-end-point", b"\x01" * 32)
    plus = mechanism.endswith("-PLUS")
    transport = Transport.DIRECT_TLS if plus else Transport.TCP
    for secret in (*sorted(tokens), PASSWORD):
        scfg = server_config(
            authenticate=_with_tokens(tokens).authenticate,
            transport=ServerTransport.DIRECT_TLS if plus else ServerTransport.TCP,
        )
        pair = Pair(
            ClientConnection(
                client_config(password=secret, mechanisms=(mechanism,), transport=transport)
            ),
            ServerConnection(scfg),
        )
        pair.server.start(now=0.0, channel_binding=binding if plus else None)
        pair.client.start(now=0.0, channel_binding=binding if plus else None)
        pair.pump()
        assert of_type(pair.client_events, Authenticated)[0].mechanism == mechanism, secret
        assert of_type(pair.client_events, Connected)
    for wrong in ("c" * 40, "a" * 39, PASSWORD + "x"):
        pair = connect(
            client_config(password=wrong, mechanisms=(mechanism.removesuffix("-PLUS"),)),
            _with_tokens(tokens),
        )
        assert of_type(pair.client_events, AuthenticationFailed), wrong
        assert not of_type(pair.server_events, ClientAuthenticated)


_SECRET = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1)


@settings(max_examples=25, deadline=None)
@given(
    tokens=st.frozensets(_SECRET, max_size=3),
    offered=_SECRET,
    pick=st.integers(0, 4),
    mechanism=st.sampled_from(["SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN"]),
)
def test_property_a_login_succeeds_exactly_with_one_of_the_users_secrets(
    tokens: frozenset[str], offered: str, pick: int, mechanism: str
) -> None:
    """Whatever the user's tokens, a secret logs in exactly when it is the password or one
    of the tokens, over SCRAM as over PLAIN (a string SCRAM's SASLprep refuses cannot log
    in over SCRAM at all)."""
    secrets = [PASSWORD, *sorted(tokens)]
    secret = secrets[pick] if pick < len(secrets) else offered
    try:
        cfg = client_config(password=secret, mechanisms=(mechanism,))
        pair = connect(cfg, _with_tokens(tokens))
    except LocalProtocolError:
        return  # the client refuses to send it at all
    ok = bool(of_type(pair.client_events, Connected))
    if ok:
        assert secret in secrets
    elif secret in secrets:
        # Only a secret that SCRAM's SASLprep refuses may fail (no keys can exist for it).
        assert mechanism != "PLAIN"
        with pytest.raises((ScramException, ValueError, UnicodeError)):
            ScramMechanism(mechanism).make_auth_info(secret, iteration_count=4096, salt=b"s" * 16)


def test_scram_with_tokens_only_when_the_user_has_no_password_keys() -> None:
    """Tokens are candidates even when the password keys lack the exchange's hash."""
    base = user_auth()
    auth = UserAuth(
        salt=base.salt,
        iterations=base.iterations,
        keys={"SHA-256": base.keys["SHA-256"]},
        tokens=frozenset({"t" * 40}),
    )
    assert len(auth.scram_keys("SHA-1")) == 1 and len(auth.scram_keys("SHA-256")) == 2
    pair = connect(
        client_config(password="t" * 40, mechanisms=("SCRAM-SHA-1",)),
        server_config(authenticate=lambda name: auth),
    )
    assert of_type(pair.client_events, Connected)


def test_plain_not_offered_before_tls() -> None:
    server = ServerConnection(server_config(require_tls=False, starttls=False))
    server.start(now=0.0)
    server.receive_data(
        b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
        b"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>",
        now=0.0,
    )
    out = server.data_to_send()
    assert b"<mechanism>SCRAM-SHA-256</mechanism>" in out
    assert b"PLAIN" not in out
    # A client that tries PLAIN anyway gets invalid-mechanism, not a login.
    payload = base64.b64encode(b"\x00777-105\x00s3cret!").decode()
    server.receive_data(
        b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
        + payload.encode()
        + b"</auth>",
        now=0.0,
    )
    assert b"<invalid-mechanism/>" in server.data_to_send()
    assert server.username is None


def test_auth_before_starttls_when_required_is_a_policy_violation() -> None:
    server = ServerConnection(server_config())
    server.start(now=0.0)
    server.receive_data(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
        b" to='localhost' version='1.0'>"
        b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>biwsbj1h</auth>",
        now=0.0,
    )
    out = server.data_to_send()
    assert b"<starttls" in out and b"<required/>" in out
    assert b"policy-violation" in out
    closed = _closed(server)
    assert closed.condition is StreamErrorCondition.POLICY_VIOLATION


def _closed(server: ServerConnection) -> ClientClosed:
    events = []
    while (event := server.next_event()) is not None:
        events.append(event)
    closed = of_type(events, ClientClosed)
    assert len(closed) == 1 and events[-1] is closed[0]
    return closed[0]


def test_stanza_before_bind_is_not_authorized() -> None:
    server = ServerConnection(server_config(starttls=False, require_tls=False))
    server.start(now=0.0)
    server.receive_data(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
        b" to='localhost' version='1.0'><message to='78-105@localhost'><body>x</body></message>",
        now=0.0,
    )
    assert b"<not-authorized" in server.data_to_send()
    assert _closed(server).condition is StreamErrorCondition.NOT_AUTHORIZED


@pytest.mark.parametrize(
    ("data", "condition"),
    [
        (
            b"<stream:stream xmlns='jabber:client' xmlns:stream='x' version='1.0'>",
            StreamErrorCondition.INVALID_NAMESPACE,
        ),
        (b"<!DOCTYPE x [<!ENTITY a 'b'>]>", StreamErrorCondition.RESTRICTED_XML),
        (
            b"<stream:stream xmlns='jabber:client' "
            b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='other.host'>",
            StreamErrorCondition.HOST_UNKNOWN,
        ),
        (
            b"<stream:stream xmlns='jabber:client' "
            b"xmlns:stream='http://etherx.jabber.org/streams' version='2.0'>",
            StreamErrorCondition.UNSUPPORTED_VERSION,
        ),
        (
            b"<stream:stream xmlns='jabber:client' "
            # A stanza, not <a>: since issue 11 an <a> at depth 1 is refused at its start
            # tag (unsupported-stanza-type), before the mismatched end tag is seen.
            b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
            b"<message><b></message>",
            StreamErrorCondition.NOT_WELL_FORMED,
        ),
        (b"\xff\xfe<\x00", StreamErrorCondition.UNSUPPORTED_ENCODING),
    ],
)
def test_bad_input_ends_with_the_right_stream_error(
    data: bytes, condition: StreamErrorCondition
) -> None:
    server = ServerConnection(server_config())
    server.start(now=0.0)
    server.receive_data(data, now=0.0)
    out = server.data_to_send()
    assert f"<{condition.value} ".encode() in out
    assert out.endswith(b"</stream:stream>")
    closed = _closed(server)
    assert closed.condition is condition and closed.error is not None
    # Nothing more happens after the end.
    server.receive_data(b"<presence/>", now=1.0)
    assert server.data_to_send() == b"" and server.next_event() is None


def test_messages_flow_and_are_acked_both_ways() -> None:
    pair = connect()
    from cubeproto.chat import SendMessage

    pair.client.send(SendMessage(to_user=78, body="hello"), now=1.0)
    pair.pump()
    received = [e for e in of_type(pair.server_events, StanzaReceived) if e.kind == "message"]
    assert len(received) == 1
    element = received[0].element
    assert element.get("from") == pair.server.jid  # stamped by the server
    assert element.findtext("{jabber:client}body") == "hello"
    # The client's "sent" status is the server's ack.
    assert len(of_type(pair.client_events, MessageSent)) == 1
    # Server -> client: kept until acked, then released.
    pair.server.send_stanza(
        f'<message type="chat" id="m1" to="{pair.server.jid}" from="78-105@localhost">'
        "<body>hi back</body></message>",
        now=1.0,
    )
    assert pair.server.unacked_stanzas()
    pair.pump()
    assert pair.server.unacked_stanzas() == []
    raw = [e.raw for e in of_type(pair.client_events, UnhandledStanza)]
    assert any(b"hi back" in r for r in raw)


def test_ping_to_the_server_is_answered() -> None:
    pair = connect()
    pair.client.send(Ping(), now=2.0)
    pair.now = 2.5
    pair.pump()
    pongs = of_type(pair.client_events, PongReceived)
    assert len(pongs) == 1 and pongs[0].error is None
    assert not [e for e in of_type(pair.server_events, StanzaReceived) if e.kind == "iq"][1:]


def test_resumption_after_a_cut_resends_what_was_not_acked() -> None:
    pair = connect()
    assert of_type(pair.server_events, SmEnabled)[0].resume_id is not None
    # The server sends two messages; the connection drops before the client reads them.
    for n in (1, 2):
        pair.server.send_stanza(
            f'<message type="chat" id="lost{n}" to="{pair.server.jid}" from="78-105@localhost">'
            f"<body>while cut {n}</body></message>",
            now=3.0,
        )
    pair.server.data_to_send()  # written to a socket that is already dead
    pair.server.receive_eof(now=3.0)
    closed = _closed(pair.server)
    assert closed.resumable
    detached = pair.server.detach()
    assert detached is not None and len(detached.unacked) == 2
    pair.client.receive_eof(now=3.0)
    pair.pump()
    resume_state = pair.client.resume_state()
    assert resume_state is not None
    # A new connection resumes: same JID, the two messages arrive, no new bind.
    pair2 = connect(resume=resume_state, registry={detached.resume_id: detached})
    resumed = of_type(pair2.server_events, ClientResumed)
    assert resumed == [ClientResumed(jid=detached.jid, previd=detached.resume_id, resent=2)]
    assert not of_type(pair2.server_events, ClientBound)
    assert of_type(pair2.client_events, StreamResumed)
    raw = b"".join(e.raw for e in of_type(pair2.client_events, UnhandledStanza))
    assert b"while cut 1" in raw and b"while cut 2" in raw
    assert pair2.server.unacked_stanzas() == []


def test_resume_of_an_unknown_session_fails_and_the_client_binds() -> None:
    pair = connect()
    pair.server.receive_eof(now=1.0)
    pair.client.receive_eof(now=1.0)
    state = pair.client.resume_state()
    assert state is not None
    pair2 = connect(resume=state, registry={})
    assert of_type(pair2.server_events, ClientBound)
    assert not of_type(pair2.server_events, ClientResumed)
    assert of_type(pair2.client_events, Connected)


def test_clean_close_is_not_resumable() -> None:
    pair = connect()
    pair.client.close(now=1.0)
    pair.pump()
    closed = [e for e in pair.server_events if isinstance(e, ClientClosed)]
    assert closed == [ClientClosed(clean=True)]
    assert pair.server.detach() is None
    assert of_type(pair.client_events, ConnectionClosed)[0].clean


def test_server_close_and_stream_error() -> None:
    pair = connect()
    pair.server.stream_error(StreamErrorCondition.CONFLICT, "replaced", now=1.0)
    pair.pump()
    closed = of_type(pair.client_events, ConnectionClosed)
    assert closed[0].condition is StreamErrorCondition.CONFLICT
    with pytest.raises(LocalProtocolError):
        pair.server.send_stanza("<message/>", now=1.0)


def test_negotiation_timeout() -> None:
    server = ServerConnection(server_config(negotiation_timeout=5.0))
    server.start(now=0.0)
    assert server.get_timer() == 5.0
    server.handle_timer(now=4.0)
    assert server.next_event() is None
    server.handle_timer(now=5.0)
    assert b"connection-timeout" in server.data_to_send()
    assert _closed(server).condition is StreamErrorCondition.CONNECTION_TIMEOUT


def test_too_high_ack_is_a_stream_error() -> None:
    pair = connect()
    for i in range(2):  # two stanzas the client has not acknowledged yet
        pair.server.send_stanza(
            f'<message type="chat" id="s{i}" to="{pair.server.jid}"><body>b</body></message>',
            now=1.0,
        )
    pair.server.data_to_send()
    pair.server.receive_data(b"<a xmlns='urn:xmpp:sm:3' h='7'/>", now=1.0)
    out = pair.server.data_to_send()
    assert b'<handled-count-too-high xmlns="urn:xmpp:sm:3" h="7" send-count="2"/>' in out
    assert _closed(pair.server).condition is StreamErrorCondition.UNDEFINED_CONDITION


def test_websocket_upgrade_needs_the_xmpp_subprotocol() -> None:
    server = ServerConnection(server_config(transport=ServerTransport.WEBSOCKET))
    server.start(now=0.0)
    server.receive_data(
        b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        now=0.0,
    )
    assert server.data_to_send().startswith(b"HTTP/1.1 400")
    assert _closed(server).condition is StreamErrorCondition.UNSUPPORTED_FEATURE


def test_stream_started_reports_restarts() -> None:
    pair = connect()
    started = of_type(pair.server_events, StreamStarted)
    # header, after TLS, after SASL
    assert [s.restart for s in started] == [False, True, True]
    # What StanzaReceived carries after the last restart: the session setup's stanzas
    # as lxml elements, detached from the stream, ``from`` stamped with the bound JID.
    received = of_type(pair.server_events, StanzaReceived)
    elements = [e.element for e in received]
    assert all(isinstance(element, etree._Element) for element in elements)
    assert [element.tag for element in elements] == ["{jabber:client}iq", "{jabber:client}presence"]
    assert [element.getparent() for element in elements] == [None, None]
    assert [element.get("from") for element in elements] == [pair.server.jid] * 2
    assert elements[0].get("type") == "set"
    assert elements[0].find("{urn:xmpp:carbons:2}enable") is not None


@settings(max_examples=200, deadline=None)
@given(
    chunks=st.lists(st.binary(max_size=80), max_size=6),
    websocket=st.booleans(),
    prefix=st.sampled_from([b"", HEADER]),
)
def test_arbitrary_client_bytes_never_raise(
    chunks: list[bytes], websocket: bool, prefix: bytes
) -> None:
    transport = ServerTransport.WEBSOCKET if websocket else ServerTransport.TCP
    server = ServerConnection(server_config(transport=transport, require_tls=False))
    server.start(now=0.0)
    for chunk in [prefix, *chunks]:
        server.receive_data(chunk, now=1.0)
        server.data_to_send()
    server.receive_eof(now=2.0)
    while (deadline := server.get_timer()) is not None:
        server.handle_timer(now=deadline)
    assert server.state is ServerState.CLOSED
    _closed(server)


def test_stanzas_with_hostile_names_are_handled() -> None:
    pair = connect()
    pair.server.receive_data(b"<x:auth xmlns:x='a}b'/>", now=1.0)
    assert b"unsupported-stanza-type" in pair.server.data_to_send()


def _send_one(pair: Pair, n: int, now: float) -> None:
    pair.server.send_stanza(
        f'<message type="chat" id="m{n}" to="{pair.server.jid}" from="78-105@localhost">'
        f"<body>n{n}</body></message>",
        now=now,
    )


def test_an_unanswered_ack_request_ends_the_connection_as_resumable() -> None:
    pair = connect(server_cfg=server_config(ack_timeout=5.0))
    _send_one(pair, 1, now=10.0)
    pair.server.data_to_send()  # the client never reads it (a dead peer)
    assert pair.server.get_timer() == 15.0
    pair.server.handle_timer(now=14.9)
    assert pair.server.state is not ServerState.CLOSED
    pair.server.handle_timer(now=15.0)
    closed = _closed(pair.server)
    assert closed.resumable and closed.condition is StreamErrorCondition.CONNECTION_TIMEOUT
    detached = pair.server.detach()
    assert detached is not None and [u.message_id for u in detached.unacked] == [None]
    (item,) = detached.unacked
    assert item.xml.startswith('<message type="chat" id="m1"')


def test_acks_that_make_progress_restart_the_wait_and_a_full_ack_stops_it() -> None:
    pair = connect(server_cfg=server_config(ack_timeout=5.0))
    _send_one(pair, 1, now=10.0)
    pair.now = 12.0
    pair.pump()  # the client acks m1
    assert pair.server.unacked_stanzas() == []
    assert pair.server.get_timer() is None
    _send_one(pair, 2, now=20.0)
    assert pair.server.get_timer() == 25.0
    pair.server.handle_timer(now=30.0)
    assert _closed(pair.server).resumable


def test_no_ack_timeout_when_disabled() -> None:
    pair = connect(server_cfg=server_config(ack_timeout=None))
    _send_one(pair, 1, now=10.0)
    pair.server.data_to_send()
    assert pair.server.get_timer() is None


# --- issue 11: the same holes against the server role -----------------------------------


@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.parametrize("chunk", [1 << 16, 7])
def test_issue_11_hole_ends_the_stream_at_once(name: str, chunk: int) -> None:
    data, condition = HOSTILE[name]
    pair = connect()
    pair.server_events.clear()
    wire = data + FOLLOWER
    for start in range(0, len(wire), chunk):
        pair.server.receive_data(wire[start : start + chunk], now=1.0)
    out = pair.server.data_to_send()
    assert f"<{condition.value} ".encode() in out
    closed = _closed(pair.server)  # also: the only event, nothing of the follower
    assert closed.condition is condition, closed


def _masked_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One final client-to-server WebSocket frame (RFC 6455 5.2), masked, any payload."""
    mask = b"\x01\x02\x03\x04"
    size = len(payload)
    head = bytes([0x80 | opcode])
    if size < 126:
        head += bytes([0x80 | size])
    else:
        head += bytes([0x80 | 126]) + size.to_bytes(2, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@pytest.mark.parametrize(
    ("payload", "condition"),
    [
        # wsproto closes with 1007; it used to be reported as an ordinary remote close.
        (b"<message><body>\xff\xfe</body></message>", StreamErrorCondition.UNSUPPORTED_ENCODING),
        (
            b"<message><body>\xed\xa0\x80</body></message>",
            StreamErrorCondition.UNSUPPORTED_ENCODING,
        ),
        (
            b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>",
            StreamErrorCondition.BAD_FORMAT,
        ),
        (b"<pubsub xmlns='jabber:client'/>", StreamErrorCondition.UNSUPPORTED_STANZA_TYPE),
        (b"<message><foo:body>x</foo:body></message>", StreamErrorCondition.BAD_NAMESPACE_PREFIX),
    ],
)
def test_websocket_faults_are_typed(payload: bytes, condition: StreamErrorCondition) -> None:
    pair = connect(
        client_config(
            transport=Transport.WEBSOCKET, require_tls=False, allow_plain_unencrypted=True
        )
    )
    assert of_type(pair.client_events, Connected)
    pair.server_events.clear()
    pair.server.receive_data(_masked_frame(payload), now=1.0)
    pair.server.data_to_send()
    closed = _closed(pair.server)
    assert closed.condition is condition, closed
    assert closed.error is not None
