"""The local server under abuse, through real sockets (issue 16, items 1-4 and 10).

* a connect-and-close storm on every port (TLS handshakes aborted at every step,
  ``<starttls/>`` then close, partial ClientHellos, half HTTP requests and WebSocket
  upgrades) against ``cubeproto serve`` as a subprocess, while two clients keep exchanging
  messages (their round trips printed, not asserted);
* a session that stops reading is cut, the other session of the same user keeps getting
  every message (latencies printed), and the cut session's unacknowledged stanzas wait
  for its resumption;
* every state of a connection has a deadline (small configured values here);
* a message for a user whose sessions are all detached reaches the one that resumes and a
  fresh login, and never a detached session while a connected one exists;
* what the server logs (``cubeproto.localserver``), without credentials.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cubeproto.transports.localserver.server import ServerLimits
from cubeproto.transports.localserver.testing import (
    CubeUser,
    LocalChatClient,
    RunningServer,
    client_kwargs,
    running_server,
)

from cubeproto import ClientConfig, Transport
from cubeproto.chat import ChatSession, MessageReceived

from .rawxmpp import HEADER, RawClient, chat, tls_context

LOGGER = "cubeproto.localserver"


def username(user: CubeUser) -> str:
    return f"{user.id}-{user.app.id}"


def bare(user: CubeUser) -> str:
    return f"{user.id}-{user.app.id}@localhost"


def raw_login(server: RunningServer, user: CubeUser, resource: str, **kw: object) -> RawClient:
    info = server.info
    assert info.tls_port is not None and info.ca_file is not None
    client = RawClient(info.host, info.tls_port, info.ca_file, **kw)  # type: ignore[arg-type]
    return client.login(username(user), user.password, resource=resource)


def raw_connect(server: RunningServer) -> RawClient:
    info = server.info
    assert info.tls_port is not None and info.ca_file is not None
    return RawClient(info.host, info.tls_port, info.ca_file)


def wait_until(predicate: object, timeout: float = 15.0) -> None:
    """Poll ``predicate`` (a callable) until true; the deadline only bounds a hang."""
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.05)


def messages(text: str) -> list[str]:
    return re.findall(r"<message[^>]* id=\"([^\"]+)\"", text)


# ---------------------------------------------------------------------- item 2: deadlines

DEADLINES = ServerLimits(
    tls_handshake_timeout=1.0,
    negotiation_timeout=2.0,
    http_timeout=1.0,
    close_timeout=0.5,
)


@pytest.fixture(scope="module")
def short_resume() -> Iterator[RunningServer]:
    """Default deadlines; sessions awaiting resumption expire after 4 s."""
    with running_server(resume_seconds=4) as server:
        yield server


def plain(server: RunningServer, port: int) -> socket.socket:
    return socket.create_connection((server.info.host, port), timeout=15)


def read_to_eof(sock: socket.socket | ssl.SSLSocket) -> bytes:
    """Everything until the server closes (socket timeout 15 s: only bounds a hang)."""
    got = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            return got
        if not chunk:
            return got
        got += chunk


def read_features(sock: socket.socket) -> bytes:
    got = b""
    while b"</stream:features>" not in got:
        chunk = sock.recv(65536)
        assert chunk, got
        got += chunk
    return got


def test_every_connection_state_has_a_deadline(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    with running_server(limits=DEADLINES) as server:
        info = server.info
        assert info.tls_port is not None
        alice = server.user(server.add_app(), "alice", "alice-pass")
        # Every connection is opened first and brought to the state under test; then each
        # is read until the server closes it (the deadlines run concurrently).
        silent_tls = plain(server, info.tls_port)  # direct TLS, nothing sent
        half_hello = plain(server, info.tls_port)  # half a ClientHello, then silence
        half_hello.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(20))
        starttls = plain(server, info.xmpp_port)  # <proceed/>, then silence
        starttls.sendall(HEADER.encode())
        read_features(starttls)
        starttls.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        after_tls = raw_connect(server)  # TLS done, then silence
        authed = raw_connect(server)  # authenticated, never bound
        assert "<success" in authed.authenticate(username(alice), alice.password)
        tcp = plain(server, info.xmpp_port)  # TCP, nothing at all
        ws = plain(server, info.ws_port)  # a WebSocket upgrade cut in half
        ws.sendall(b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n")
        http_half = plain(server, info.http_port)  # half an HTTP request
        http_half.sendall(b"GET /users.json HTTP/1.1\r\nHost: loc")
        http_idle = plain(server, info.http_port)  # an HTTP connection with no request
        assert read_to_eof(silent_tls) == b""
        assert read_to_eof(half_hello) == b""
        assert b"<proceed" in read_to_eof(starttls)  # never closed before issue 16
        assert b"connection-timeout" in after_tls.read_to_eof()
        assert b"connection-timeout" in authed.read_to_eof()
        assert b"connection-timeout" in read_to_eof(tcp)
        read_to_eof(ws)
        assert read_to_eof(http_half) == b""
        assert read_to_eof(http_idle) == b""
        for sock in (silent_tls, half_hello, starttls, tcp, ws, http_half, http_idle):
            sock.close()
        after_tls.close()
        authed.close()
    texts = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert sum("deadline: TLS handshake" in t for t in texts) >= 3, texts
    assert sum("negotiation took too long" in t for t in texts) >= 4, texts
    assert sum("deadline: HTTP connection" in t for t in texts) >= 2, texts


def test_a_bound_silent_session_keeps_living_unless_an_idle_timeout_is_set() -> None:
    with running_server(limits=ServerLimits(negotiation_timeout=1.5, idle_timeout=1.0)) as server:
        alice = server.user(server.add_app(), "alice", "alice-pass")
        client = raw_login(server, alice, "idle")
        assert b"idle for too long" in client.read_to_eof()
        client.close()
    # Default limits: a bound session that says nothing outlives every deadline before
    # binding -- shown by a connection opened after it, which that deadline closes.
    with running_server(limits=ServerLimits(negotiation_timeout=1.5)) as server:
        alice = server.user(server.add_app(), "alice", "alice-pass")
        client = raw_login(server, alice, "idle")
        marker = plain(server, server.info.xmpp_port)
        assert b"connection-timeout" in read_to_eof(marker)
        marker.close()
        client.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
        assert 'type="result"' in client.read_until('id="p1"')
        client.close()


# ---------------------------------------------------------------------- item 4: routing


def test_detached_sessions_do_not_swallow_messages(short_resume: RunningServer) -> None:
    server = short_resume
    hub = server.server.hub
    app = server.add_app()
    alice = server.user(app, "alice", "alice-pass")
    bob = server.user(app, "bob", "bob-pass")
    sender = raw_login(server, bob, "b")
    # Two of Alice's sessions, cut at the socket: both await resumption.
    older = raw_login(server, alice, "older")
    newer = raw_login(server, alice, "newer")
    older_id, newer_id = older.resume_id, newer.resume_id
    assert older_id and newer_id
    older.vanish()
    newer.vanish()
    wait_until(lambda: server.call(lambda: len(hub.sessions_of(alice.id))) == 0)
    sender.send(chat(bare(alice), "m1", "while both are detached"))
    sender.send("<iq type='get' id='sync1'><ping xmlns='urn:xmpp:ping'/></iq>")
    sender.read_until('id="sync1"')
    # The newer one resumes and gets it (before: it went to the older one only).
    resumed = raw_connect(server)
    answer = resumed.resume(username(alice), alice.password, newer_id)
    assert "<resumed" in answer, answer
    resumed.send("<iq type='get' id='sync2'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert "m1" in messages(resumed.read_until('id="sync2"'))
    # A fresh login while the older session still awaits resumption: the resumed one
    # had it, so it is not replayed; and with connected sessions, a new message never
    # goes to the detached one.
    sender.send(chat(bare(alice), "m2", "while one is connected"))
    resumed.send("<iq type='get' id='sync3'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert "m2" in messages(resumed.read_until('id="sync3"'))
    extras = server.call(lambda: [x for d in hub.detached.values() for x in d.extra])
    assert [x for x in extras if 'id="m2"' in x] == []
    # The older session expires: m1 is not stored a second time.
    wait_until(lambda: server.call(lambda: older_id not in hub.detached))
    assert server.call(hub.store.offline_count, alice.id) == 0
    resumed.close()
    sender.close()


def test_a_fresh_login_gets_what_waited_for_detached_sessions(
    short_resume: RunningServer,
) -> None:
    server = short_resume
    hub = server.server.hub
    app = server.add_app()
    alice = server.user(app, "alice", "alice-pass")
    bob = server.user(app, "bob", "bob-pass")
    sender = raw_login(server, bob, "b")
    first = raw_login(server, alice, "first")
    second = raw_login(server, alice, "second")
    first.vanish()
    second.vanish()
    wait_until(lambda: server.call(lambda: len(hub.sessions_of(alice.id))) == 0)
    sender.send(chat(bare(alice), "w1", "waiting"))
    sender.send("<iq type='get' id='sync1'><ping xmlns='urn:xmpp:ping'/></iq>")
    sender.read_until('id="sync1"')
    # A fresh login, both old sessions still awaiting resumption (before: nothing came
    # until the resumption window ended).
    fresh = raw_login(server, alice, "fresh")
    fresh.send("<iq type='get' id='sync2'><ping xmlns='urn:xmpp:ping'/></iq>")
    got = fresh.read_until('id="sync2"')
    assert messages(got).count("w1") == 1
    assert "urn:xmpp:delay" in got
    fresh.ack()
    fresh.send("</stream:stream>")
    fresh.read_to_eof()
    fresh.close()
    # Both expire; nothing comes twice to the next login.
    wait_until(lambda: server.call(lambda: len(hub.detached)) == 0)
    again = raw_login(server, alice, "again")
    again.send("<iq type='get' id='sync3'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert "w1" not in messages(again.read_until('id="sync3"'))
    again.close()
    sender.close()


def test_expired_sessions_leave_their_messages_for_the_next_login(
    short_resume: RunningServer,
) -> None:
    server = short_resume
    hub = server.server.hub
    app = server.add_app()
    alice = server.user(app, "alice", "alice-pass")
    bob = server.user(app, "bob", "bob-pass")
    sender = raw_login(server, bob, "b")
    gone = raw_login(server, alice, "gone")
    gone_id = gone.resume_id
    gone.vanish()
    wait_until(lambda: server.call(lambda: len(hub.sessions_of(alice.id))) == 0)
    sender.send(chat(bare(alice), "x1", "for later"))
    sender.send("<iq type='get' id='sync1'><ping xmlns='urn:xmpp:ping'/></iq>")
    sender.read_until('id="sync1"')
    wait_until(lambda: server.call(lambda: gone_id not in hub.detached))
    later = raw_login(server, alice, "later")
    later.send("<iq type='get' id='sync2'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert messages(later.read_until('id="sync2"')).count("x1") == 1
    later.close()
    sender.close()


# ---------------------------------------------------------------------- item 3: slow readers


def chat_client(server: RunningServer, user: CubeUser) -> LocalChatClient:
    client = LocalChatClient(
        user.chat_config(Transport.DIRECT_TLS), **client_kwargs(user, Transport.DIRECT_TLS)
    )
    client.connect()
    return client


@pytest.mark.parametrize(
    ("limits", "reason"),
    [
        pytest.param(
            ServerLimits(max_queued_bytes=64 * 1024, write_timeout=60),
            "bytes waiting to be written (max 65536)",
            id="queue-bound",
        ),
        pytest.param(
            ServerLimits(write_timeout=1.0), "a write blocked for over 1.0 s", id="write-timeout"
        ),
    ],
)
def test_a_reader_that_stops_is_cut_and_never_stalls_the_others(
    limits: ServerLimits, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    with running_server(limits=limits) as server:
        hub = server.server.hub
        app = server.add_app()
        alice = server.user(app, "alice", "alice-pass")
        bob = server.user(app, "bob", "bob-pass")
        # Bob's second session logs in, then never reads again (small receive window).
        stuck = raw_login(server, bob, "stuck", rcvbuf=4096)
        stuck_id = stuck.resume_id
        a, b = chat_client(server, alice), chat_client(server, bob)
        try:
            body = "x" * 8000
            latencies = []
            sent = []
            for n in range(400):
                start = time.perf_counter()
                mid = a.send_message(to_user=bob.id, body=f"{n} {body}")
                b.wait_for(MessageReceived, message_id=mid, timeout=30)
                latencies.append(time.perf_counter() - start)
                sent.append(mid)
                if n >= 20 and server.call(lambda: stuck_id in hub.detached):
                    break
            wait_until(lambda: server.call(lambda: stuck_id in hub.detached), timeout=30)
            print(
                f"\n{limits}: {len(latencies)} messages to the reading session while the other "
                f"stalled; latency median {statistics.median(latencies) * 1000:.1f} ms, "
                f"max {max(latencies) * 1000:.1f} ms"
            )
            # After the cut, delivery goes on to the session that reads.
            mid = a.send_message(to_user=bob.id, body="after the cut")
            assert b.wait_for(MessageReceived, message_id=mid).body == "after the cut"
            # The cut session was not closed cleanly: it awaits resumption with what it
            # did not acknowledge (XEP-0198), nothing of it was lost.
            unacked = server.call(lambda: len(hub.detached[stuck_id].session.unacked))
            assert unacked > 0
            cut = [
                r for r in caplog.records if r.name == LOGGER and "cut slow session" in r.message
            ]
            assert len(cut) == 1 and cut[0].levelno == logging.WARNING
            assert f"{bob.id}-{app.id}@localhost/stuck" in cut[0].getMessage()
            assert reason in cut[0].getMessage()
            # It resumes on a new connection and gets everything it had not handled.
            again = raw_connect(server)
            answer = again.resume(username(bob), bob.password, stuck_id)
            assert "<resumed" in answer
            again.send("<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>")
            got = messages(again.read_until('id="sync"', timeout=30))
            assert set(sent) <= set(got) | set(messages(stuck.buffer.decode(errors="replace")))
            again.close()
        finally:
            a.disconnect()
            b.disconnect()
            stuck.close()


# ---------------------------------------------------------------------- item 10: logging


def test_logins_failures_and_disconnections_are_logged_without_credentials(
    short_resume: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = short_resume
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    alice = server.user(server.add_app(), "alice", "s3cret-Pa55word")
    wrong = raw_connect(server)
    answer = wrong.authenticate(username(alice), "wrong-Pa55word")
    assert "<failure" in answer
    wrong.close()
    ok = raw_login(server, alice, "phone")
    ok.send("</stream:stream>")
    ok.read_to_eof()
    ok.close()
    wait_until(
        lambda: any(
            "disconnected" in r.getMessage() and "phone" in r.getMessage() for r in caplog.records
        )
    )
    records = [r for r in caplog.records if r.name == LOGGER]
    texts = [r.getMessage() for r in records]
    assert any(
        r.levelno == logging.WARNING
        and "authentication failed" in r.getMessage()
        and username(alice) in r.getMessage()
        for r in records
    ), texts
    assert any(f"login: user {alice.id}, resource 'phone'" in t for t in texts), texts
    assert any(re.search(r"connection from 127\.0\.0\.1:\d+ on tls", t) for t in texts), texts
    assert any("disconnected" in t and "phone" in t and "clean" in t for t in texts), texts
    for secret in ("s3cret-Pa55word", "wrong-Pa55word"):
        assert not any(secret in t for t in texts)
        import base64

        encoded = base64.b64encode(f"\0{username(alice)}\0{secret}".encode()).decode()
        assert not any(encoded in t for t in texts)


# ---------------------------------------------------------------------- item 1: the storm


@contextlib.contextmanager
def serve_process(tmp_path: Path) -> Iterator[dict[str, object]]:
    """``cubeproto serve`` on free ports; its parsed banner, and its log file."""
    script = Path(sys.executable).with_name("cubeproto")
    args = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-m", "cubeproto.transports.localserver.cli"]
    )
    log_file = tmp_path / "serve.log"
    out_file = tmp_path / "serve.out"
    with open(log_file, "w") as err, open(out_file, "w") as out:
        process = subprocess.Popen(
            [
                *args,
                "serve",
                "--xmpp-port=0",
                "--tls-port=0",
                "--ws-port=0",
                "--http-port=0",
                "--app-id=321",
                "--auth-key=storm-key",
                "--user=alice:alice-pass",
                "--user=bob:bob-pass",
                "--log-level=info",
                "--tls-handshake-timeout=2",
                "--http-timeout=2",
            ],
            stdout=out,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 30
        text = ""
        while "chat domain" not in text:
            assert process.poll() is None, log_file.read_text()
            assert time.monotonic() < deadline, text
            time.sleep(0.05)
            text = out_file.read_text()
        ports = re.search(
            r"XMPP \(STARTTLS\) ([\d.]+):(\d+), direct TLS :(\d+), "
            r"WebSocket ws://[\d.]+:(\d+)/ws, REST http://[\d.]+:(\d+)",
            text,
        )
        ca = re.search(r"CA certificate (\S+)", text)
        users = {m[0]: int(m[1]) for m in re.findall(r"user (\w+): id (\d+)", text)}
        assert ports and ca, text
        yield {
            "process": process,
            "host": ports.group(1),
            "xmpp": int(ports.group(2)),
            "tls": int(ports.group(3)),
            "ws": int(ports.group(4)),
            "http": int(ports.group(5)),
            "ca": ca.group(1),
            "users": users,
            "log": log_file,
        }
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=20)


def _storm_once(host: str, ports: dict[str, int], ca: str, n: int) -> None:
    """One of each abuse, on every port; every socket error is the point, not a failure."""
    context = tls_context(ca)
    kind = n % 9

    def connect(port: int) -> socket.socket:
        return socket.create_connection((host, port), timeout=5)

    with contextlib.suppress(OSError, ssl.SSLError):
        if kind == 0:  # connect, close: every port (a port scan)
            for port in ports.values():
                connect(port).close()
        elif kind == 1:  # direct TLS: a partial ClientHello, then close
            sock = connect(ports["tls"])
            sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(32))
            sock.close()
        elif kind == 2:  # direct TLS: the handshake aborted after the ServerHello
            sock = connect(ports["tls"])
            sock.setblocking(False)
            tls = context.wrap_socket(
                sock, server_hostname="localhost", do_handshake_on_connect=False
            )
            with contextlib.suppress(ssl.SSLWantReadError, ssl.SSLWantWriteError):
                tls.do_handshake()
            time.sleep(0.005)
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            tls.close()
        elif kind == 3:  # STARTTLS: <proceed/>, then close
            sock = connect(ports["xmpp"])
            sock.sendall(HEADER.encode())
            got = b""
            while b"</stream:features>" not in got:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                got += chunk
            sock.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            sock.recv(65536)
            sock.close()
        elif kind == 4:  # STARTTLS, <proceed/>, half a ClientHello, then close
            sock = connect(ports["xmpp"])
            sock.sendall(HEADER.encode() + b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            got = b""
            while b"<proceed" not in got:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                got += chunk
            sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00")
            sock.close()
        elif kind == 5:  # HTTP: half a request
            sock = connect(ports["http"])
            sock.sendall(b"POST /session.json HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            sock.close()
        elif kind == 6:  # HTTP and WebSocket: garbage
            for port in (ports["http"], ports["ws"]):
                sock = connect(port)
                sock.sendall(b"\x00\xff garbage \r\n\r\n")
                sock.close()
        elif kind == 7:  # WebSocket: half an upgrade
            sock = connect(ports["ws"])
            sock.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: webs")
            sock.close()
        else:  # reset (RST) right after connecting, on every port
            for port in ports.values():
                sock = connect(port)
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                sock.close()


def test_a_storm_of_aborted_connections_on_every_port_takes_nothing_down(
    tmp_path: Path,
) -> None:
    with serve_process(tmp_path) as served:
        host = str(served["host"])
        ca = str(served["ca"])
        users: dict[str, int] = served["users"]  # type: ignore[assignment]
        ports = {k: int(served[k]) for k in ("xmpp", "tls", "ws", "http")}  # type: ignore[call-overload]
        process: subprocess.Popen[bytes] = served["process"]  # type: ignore[assignment]

        def config(login: str, transport: Transport) -> ClientConfig:
            return ClientConfig(
                app_id=321,
                user_id=users[login],
                password=f"{login}-pass",
                entropy=os.urandom,
                wall_clock=time.time,
                chat_host="localhost",
                handler_factory=ChatSession,
                transport=transport,
            )

        stop = threading.Event()
        storms = [0]

        def storm() -> None:
            n = 0
            while not stop.is_set():
                _storm_once(host, ports, ca, n)
                n += 1
            storms[0] += n

        with (
            LocalChatClient(
                config("alice", Transport.TCP), host=host, port=ports["xmpp"], ca_file=ca
            ) as a,
            LocalChatClient(
                config("bob", Transport.DIRECT_TLS), host=host, port=ports["tls"], ca_file=ca
            ) as b,
        ):
            threads = [threading.Thread(target=storm, daemon=True) for _ in range(3)]
            for thread in threads:
                thread.start()
            rtts = []
            try:
                for n in range(150):
                    start = time.perf_counter()
                    mid = a.send_message(to_user=users["bob"], body=f"ping {n}")
                    got = b.wait_for(MessageReceived, message_id=mid, timeout=20)
                    back = b.send_message(to_user=users["alice"], body=f"pong {got.body}")
                    a.wait_for(MessageReceived, message_id=back, timeout=20)
                    rtts.append(time.perf_counter() - start)
                    assert process.poll() is None
            finally:
                stop.set()
                for thread in threads:
                    thread.join(timeout=30)
        print(
            f"\nstorm: {storms[0]} abusive connection rounds on 4 ports; {len(rtts)} round "
            f"trips alice->bob->alice, median {statistics.median(rtts) * 1000:.1f} ms, "
            f"max {max(rtts) * 1000:.1f} ms"
        )
        assert storms[0] >= 9  # every kind of abuse ran at least once
        assert process.poll() is None, Path(str(served["log"])).read_text()[-3000:]
        # Every listener still answers.
        with (
            socket.create_connection((host, ports["tls"]), timeout=10) as sock,
            tls_context(ca).wrap_socket(sock, server_hostname="localhost") as tls,
        ):
            tls.sendall(HEADER.encode())
            assert b"stream" in tls.recv(65536)
        with socket.create_connection((host, ports["http"]), timeout=10) as sock:
            sock.sendall(b"GET /nothing.json HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 ")
        with socket.create_connection((host, ports["xmpp"]), timeout=10) as sock:
            sock.sendall(HEADER.encode())
            got = b""
            while b"</stream:features>" not in got:
                got += sock.recv(65536)
            assert b"starttls" in got
        log_text = Path(str(served["log"])).read_text()
        assert "TLS handshake with" in log_text
        assert "connection from" in log_text and "on tls" in log_text
        assert "Traceback" not in log_text, log_text[-3000:]
