"""Fuzz target: a logged-in ClientConnection fed arbitrary server bytes.

    python fuzz/fuzz_client.py -max_total_time=60 fuzz/corpus/client

The connection logs in over a scripted ejabberd-shaped exchange, then the fuzzer's bytes
arrive split into chunks (the first input byte picks the chunk size), followed by EOF and
every pending timer.  Invariant: no exception escapes receive_data / receive_eof /
handle_timer, and the run ends in a ConnectionClosed event.  When the chat layer is
installed the stanzas also go through its classifier.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "core"))

with atheris.instrument_imports():
    from scripted import ScriptedServer, config, drain

    import cubeproto

    try:
        from cubeproto.chat import ChatSession

        HANDLER = ChatSession
    except ImportError:  # the chat layer is optional for this target
        HANDLER = None


def logged_in() -> cubeproto.ClientConnection:
    # PLAIN keeps each run cheap (SCRAM's key derivation would dominate the fuzzing time).
    conn = cubeproto.ClientConnection(config(handler_factory=HANDLER, mechanisms=("PLAIN",)))
    ScriptedServer(conn).login(mechanism="PLAIN")
    drain(conn)
    conn.data_to_send()
    return conn


def test_one_input(data: bytes) -> None:
    if not data:
        return
    size = 1 + data[0] % 64
    payload = data[1:]
    conn = logged_in()
    for start in range(0, len(payload), size):
        conn.receive_data(payload[start : start + size], now=1.0)
        conn.data_to_send()
        drain(conn)
    conn.receive_eof(now=2.0)
    while (deadline := conn.get_timer()) is not None:
        conn.handle_timer(now=deadline)
    events = drain(conn)
    conn.data_to_send()
    if conn.state is not cubeproto.StreamState.CLOSED:
        raise AssertionError(f"connection not closed after EOF: {conn.state}")
    closed = [i for i, e in enumerate(events) if isinstance(e, cubeproto.ConnectionClosed)]
    if len(closed) > 1:
        raise AssertionError(f"more than one ConnectionClosed: {events}")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
