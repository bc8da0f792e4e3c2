"""A fault in the peer's bytes ends the stream *after* the stanzas that completed before
it, however the bytes were split.  The parser reported those stanzas on its error
(``XmlStreamError.items``) but the stream layer dropped them, so a message and the garbage
after it in one read were lost, while the same bytes read one at a time delivered the
message: the events depended on the chunking, and without stream management the message
was gone without a trace.  Both roles, TCP and WebSocket framing."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest
from hostile_cases import CASES as HOSTILE
from hypothesis import given, settings
from hypothesis import strategies as st
from scripted import drain, logged_in
from wsproto.events import Message

from cubeproto import ConnectionClosed, MessageReceived, UnhandledStanza

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fuzz"))

from role_verdicts import logged_in_pair

from cubeproto._server_connection import ClientClosed, StanzaReceived

BEFORE = b"<message type='chat' id='before'><body>delivered?</body></message>"


def _client_events(wire: bytes, cuts: list[int]) -> list[object]:
    conn, _server = logged_in()
    bounds = sorted({0, len(wire), *(c % (len(wire) + 1) for c in cuts)})
    for start, end in itertools.pairwise(bounds):
        conn.receive_data(wire[start:end], now=1)
    return drain(conn)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(HOSTILE)), cuts=st.lists(st.integers(0, 400), max_size=4))
def test_the_client_hands_over_the_message_before_the_fault(name: str, cuts: list[int]) -> None:
    data, condition = HOSTILE[name]
    events = _client_events(BEFORE + data, cuts)
    delivered = [e for e in events if isinstance(e, (MessageReceived, UnhandledStanza))]
    assert len(delivered) == 1, events
    closed = events[-1]
    assert isinstance(closed, ConnectionClosed) and closed.condition is condition
    # The same events as when the bytes arrive one read at a time.
    assert [type(e) for e in events] == [type(e) for e in _client_events(BEFORE + data, [])]


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("chunk", [1, 1 << 16])
def test_the_server_hands_over_the_message_before_the_fault(name: str, chunk: int) -> None:
    data, condition = HOSTILE[name]
    _client, server = logged_in_pair()
    wire = BEFORE + data
    for start in range(0, len(wire), chunk):
        server.receive_data(wire[start : start + chunk], now=1.0)
    events = list(iter(server.next_event, None))
    assert [type(e) for e in events] == [StanzaReceived, ClientClosed], events
    closed = events[-1]
    assert isinstance(closed, ClientClosed) and closed.condition is condition


@pytest.mark.parametrize(
    "bad",
    [
        b"<message><foo:body>x</foo:body></message>",
        b"<message><body>\xff</body></message>",
    ],
)
def test_websocket_handles_the_frames_before_the_faulty_one(bad: bytes) -> None:
    # Two frames in one read: the server's features, then a faulty frame.  The features
    # are acted on (the client answers with its SASL <auth/>) before the stream ends.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_websocket import _opened_websocket, _server_frame

    conn, ws = _opened_websocket()
    features = (
        b"<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"
        b"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>"
        b"</mechanisms></stream:features>"
    )
    conn.receive_data(ws.ws.send(Message(data=features.decode())) + _server_frame(bad), now=1)
    (closed,) = drain(conn)
    assert isinstance(closed, ConnectionClosed) and closed.condition is not None
    ws.pump()
    assert [m for m in ws.received if m.startswith("<auth ")], ws.received
