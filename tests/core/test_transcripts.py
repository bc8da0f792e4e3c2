"""Replay logins recorded against the real ejabberd (tests/core/record_transcripts.py):
TCP + STARTTLS, direct TLS and WebSocket with SCRAM-SHA-1, SCRAM-SHA-256 and PLAIN.

Each transcript is replayed whole, and again split at random points (a hypothesis
property): the events must be identical whatever the chunking, and for TCP every byte the
client sends must equal what it sent to the real server.  Every field of every event is
checked against values read from the server's bytes, and over WebSocket the client's bytes
are compared as the server reads them (the masks and the key are random).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from scripted import entropy, wall_clock
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

import cubeproto
from cubeproto import ClientConfig, ClientConnection, Event, Transport

TRANSCRIPTS = sorted((Path(__file__).parent.parent / "data" / "transcripts").glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def make(t: dict[str, Any]) -> ClientConnection:
    transport = Transport(t["transport"])
    return ClientConnection(
        ClientConfig(
            app_id=42,
            user_id=t["user_id"],
            password=t["password"],
            chat_host=t["chat_host"],
            transport=transport,
            mechanisms=(t["mechanism"],),
            entropy=entropy(t["seed"]),
            wall_clock=wall_clock,
            require_tls=transport is not Transport.WEBSOCKET,
            allow_plain_unencrypted=transport is Transport.WEBSOCKET,
            websocket_host=t["websocket_host"],
        )
    )


def whole_chunks(data: bytes) -> list[bytes]:
    return [data]


def replay(
    t: dict[str, Any], chunker: Callable[[bytes], list[bytes]] = whole_chunks
) -> tuple[list[Event], bytes]:
    """Replay transcript ``t``; ``chunker`` re-splits each recorded chunk."""
    conn = make(t)
    conn.start(now=0)
    events: list[Event] = []
    sent: list[bytes] = []
    ws_server = WSConnection(ConnectionType.SERVER)

    def pump() -> None:
        while True:
            out = conn.data_to_send()
            if out:
                sent.append(out)
            batch = []
            while (event := conn.next_event()) is not None:
                batch.append(event)
            if not batch and not out:
                return
            events.extend(batch)
            for event in batch:
                # The same actions the recorder took.
                if isinstance(event, cubeproto.Connected):
                    conn.send(cubeproto.Ping(), now=0)
                elif isinstance(event, cubeproto.PongReceived):
                    conn.close(now=0)

    pump()
    for step in t["steps"]:
        kind = step["kind"]
        if kind == "tls":
            assert isinstance(events[-1], cubeproto.TlsUpgradeRequired)
            conn.tls_established(now=0)
        elif kind == "ws-accept":
            ws_server.receive_data(b"".join(sent))
            request = next(e for e in ws_server.events() if isinstance(e, Request))
            assert request.subprotocols == ["xmpp"]
            conn.receive_data(ws_server.send(AcceptConnection(subprotocol="xmpp")), now=0)
        elif kind == "eof":
            conn.receive_eof(now=0)
        else:
            for piece in chunker(base64.b64decode(step["b64"])):
                conn.receive_data(piece, now=0)
        pump()
    return events, b"".join(sent)


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.stem)
def test_replay_whole(path: Path) -> None:
    t = load(path)
    events, sent = replay(t)
    assert [type(e).__name__ for e in events] == t["events"]
    assert isinstance(events[-1], cubeproto.ConnectionClosed) and events[-1].clean
    assert any(isinstance(e, cubeproto.Authenticated) for e in events)
    if not t["transport"].endswith("websocket"):
        # Byte-exact: the client said exactly what it said to the real server.
        assert sent == b"".join(base64.b64decode(s) for s in t["client_sent"])


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.stem)
@given(data=st.data())
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_replay_split_anywhere_gives_identical_events(path: Path, data: st.DataObject) -> None:
    t = load(path)
    whole, whole_sent = replay(t)

    def random_split(chunk: bytes) -> list[bytes]:
        cuts = data.draw(
            st.lists(st.integers(min_value=0, max_value=len(chunk)), max_size=8), label="cuts"
        )
        points = sorted({0, len(chunk), *cuts})
        return [chunk[a:b] for a, b in itertools.pairwise(points)]

    split, split_sent = replay(t, random_split)
    assert split == whole
    if not t["transport"].endswith("websocket"):
        assert split_sent == whole_sent


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.stem)
def test_replay_one_byte_at_a_time(path: Path) -> None:
    t = load(path)
    whole, _ = replay(t)
    byte_by_byte, _ = replay(t, lambda chunk: [chunk[i : i + 1] for i in range(len(chunk))])
    assert byte_by_byte == whole


def test_there_are_transcripts_of_every_kind() -> None:
    kinds = {(load(p)["transport"], load(p)["mechanism"]) for p in TRANSCRIPTS}
    assert {t for t, _ in kinds} >= {"tcp", "direct-tls", "websocket"}
    assert {m for _, m in kinds} >= {"PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"}


def server_bytes(t: dict[str, Any]) -> bytes:
    """Everything the real server sent, in order (server WebSocket frames are unmasked,
    so their text is readable in place)."""
    return b"".join(base64.b64decode(s["b64"]) for s in t["steps"] if s["kind"] == "data")


def one(pattern: bytes, data: bytes) -> str:
    found = re.findall(pattern, data)
    assert len(found) == 1, (pattern, found)
    return str(found[0].decode())


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.stem)
def test_replayed_events_carry_what_the_server_said(path: Path) -> None:
    # Every field of every event, against values read from the real server's bytes with
    # plain patterns (not from an earlier run of this code): the stream ids of both
    # stream headers, the bound JID, the resumption id and window, the echoed presence,
    # the ping's result id, and a clean local close.
    t = load(path)
    events, _ = replay(t)
    data = server_bytes(t)
    headers = re.findall(rb"<(?:stream:stream|open) [^>]*>", data)
    stream_ids = [one(rb"\bid='([^']+)'", h) for h in headers]
    servers = [one(rb"\bfrom='([^']+)'", h) for h in headers]
    jid = one(rb"<jid>([^<]+)</jid>", data)
    enabled = re.findall(rb"<enabled [^>]*>", data)
    assert len(enabled) == 1
    ping_id = one(rb"<iq [^>]*from='localhost' type='result' id='([^']+:ping)'", data)
    presence = etree.fromstring(re.findall(rb"<presence [^>]*/>", data)[0])
    opened = [
        cubeproto.StreamOpened(stream_id=i, server=s)
        for i, s in zip(stream_ids, servers, strict=True)
    ]
    starttls = t["transport"] == "tcp"
    assert len(opened) == (3 if starttls else 2)
    expected: list[Event] = (
        [opened[0], cubeproto.TlsUpgradeRequired(), opened[1]] if starttls else opened[:1]
    )
    expected += [
        cubeproto.Authenticated(mechanism=t["mechanism"]),
        opened[-1],
        cubeproto.Bound(jid=jid),
        cubeproto.StreamManagementEnabled(
            resume_id=one(rb"\bid='([^']+)'", enabled[0]),
            max_resume_seconds=int(one(rb"\bmax='([0-9]+)'", enabled[0])),
        ),
        cubeproto.Connected(jid=jid, resumed=False),
    ]
    assert events[: len(expected)] == expected
    echo, pong, closed = events[len(expected) :]
    assert isinstance(echo, cubeproto.UnhandledStanza)
    echoed = etree.fromstring(echo.raw)
    assert echoed.tag == "{jabber:client}presence"
    assert dict(echoed.attrib) == dict(presence.attrib)
    assert pong == cubeproto.PongReceived(ping_id=ping_id, round_trip=0, error=None)
    assert closed == cubeproto.ConnectionClosed(reason=cubeproto.CloseReason.LOCAL, clean=True)


def websocket_view(sent: bytes) -> tuple[dict[bytes, bytes], list[str]]:
    """What a WebSocket server reads from a client's bytes: the upgrade request's headers
    (without the random Sec-WebSocket-Key) and the text messages, unmasked."""
    upgrade, _, frames = sent.partition(b"\r\n\r\n")
    server = WSConnection(ConnectionType.SERVER)
    server.receive_data(upgrade + b"\r\n\r\n")
    request_line, _, head = upgrade.partition(b"\r\n")
    assert request_line == b"GET /ws HTTP/1.1"
    headers = dict(line.split(b": ", 1) for line in head.split(b"\r\n"))
    assert len(base64.b64decode(headers.pop(b"Sec-WebSocket-Key"))) == 16
    assert isinstance(next(server.events()), Request)
    server.send(AcceptConnection(subprotocol="xmpp"))
    server.receive_data(frames)
    messages = []
    for event in server.events():
        if isinstance(event, CloseConnection):  # the closing handshake, as a message
            messages.append(f"close {event.code}")
            continue
        assert isinstance(event, TextMessage) and event.message_finished, event
        messages.append(event.data)
    return headers, messages


WEBSOCKET_TRANSCRIPTS = [p for p in TRANSCRIPTS if load(p)["transport"].endswith("websocket")]


@pytest.mark.parametrize("path", WEBSOCKET_TRANSCRIPTS, ids=lambda p: p.stem)
def test_websocket_client_bytes_equal_what_the_real_server_got(path: Path) -> None:
    # The frame masks and the key are random (wsproto draws them: see the xfail in
    # tests/package/test_sansio_boundary.py), so the bytes are compared as the server reads them:
    # every header of the upgrade but the key, and every message, unmasked.
    t = load(path)
    _, sent = replay(t)
    recorded = b"".join(base64.b64decode(s) for s in t["client_sent"])
    replayed_headers, replayed_messages = websocket_view(sent)
    recorded_headers, recorded_messages = websocket_view(recorded)
    assert replayed_headers == recorded_headers
    assert replayed_headers[b"Sec-WebSocket-Protocol"] == b"xmpp"
    assert replayed_messages == recorded_messages
    assert len(recorded_messages) >= 8
    assert '<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>' in recorded_messages
    assert recorded_messages[-1] == "close 1000"
