"""Issue 11 through real sockets: a peer of the running local server sends the holes of
issue 11 and a worst-case stanza; the server ends that peer's stream with the same
conditions as the in-memory server role, and other clients keep exchanging messages.

Timings are printed (``pytest -s`` shows them), never asserted: the machine is shared.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import pytest
from cubeproto.transports.localserver.testing import CubeUser, LocalChatClient, RunningServer
from hostile_cases import CASES as HOSTILE

from cubeproto.chat import MessageReceived

NewUser = Callable[..., CubeUser]
NewChat = Callable[..., LocalChatClient]

HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client'"
    b" xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>"
)
#: The worst shape of issue 11 at the default element limit (16,384 with the message):
#: before the fix, detaching it alone took about a second; 131k siblings took 6 s.
WORST = b"<message type='chat' id='w'>" + b"<a/>" * 16_383 + b"</message>"


def _raw_peer(server: RunningServer) -> socket.socket:
    """A plain TCP peer that has sent its stream header and read the server's features."""
    info = server.info
    sock = socket.create_connection((info.host, info.xmpp_port), timeout=20)
    sock.sendall(HEADER % info.domain.encode())
    got = b""
    while b"</stream:features>" not in got:
        data = sock.recv(65536)
        assert data, got
        got += data
    return sock


def _read_to_eof(sock: socket.socket) -> bytes:
    got = b""
    while True:
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not data:
            break
        got += data
    sock.close()
    return got


@pytest.mark.parametrize("name", list(HOSTILE))
def test_the_holes_end_the_stream_with_the_same_condition(
    cube_server: RunningServer, name: str
) -> None:
    data, condition = HOSTILE[name]
    sock = _raw_peer(cube_server)
    sock.sendall(data)
    got = _read_to_eof(sock)
    assert f"<{condition.value} ".encode() in got, got[-400:]
    assert got.endswith(b"</stream:stream>")


def test_a_worst_case_stanza_does_not_stall_other_clients(
    cube_server: RunningServer, cube_user: NewUser, cube_chat_client: NewChat
) -> None:
    alice, bob = cube_user("alice"), cube_user("bob")
    alice_chat, bob_chat = cube_chat_client(alice), cube_chat_client(bob)

    def exchange(i: int) -> float:
        start = time.perf_counter()
        alice_chat.send_message(to_user=bob.id, body=f"m{i}")
        bob_chat.wait_for(MessageReceived, body=f"m{i}")
        return time.perf_counter() - start

    baseline = [exchange(i) for i in range(5)]
    peers = [_raw_peer(cube_server) for _ in range(3)]
    answers: list[bytes] = []
    attack_seconds: list[float] = []

    def attack(sock: socket.socket) -> None:
        start = time.perf_counter()
        sock.sendall(WORST)
        answers.append(_read_to_eof(sock))
        attack_seconds.append(time.perf_counter() - start)

    threads = [threading.Thread(target=attack, args=(sock,)) for sock in peers]
    for thread in threads:
        thread.start()
    during = [exchange(i) for i in range(5, 20)]
    for thread in threads:
        thread.join(30)
    # Every attacker got a stream error (the stanza came before authentication); every
    # message of the honest pair arrived (wait_for raises otherwise).
    assert len(answers) == 3
    assert all(b"<stream:error>" in answer or b"<stream:error " in answer for answer in answers)
    ms = [round(1000 * s, 1) for s in baseline], [round(1000 * s, 1) for s in during]
    print(
        f"\nworst-case stanza ({len(WORST):,} bytes, 16,384 elements) x3 peers: "
        f"{', '.join(f'{1000 * s:.0f}' for s in attack_seconds)} ms until each stream error; "
        f"alice->bob exchange before: {ms[0]} ms, during: {ms[1]} ms (max {max(ms[1])} ms)"
    )
