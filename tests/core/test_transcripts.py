"""Replay logins recorded against the real ejabberd (tests/core/record_transcripts.py):
TCP + STARTTLS, direct TLS and WebSocket with SCRAM-SHA-1, SCRAM-SHA-256 and PLAIN.

Each transcript is replayed whole, and again split at random points (a hypothesis
property): the events must be identical whatever the chunking, and for TCP every byte the
client sends must equal what it sent to the real server.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scripted import entropy, wall_clock
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request

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
