"""Negotiation: TLS, SASL (PLAIN, SCRAM with a verified server signature), bind, session
setup in the official SDK's order, and how each failure ends."""

from __future__ import annotations

import pytest
from scripted import (
    FEATURES_BIND,
    FEATURES_SASL,
    FEATURES_TLS,
    JID,
    STREAM_HEADER,
    ScriptedServer,
    config,
    drain,
    kinds,
)

from cubeproto import (
    Authenticated,
    AuthenticationFailed,
    Bound,
    CloseReason,
    Connected,
    ConnectionClosed,
    LocalProtocolError,
    SaslCondition,
    StreamManagementEnabled,
    TlsUpgradeRequired,
)
from cubeproto._connection import ClientConnection
from cubeproto._state import StreamState
from cubeproto.config import Transport


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_login_direct_tls(mechanism: str) -> None:
    conn = ClientConnection(config(mechanisms=(mechanism,)))
    server = ScriptedServer(conn)
    server.login(mechanism=mechanism)
    events = drain(conn)
    assert kinds(events) == [
        "StreamOpened",
        "Authenticated",
        "StreamOpened",
        "Bound",
        "StreamManagementEnabled",
        "Connected",
    ]
    assert events[1] == Authenticated(mechanism=mechanism)
    assert events[3] == Bound(jid=JID)
    assert events[4] == StreamManagementEnabled(resume_id="smid-1", max_resume_seconds=300)
    assert events[-1] == Connected(jid=JID, resumed=False)
    assert conn.state is StreamState.READY
    assert conn.jid == JID


def test_default_preference_is_scram_sha_256() -> None:
    conn = ClientConnection(config())
    server = ScriptedServer(conn)
    server.login(mechanism="SCRAM-SHA-256")
    assert Authenticated(mechanism="SCRAM-SHA-256") in drain(conn)


def test_session_setup_follows_the_sdk_order() -> None:
    conn = ClientConnection(config())
    server = ScriptedServer(conn)
    conn.start(now=0)
    server.open_with(FEATURES_SASL)
    server.sasl_scram()
    server.open_with(FEATURES_BIND)
    server.bind()
    sent = server.client_sent().decode()
    # SM enable, then carbons, then initial presence (connectycube-protocol.md 5.4).
    enable = sent.index('<enable xmlns="urn:xmpp:sm:3" resume="true"/>')
    carbons = sent.index('<enable xmlns="urn:xmpp:carbons:2"/>')
    presence = sent.index("<presence/>")
    assert enable < carbons < presence
    assert ":enableCarbons" in sent
    # Not connected until SM settles.
    assert conn.state is StreamState.SESSION_SETUP
    with pytest.raises(LocalProtocolError):
        from cubeproto import Ping

        conn.send(Ping(), now=0)


def test_tampered_scram_server_signature_is_refused() -> None:
    conn = ClientConnection(config())
    server = ScriptedServer(conn)
    conn.start(now=0)
    server.open_with(FEATURES_SASL)
    server.sasl_scram(tamper=True)
    events = drain(conn)
    failed = [e for e in events if isinstance(e, AuthenticationFailed)]
    assert len(failed) == 1 and failed[0].condition is None
    assert "signature" in (failed[0].text or "")
    assert isinstance(events[-1], ConnectionClosed)
    assert events[-1].reason is CloseReason.AUTH_FAILED
    assert not any(isinstance(e, Authenticated) for e in events)
    # No restart was sent after the bad success: only the closing of the stream.
    assert b"<stream:stream" not in server.client_sent()


def test_sasl_failure_is_typed() -> None:
    conn = ClientConnection(config(mechanisms=("PLAIN",)))
    server = ScriptedServer(conn)
    conn.start(now=0)
    server.open_with(FEATURES_SASL)
    server.client_sent()
    server.feed(
        "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/>"
        "<text xml:lang='en'>Invalid username or password</text></failure>"
    )
    events = drain(conn)
    assert events[-2] == AuthenticationFailed(
        condition=SaslCondition.NOT_AUTHORIZED,
        condition_name="not-authorized",
        text="Invalid username or password",
    )
    assert isinstance(events[-1], ConnectionClosed)
    assert conn.state is StreamState.CLOSED


def test_starttls_upgrade() -> None:
    conn = ClientConnection(config(transport=Transport.TCP))
    server = ScriptedServer(conn)
    conn.start(now=0)
    first = server.open_with(FEATURES_TLS)
    assert b"from=" not in first  # no claimed identity on an unencrypted stream
    assert server.client_sent() == b'<starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"/>'
    server.feed("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    assert TlsUpgradeRequired() in drain(conn)
    assert conn.state is StreamState.TLS_PENDING
    assert server.client_sent() == b""
    conn.tls_established(now=0)
    restarted = server.open_with(FEATURES_SASL)
    assert b'from="1001-42@localhost"' in restarted
    server.sasl_scram()
    server.open_with(FEATURES_BIND)
    server.bind()
    server.session_setup()
    assert isinstance(drain(conn)[-1], Connected)


def test_starttls_handshake_failure_reports_why() -> None:
    """A refused certificate during STARTTLS reaches the user in ``ConnectionClosed.text``
    (it used to be a bare REMOTE close with no reason); nothing more is sent."""
    conn = ClientConnection(config(transport=Transport.TCP))
    server = ScriptedServer(conn)
    with pytest.raises(LocalProtocolError):
        conn.tls_failed("too early", now=0)  # no upgrade pending
    conn.start(now=0)
    server.open_with(FEATURES_TLS)
    server.client_sent()
    server.feed("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    drain(conn)
    reason = "[SSL: CERTIFICATE_VERIFY_FAILED] Hostname mismatch, certificate is not valid for 'x'"
    conn.tls_failed(reason, now=1)
    assert drain(conn) == [
        ConnectionClosed(
            reason=CloseReason.NEGOTIATION_FAILED, text=f"TLS handshake failed: {reason}"
        )
    ]
    assert conn.state is StreamState.CLOSED
    assert conn.data_to_send() == b""
    with pytest.raises(LocalProtocolError):
        conn.tls_failed(reason, now=2)


def test_data_after_proceed_before_tls_is_a_protocol_error() -> None:
    conn = ClientConnection(config(transport=Transport.TCP))
    server = ScriptedServer(conn)
    conn.start(now=0)
    server.open_with(FEATURES_TLS)
    server.client_sent()
    server.feed("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><iq/>")
    events = drain(conn)
    assert isinstance(events[-1], ConnectionClosed)
    assert events[-1].reason is CloseReason.PROTOCOL_ERROR


def test_tls_required_but_not_offered() -> None:
    conn = ClientConnection(config(transport=Transport.TCP))
    server = ScriptedServer(conn)
    conn.start(now=0)
    server.open_with(FEATURES_SASL)
    events = drain(conn)
    assert isinstance(events[-1], ConnectionClosed)
    assert events[-1].reason is CloseReason.NEGOTIATION_FAILED
    assert b"<auth" not in server.client_sent()


def test_plain_refused_on_unencrypted_stream() -> None:
    conn = ClientConnection(config(transport=Transport.TCP, require_tls=False))
    server = ScriptedServer(conn)
    conn.start(now=0)
    server.open_with(
        "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
        "<mechanism>PLAIN</mechanism></mechanisms></stream:features>"
    )
    events = drain(conn)
    failed = [e for e in events if isinstance(e, AuthenticationFailed)]
    assert failed and "PLAIN refused" in (failed[0].text or "")
    assert b"<auth" not in server.client_sent()


def test_plain_allowed_unencrypted_when_configured() -> None:
    conn = ClientConnection(
        config(
            transport=Transport.TCP,
            require_tls=False,
            allow_plain_unencrypted=True,
            mechanisms=("PLAIN",),
        )
    )
    server = ScriptedServer(conn)
    conn.start(now=0)
    server.open_with(FEATURES_SASL)
    server.sasl_plain()
    assert Authenticated(mechanism="PLAIN") in drain(conn)


def test_scram_plus_only_with_channel_binding() -> None:
    features = (
        "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
        "<mechanism>SCRAM-SHA-256-PLUS</mechanism><mechanism>SCRAM-SHA-256</mechanism>"
        "</mechanisms></stream:features>"
    )
    conn = ClientConnection(config())
    server = ScriptedServer(conn)
    conn.start(now=0)
    server.open_with(features)
    assert b'mechanism="SCRAM-SHA-256"' in server.client_sent()

    conn = ClientConnection(config())
    server = ScriptedServer(conn)
    conn.start(now=0, channel_binding=("tls-server-end-point", b"\x01" * 32))
    server.open_with(features)
    sent = server.client_sent()
    assert b'mechanism="SCRAM-SHA-256-PLUS"' in sent
    # GS2 header p=tls-server-end-point (RFC 5802 section 7).
    import base64

    first = base64.b64decode(sent.split(b">")[1].split(b"<")[0])
    assert first.startswith(b"p=tls-server-end-point,,")


def test_bind_error_gives_up() -> None:
    conn = ClientConnection(config())
    server = ScriptedServer(conn)
    conn.start(now=0)
    server.open_with(FEATURES_SASL)
    server.sasl_scram()
    server.open_with(FEATURES_BIND)
    sent = server.client_sent()
    iq_id = sent.decode().split('id="')[1].split('"')[0]
    server.feed(
        f"<iq type='error' id='{iq_id}'><error type='cancel'>"
        "<not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )
    events = drain(conn)
    assert isinstance(events[-1], ConnectionClosed)
    assert events[-1].reason is CloseReason.NEGOTIATION_FAILED
    assert "not-allowed" in (events[-1].text or "")


def test_no_sm_offered_connects_without_it() -> None:
    conn = ClientConnection(config())
    server = ScriptedServer(conn)
    conn.start(now=0)
    server.open_with(FEATURES_SASL)
    server.sasl_scram()
    server.open_with(
        "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"
    )
    server.bind()
    sent = server.client_sent()
    assert b"urn:xmpp:sm:3" not in sent
    assert isinstance(drain(conn)[-1], Connected)


def test_unsupported_stream_version() -> None:
    conn = ClientConnection(config())
    conn.start(now=0)
    conn.data_to_send()
    conn.receive_data(
        STREAM_HEADER.replace("version='1.0' xml:lang", "version='0.9' xml:lang").encode(), now=0
    )
    events = drain(conn)
    assert isinstance(events[-1], ConnectionClosed)
    assert events[-1].condition is not None
    assert events[-1].condition.value == "unsupported-version"
    assert b"<unsupported-version" in conn.data_to_send()
