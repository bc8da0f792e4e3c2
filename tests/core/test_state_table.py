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
    STREAM_HEADER,
    ScriptedServer,
    config,
    drain,
    logged_in,
)
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request

from cubeproto import LocalProtocolError, Ping
from cubeproto._connection import ClientConnection
from cubeproto._state import (
    RECEIVE_STANZA_STATES,
    SEND_STANZA_STATES,
    TRANSITIONS,
    Input,
    StreamState,
    transition,
)
from cubeproto.config import Transport


def _resuming() -> ClientConnection:
    """A connection that authenticated and sent ``<resume/>`` for a cut session."""
    old, _ = logged_in()
    old.receive_eof(now=1)
    drain(old)
    session = old.resume_state()
    assert session is not None
    conn = ClientConnection(config(), resume=session)
    server = ScriptedServer(conn)
    conn.start(now=0)
    server.open_with(FEATURES_SASL)
    server.sasl_scram()
    server.open_with(FEATURES_BIND)
    return conn


def to_state(target: StreamState) -> ClientConnection:
    """A connection driven (by real server bytes) into ``target``."""
    if target is StreamState.RESUMING:
        return _resuming()
    if target is StreamState.CONNECTING:
        conn = ClientConnection(config(transport=Transport.WEBSOCKET))
        conn.start(now=0)
        return conn
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


REACHABLE = list(StreamState)

CALLER_INPUTS: dict[Input, Callable[[ClientConnection], object]] = {
    Input.SEND_START: lambda c: c.start(now=2),
    Input.SEND_TLS_ESTABLISHED: lambda c: c.tls_established(now=2),
    Input.SEND_STANZA: lambda c: c.send(Ping(), now=2),
    Input.SEND_CLOSE: lambda c: c.close(now=2),
}

#: States in which no stream is open on the wire (the WebSocket upgrade is not answered,
#: or the TLS handshake is due): close() ends the connection at once instead of waiting
#: for the peer's stream close.
NOTHING_TO_CLOSE = (StreamState.CONNECTING, StreamState.TLS_PENDING)


@pytest.mark.parametrize("state", REACHABLE, ids=lambda s: s.value)
@pytest.mark.parametrize("inp", list(CALLER_INPUTS), ids=lambda i: i.value)
def test_every_caller_input_in_every_state(state: StreamState, inp: Input) -> None:
    conn = to_state(state)
    assert conn.state is state
    drain(conn)
    conn.data_to_send()
    if (state, inp) in TRANSITIONS:
        CALLER_INPUTS[inp](conn)
        expected = TRANSITIONS[(state, inp)]
        if inp is Input.SEND_CLOSE and state in NOTHING_TO_CLOSE:
            expected = TRANSITIONS[(expected, Input.FATAL)]
        assert conn.state is expected
    else:
        with pytest.raises(LocalProtocolError):
            CALLER_INPUTS[inp](conn)
        assert conn.state is state
        assert conn.data_to_send() == b""
        assert drain(conn) == []


# The table written out by hand, independently of cubeproto._state: the specification the
# code must match (a change to the state machine changes this list, on purpose).
_LIVE = [
    "connecting",
    "opening",
    "starttls-sent",
    "tls-pending",
    "authenticating",
    "resuming",
    "binding",
    "session-setup",
    "ready",
]
SPECIFIED = {
    ("idle", "send-start"): "opening",
    ("idle", "send-start-websocket"): "connecting",
    ("connecting", "recv-transport-ready"): "opening",
    ("opening", "recv-features-starttls"): "starttls-sent",
    ("starttls-sent", "recv-proceed"): "tls-pending",
    ("tls-pending", "send-tls-established"): "opening",
    ("opening", "recv-features-auth"): "authenticating",
    ("authenticating", "recv-sasl-success"): "opening",
    ("opening", "recv-features-bind"): "binding",
    ("opening", "recv-features-resume"): "resuming",
    ("resuming", "recv-resumed"): "ready",
    ("resuming", "recv-resume-failed"): "binding",
    ("binding", "recv-bound"): "session-setup",
    ("session-setup", "recv-session-ready"): "ready",
    ("binding", "recv-stanza"): "binding",
    ("resuming", "recv-stanza"): "resuming",
    ("session-setup", "recv-stanza"): "session-setup",
    ("ready", "recv-stanza"): "ready",
    ("ready", "send-stanza"): "ready",
    ("closing", "recv-stanza"): "closing",
    ("closing", "recv-stream-end"): "closed",
    ("closing", "timer-close"): "closed",
    ("closing", "fatal"): "closed",
    ("idle", "fatal"): "closed",
    **{(live, "send-close"): "closing" for live in _LIVE},
    **{(live, "recv-stream-end"): "closed" for live in _LIVE},
    **{(live, "fatal"): "closed" for live in _LIVE},
}


def test_the_table_is_the_specification() -> None:
    table = {(src.value, inp.value): dst.value for (src, inp), dst in TRANSITIONS.items()}
    assert table == SPECIFIED


@given(st.sampled_from(list(StreamState)), st.sampled_from(list(Input)))
@settings(max_examples=300)
def test_transition_function_follows_the_specification(state: StreamState, inp: Input) -> None:
    expected = SPECIFIED.get((state.value, inp.value))
    if expected is not None:
        assert transition(state, inp) is StreamState(expected)
    else:
        with pytest.raises(LocalProtocolError):
            transition(state, inp)


def test_stanza_state_sets_are_derived_from_the_table() -> None:
    receive = {StreamState(s) for (s, i) in SPECIFIED if i == "recv-stanza"}
    send = {StreamState(s) for (s, i) in SPECIFIED if i == "send-stanza"}
    assert set(RECEIVE_STANZA_STATES) == receive
    assert set(SEND_STANZA_STATES) == send
    assert RECEIVE_STANZA_STATES[0] is SEND_STANZA_STATES[0] is StreamState.READY
    assert len(set(RECEIVE_STANZA_STATES)) == len(RECEIVE_STANZA_STATES)


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


_MESSAGE = "<message from='1002-42@localhost/r' type='chat' id='m'><body>x</body></message>"


def _peer_scenarios() -> list[tuple[StreamState, Input, Callable[[ClientConnection], None]]]:
    """For every input the peer or the clock causes: a state where it is legal, and real
    bytes (or a timer) that cause it."""

    def feed(xml: str) -> Callable[[ClientConnection], None]:
        return lambda c: c.receive_data(xml.encode(), now=3)

    def websocket_accept(conn: ClientConnection) -> None:
        server = WSConnection(ConnectionType.SERVER)
        server.receive_data(conn.data_to_send())
        assert [type(e) for e in server.events()] == [Request]
        conn.receive_data(server.send(AcceptConnection(subprotocol="xmpp")), now=3)

    def server_of(conn: ClientConnection) -> ScriptedServer:
        return ScriptedServer(conn)

    scenarios: list[tuple[StreamState, Input, Callable[[ClientConnection], None]]] = [
        (StreamState.CONNECTING, Input.RECV_TRANSPORT_READY, websocket_accept),
        (StreamState.OPENING, Input.RECV_FEATURES_STARTTLS, feed(STREAM_HEADER + FEATURES_TLS)),
        (
            StreamState.STARTTLS_SENT,
            Input.RECV_PROCEED,
            feed("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
        ),
        (StreamState.OPENING, Input.RECV_FEATURES_AUTH, feed(STREAM_HEADER + FEATURES_SASL)),
        (StreamState.AUTHENTICATING, Input.RECV_SASL_SUCCESS, lambda c: server_of(c).sasl_scram()),
        (StreamState.BINDING, Input.RECV_BOUND, lambda c: server_of(c).bind()),
        (
            StreamState.SESSION_SETUP,
            Input.RECV_SESSION_READY,
            lambda c: server_of(c).session_setup() and None,
        ),
        (
            StreamState.RESUMING,
            Input.RECV_RESUMED,
            feed("<resumed xmlns='urn:xmpp:sm:3' h='0' previd='smid-1'/>"),
        ),
        (
            StreamState.RESUMING,
            Input.RECV_RESUME_FAILED,
            feed(
                "<failed xmlns='urn:xmpp:sm:3'>"
                "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
            ),
        ),
        (StreamState.CLOSING, Input.TIMER_CLOSE, lambda c: c.handle_timer(now=1000)),
    ]
    for state in RECEIVE_STANZA_STATES:
        scenarios.append((state, Input.RECV_STANZA, feed(_MESSAGE)))
    for state in _LIVE_STATES_WITH_A_STREAM:
        scenarios.append((state, Input.RECV_STREAM_END, feed("</stream:stream>")))
        scenarios.append((state, Input.FATAL, lambda c: c.receive_eof(now=3)))
    return scenarios


_LIVE_STATES_WITH_A_STREAM = [
    StreamState.STARTTLS_SENT,
    StreamState.AUTHENTICATING,
    StreamState.RESUMING,
    StreamState.BINDING,
    StreamState.SESSION_SETUP,
    StreamState.READY,
    StreamState.CLOSING,
]

PEER_SCENARIOS = _peer_scenarios()


def test_every_input_has_a_scenario() -> None:
    """Each peer or timer input is driven by real bytes somewhere below; each caller input
    by the matrix above (SEND_START_WEBSOCKET by the CONNECTING set-up, from IDLE)."""
    driven = {inp for _, inp, _ in PEER_SCENARIOS} | set(CALLER_INPUTS) | set(AFTER_AUTH)
    assert driven | {Input.SEND_START_WEBSOCKET} == set(Input)
    conn = ClientConnection(config(transport=Transport.WEBSOCKET))
    conn.start(now=0)
    assert conn.state is TRANSITIONS[(StreamState.IDLE, Input.SEND_START_WEBSOCKET)]


@pytest.mark.parametrize(
    ("state", "inp", "cause"),
    PEER_SCENARIOS,
    ids=[f"{s.value}-{i.value}" for s, i, _ in PEER_SCENARIOS],
)
def test_every_peer_input_moves_as_the_table_says(
    state: StreamState, inp: Input, cause: Callable[[ClientConnection], None]
) -> None:
    if inp is Input.RECV_FEATURES_STARTTLS:  # only a stream not yet encrypted
        conn = ClientConnection(config(transport=Transport.TCP))
        conn.start(now=0)
    else:
        conn = to_state(state)
    assert conn.state is state
    drain(conn)
    cause(conn)
    assert conn.state is TRANSITIONS[(state, inp)]


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
    s
    for s in REACHABLE
    if s
    not in (
        StreamState.IDLE,
        StreamState.CLOSED,
        StreamState.TLS_PENDING,
        StreamState.CONNECTING,
    )
]

#: Peer inputs that mean one table input whatever the state, with the state they must
#: lead to when legal (None: the table's answer for that pair).
UNAMBIGUOUS = {
    "message": Input.RECV_STANZA,
    "iq-result": Input.RECV_STANZA,
    "proceed": Input.RECV_PROCEED,
    "footer": Input.RECV_STREAM_END,
}


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
    inp = UNAMBIGUOUS.get(name)
    if inp is not None:
        if (state, inp) in TRANSITIONS:
            assert conn.state is TRANSITIONS[(state, inp)]
        else:  # illegal for the table: the stream ends with a stream error
            assert conn.state is StreamState.CLOSED
            assert len(closed) == 1 and closed[0].error is not None


#: Features after authentication: bind, or resume for a connection that has a session.
AFTER_AUTH = {Input.RECV_FEATURES_BIND: False, Input.RECV_FEATURES_RESUME: True}


@pytest.mark.parametrize("inp", list(AFTER_AUTH), ids=lambda i: i.value)
def test_features_after_authentication_move_as_the_table_says(inp: Input) -> None:
    if AFTER_AUTH[inp]:
        old, _ = logged_in()
        old.receive_eof(now=1)
        conn = ClientConnection(config(), resume=old.resume_state())
    else:
        conn = ClientConnection(config())
    server = ScriptedServer(conn)
    conn.start(now=0)
    server.open_with(FEATURES_SASL)
    server.sasl_scram()
    assert conn.state is StreamState.OPENING
    server.open_with(FEATURES_BIND)
    assert conn.state is TRANSITIONS[(StreamState.OPENING, inp)]


@pytest.mark.parametrize(
    ("module", "function"),
    [("_connection.py", "transition"), ("_server_connection.py", "server_transition")],
)
def test_every_state_change_goes_through_the_table(module: str, function: str) -> None:
    """Outside ``__init__``, each role assigns its state only from its table's function."""
    import ast
    from pathlib import Path

    import cubeproto

    source = (Path(cubeproto.__file__).parent / module).read_text(encoding="utf-8")
    bypasses = []
    for func in ast.walk(ast.parse(source)):
        if not isinstance(func, ast.FunctionDef) or func.name == "__init__":
            continue
        for node in ast.walk(func):
            if not isinstance(node, ast.Assign):
                continue
            for target in node.targets:
                if isinstance(target, ast.Attribute) and target.attr == "_state":
                    value = node.value
                    through_table = (
                        isinstance(value, ast.Call)
                        and isinstance(value.func, ast.Name)
                        and value.func.id == function
                    )
                    if not through_table:
                        bypasses.append(f"{func.name}:{node.lineno}")
    assert bypasses == []
