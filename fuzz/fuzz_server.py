"""Fuzz target: a ServerConnection fed arbitrary client bytes.

    python fuzz/fuzz_server.py -max_total_time=60 fuzz/corpus/server

The first input byte picks the mode (bit 0: TCP or WebSocket; bit 1: start fresh, or after
a PLAIN login and bind over TCP) and the chunk size; the rest arrives in chunks, then EOF
and every pending timer.  Invariants: no exception escapes receive_data / receive_eof /
handle_timer / data_to_send, the connection ends CLOSED, and exactly one ClientClosed is
the last event.
"""

from __future__ import annotations

import base64
import random
import sys

import atheris

with atheris.instrument_imports():
    from cubeproto._server_connection import (
        ClientClosed,
        ServerConfig,
        ServerConnection,
        ServerTransport,
        UserAuth,
    )
    from cubeproto._server_state import ServerState

# A token login skips the PBKDF2 derivation, so each run stays cheap.
_AUTH = UserAuth(
    salt=b"fuzz-salt-123",
    iterations=4096,
    keys={"SHA-256": (b"\0" * 32, b"\0" * 32)},
    tokens=frozenset({"tok"}),
)
_HEADER = (
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    b"to='localhost' version='1.0'>"
)
_LOGIN = (
    _HEADER
    + b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
    + base64.b64encode(b"\x00777-105\x00tok")
    + b"</auth>"
    + _HEADER
    + b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"
    + b"<enable xmlns='urn:xmpp:sm:3' resume='true'/>"
)


def _config(transport: ServerTransport) -> ServerConfig:
    return ServerConfig(
        domain="localhost",
        entropy=random.Random(0).randbytes,
        authenticate=lambda username: _AUTH if username == "777-105" else None,
        transport=transport,
        starttls=False,
        require_tls=False,
        allow_plain_unencrypted=True,
    )


def _drain(conn: ServerConnection) -> list[object]:
    events: list[object] = []
    while (event := conn.next_event()) is not None:
        events.append(event)
    return events


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode = data[0]
    size = 1 + (mode >> 2) % 64
    websocket = bool(mode & 1)
    transport = ServerTransport.WEBSOCKET if websocket else ServerTransport.TCP
    conn = ServerConnection(_config(transport))
    conn.start(now=0.0)
    events: list[object] = []
    if mode & 2 and not websocket:
        conn.receive_data(_LOGIN, now=0.0)
        conn.data_to_send()
        events += _drain(conn)
    payload = data[1:]
    for start in range(0, len(payload), size):
        conn.receive_data(payload[start : start + size], now=1.0)
        conn.data_to_send()
        events += _drain(conn)
    conn.receive_eof(now=2.0)
    while (deadline := conn.get_timer()) is not None:
        conn.handle_timer(now=deadline)
    conn.data_to_send()
    events += _drain(conn)
    if conn.state is not ServerState.CLOSED:
        raise AssertionError(f"not closed after EOF: {conn.state}")
    closed = [e for e in events if isinstance(e, ClientClosed)]
    if len(closed) != 1 or events[-1] is not closed[0]:
        raise AssertionError(f"expected one final ClientClosed: {events}")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
