"""Every (state, caller input) pair: legal ones move as the table says; illegal ones raise
LocalProtocolError and leave the state unchanged.  Peer inputs that are illegal in a state
end in a stream error (covered in the other test modules), never in an exception."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scripted import (
    FEATURES_BIND,
    FEATURES_SASL,
    FEATURES_TLS,
    ScriptedServer,
    config,
    drain,
)

from cubeproto import LocalProtocolError, Ping
from cubeproto._connection import ClientConnection
from cubeproto._state import TRANSITIONS, Input, StreamState, transition
from cubeproto.config import Transport


def to_state(target: StreamState) -> ClientConnection:
    """A connection driven (by real server bytes) into ``target``."""
    tcp = target in (StreamState.STARTTLS_SENT, StreamState.TLS_PENDING)
    conn = ClientConnection(config(transport=Transport.TCP if tcp else Transport.DIRECT_TLS))
    server = ScriptedServer(conn)
    if target is StreamState.IDLE:
        return conn
    conn.start(now=0)
    if target is StreamState.OPENING:
        return conn
    if tcp:
        server.open_with(FEATURES_TLS)
        if target is StreamState.STARTTLS_SENT:
            return conn
        server.client_sent()
        server.feed("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        return conn
    server.open_with(FEATURES_SASL)
    if target is StreamState.AUTHENTICATING:
        return conn
    server.sasl_scram()
    server.open_with(FEATURES_BIND)
    if target is StreamState.BINDING:
        return conn
    server.bind()
    if target is StreamState.SESSION_SETUP:
        return conn
    server.session_setup()
    if target is StreamState.READY:
        return conn
    if target is StreamState.CLOSING:
        conn.close(now=1)
        return conn
    if target is StreamState.CLOSED:
        conn.receive_eof(now=1)
        return conn
    raise AssertionError(target)


REACHABLE = [s for s in StreamState if s not in (StreamState.CONNECTING, StreamState.RESUMING)]

CALLER_INPUTS: dict[Input, Callable[[ClientConnection], object]] = {
    Input.SEND_START: lambda c: c.start(now=2),
    Input.SEND_TLS_ESTABLISHED: lambda c: c.tls_established(now=2),
    Input.SEND_STANZA: lambda c: c.send(Ping(), now=2),
    Input.SEND_CLOSE: lambda c: c.close(now=2),
}


@pytest.mark.parametrize("state", REACHABLE, ids=lambda s: s.value)
@pytest.mark.parametrize("inp", list(CALLER_INPUTS), ids=lambda i: i.value)
def test_every_caller_input_in_every_state(state: StreamState, inp: Input) -> None:
    conn = to_state(state)
    assert conn.state is state
    drain(conn)
    if (state, inp) in TRANSITIONS:
        CALLER_INPUTS[inp](conn)
        expected = TRANSITIONS[(state, inp)]
        # close() from a state where no stream can be closed on the wire ends at once.
        assert conn.state in (expected, StreamState.CLOSED)
    else:
        before = conn.data_to_send()
        with pytest.raises(LocalProtocolError):
            CALLER_INPUTS[inp](conn)
        assert conn.state is state
        assert conn.data_to_send() == b"" or before


@given(st.sampled_from(list(StreamState)), st.sampled_from(list(Input)))
@settings(max_examples=300)
def test_transition_function_is_the_table(state: StreamState, inp: Input) -> None:
    if (state, inp) in TRANSITIONS:
        assert transition(state, inp) is TRANSITIONS[(state, inp)]
    else:
        with pytest.raises(LocalProtocolError):
            transition(state, inp)


def test_closed_is_terminal() -> None:
    assert not [k for k in TRANSITIONS if k[0] is StreamState.CLOSED]


def test_every_state_is_reachable_from_idle() -> None:
    seen = {StreamState.IDLE}
    frontier = [StreamState.IDLE]
    while frontier:
        state = frontier.pop()
        for (src, _), dst in TRANSITIONS.items():
            if src is state and dst not in seen:
                seen.add(dst)
                frontier.append(dst)
    assert seen == set(StreamState)


PEER_INPUTS = {
    "features": (
        "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"
    ),
    "proceed": "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
    "tls-failure": "<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
    "challenge": "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>cj1hYmM=</challenge>",
    "success": "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
    "sasl-failure": "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><aborted/></failure>",
    "enabled": "<enabled xmlns='urn:xmpp:sm:3' id='x' resume='true'/>",
    "resumed": "<resumed xmlns='urn:xmpp:sm:3' h='0' previd='x'/>",
    "sm-failed": "<failed xmlns='urn:xmpp:sm:3'/>",
    "ack": "<a xmlns='urn:xmpp:sm:3' h='0'/>",
    "request": "<r xmlns='urn:xmpp:sm:3'/>",
    "message": "<message from='1002-42@localhost/r' type='chat' id='m'><body>x</body></message>",
    "iq-result": "<iq type='result' id='unknown'/>",
    "unknown-nonza": "<foo xmlns='urn:example'/>",
    "stream-error": (
        "<stream:error><reset xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
    ),
    "footer": "</stream:stream>",
}

LIVE_PEER_STATES = [
    s for s in REACHABLE if s not in (StreamState.IDLE, StreamState.CLOSED, StreamState.TLS_PENDING)
]


@pytest.mark.parametrize("state", LIVE_PEER_STATES, ids=lambda s: s.value)
@pytest.mark.parametrize("name", list(PEER_INPUTS))
def test_every_peer_input_in_every_state_never_raises(state: StreamState, name: str) -> None:
    """Whatever the peer sends in whatever state: no exception; either the state machine
    moves along its table, or the stream ends with exactly one ConnectionClosed."""
    conn = to_state(state)
    drain(conn)
    conn.data_to_send()
    xml = PEER_INPUTS[name]
    if state is StreamState.OPENING:
        from scripted import STREAM_HEADER

        xml = STREAM_HEADER + xml
    conn.receive_data(xml.encode(), now=3)
    events = drain(conn)
    closed = [e for e in events if type(e).__name__ == "ConnectionClosed"]
    assert len(closed) <= 1
    if closed:
        assert conn.state is StreamState.CLOSED
        assert events[-1] is closed[0]  # the terminal event is the last one
    else:
        assert conn.state in {dst for (src, _), dst in TRANSITIONS.items() if src is state} | {
            state
        }
