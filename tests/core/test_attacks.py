"""Hostile server input through the whole client connection: each attack ends in the
right stream error sent to the peer, one ConnectionClosed carrying a RemoteProtocolError,
bounded memory, and nothing expanded or fetched."""

from __future__ import annotations

import os
import random
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scripted import ScriptedServer, config, drain, logged_in

from cubeproto import CloseReason, ConnectionClosed, RemoteProtocolError, StreamErrorCondition
from cubeproto._connection import ClientConnection

MB = 1024 * 1024


def billion_laughs() -> Iterator[bytes]:
    yield (
        b'<!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10 if i > 1 else b"&lol;" * 10)
            for i in range(1, 10)
        )
        + b"]><message><body>&lol9;</body></message>"
    )


def quadratic_blowup() -> Iterator[bytes]:
    yield b'<!DOCTYPE q [<!ENTITY a "' + b"x" * 50_000 + b'">]><message><body>'
    yield b"&a;" * 50_000 + b"</body></message>"


def external_entity_file(tmp_secret: str) -> Iterator[bytes]:
    yield (
        f'<!DOCTYPE m [<!ENTITY xxe SYSTEM "file://{tmp_secret}">]>'
        "<message><body>&xxe;</body></message>"
    ).encode()


def external_dtd() -> Iterator[bytes]:
    yield b'<!DOCTYPE message SYSTEM "http://127.0.0.1:9/evil.dtd"><message/>'


def huge_stanza() -> Iterator[bytes]:
    yield b"<message><body>"
    chunk = b"A" * 65536
    for _ in range(100 * MB // len(chunk)):
        yield chunk


def deep_nesting() -> Iterator[bytes]:
    yield b"<message>" + b"<a>" * 10_000


def many_attributes() -> Iterator[bytes]:
    yield b"<message " + b" ".join(b'a%d="1"' % i for i in range(100_000)) + b"/>"


def random_bytes() -> Iterator[bytes]:
    yield random.Random(2026).randbytes(4096).replace(b"<", b"x") + b"<\x00\xff"


def comment() -> Iterator[bytes]:
    yield b"<!-- hello --><message/>"


def processing_instruction() -> Iterator[bytes]:
    yield b"<?evil data?><message/>"


CASES = {
    "billion-laughs": (billion_laughs, StreamErrorCondition.RESTRICTED_XML),
    "quadratic-blowup": (quadratic_blowup, StreamErrorCondition.RESTRICTED_XML),
    "external-dtd": (external_dtd, StreamErrorCondition.RESTRICTED_XML),
    "100MB-stanza": (huge_stanza, StreamErrorCondition.POLICY_VIOLATION),
    "10000-deep": (deep_nesting, StreamErrorCondition.POLICY_VIOLATION),
    "100000-attributes": (many_attributes, StreamErrorCondition.POLICY_VIOLATION),
    "comment": (comment, StreamErrorCondition.RESTRICTED_XML),
    "processing-instruction": (processing_instruction, StreamErrorCondition.RESTRICTED_XML),
}


def run_attack(
    chunks: Iterator[bytes], *, resumable: bool = True
) -> tuple[list[object], bytes, int]:
    if resumable:
        conn, server = logged_in()
    else:
        conn = ClientConnection(config())
        server = ScriptedServer(conn)
        server.login(resume=False)  # <enabled/> without resume="true"
        drain(conn)
        server.client_sent()
    tracemalloc.start()
    try:
        for chunk in chunks:
            conn.receive_data(chunk, now=1)
            if conn.state.value == "closed":
                break
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return drain(conn), server.client_sent(), peak


@pytest.mark.parametrize("resumable", [False, True], ids=["unresumable", "resumable"])
@pytest.mark.parametrize("name", list(CASES))
def test_attack_ends_in_the_right_stream_error(name: str, resumable: bool) -> None:
    make, condition = CASES[name]
    # Build the attack's bytes before measuring, except the 100 MB one, which is streamed.
    chunks = make() if name == "100MB-stanza" else iter(list(make()))
    events, sent, peak = run_attack(chunks, resumable=resumable)
    assert len(events) == 1, events
    (closed,) = events
    assert isinstance(closed, ConnectionClosed)
    assert closed.reason is CloseReason.PROTOCOL_ERROR
    assert closed.condition is condition
    assert isinstance(closed.error, RemoteProtocolError)
    assert closed.resumable is resumable
    if resumable:
        # Issue 12 item 6: a stream error or </stream:stream> would end the session on
        # the server (ejabberd); the transport is dropped silently instead.
        assert sent == b""
    else:
        assert f"<{condition.value} xmlns=".encode() in sent
        assert sent.endswith(b"</stream:stream>")
    assert peak < 8 * MB, f"peak {peak / MB:.1f} MiB"


def test_external_entity_to_a_file_is_never_read(tmp_path: object) -> None:
    secret = os.path.join(str(tmp_path), "secret.txt")
    with open(secret, "w") as f:
        f.write("TOP-SECRET-VALUE")
    events, sent, _ = run_attack(external_entity_file(secret))
    (closed,) = events
    assert isinstance(closed, ConnectionClosed)
    assert closed.condition is StreamErrorCondition.RESTRICTED_XML
    assert b"TOP-SECRET-VALUE" not in sent
    assert "TOP-SECRET-VALUE" not in repr(closed)


def test_random_bytes_after_a_valid_header() -> None:
    events, _, _ = run_attack(random_bytes())
    (closed,) = events
    assert isinstance(closed, ConnectionClosed)
    assert closed.reason is CloseReason.PROTOCOL_ERROR
    assert closed.condition in (
        StreamErrorCondition.NOT_WELL_FORMED,
        StreamErrorCondition.BAD_FORMAT,
        StreamErrorCondition.RESTRICTED_XML,
        StreamErrorCondition.POLICY_VIOLATION,
        StreamErrorCondition.UNSUPPORTED_ENCODING,
    )


@given(st.binary(min_size=1, max_size=2048), st.integers(min_value=1, max_value=64))
@settings(max_examples=200, deadline=None)
def test_arbitrary_bytes_never_raise_and_end_at_most_once(data: bytes, size: int) -> None:
    conn, _ = logged_in()
    for start in range(0, len(data), size):
        conn.receive_data(data[start : start + size], now=1)
    conn.receive_eof(now=2)
    events = drain(conn)
    closed = [e for e in events if isinstance(e, ConnectionClosed)]
    assert len(closed) == 1
    assert conn.state.value == "closed"
