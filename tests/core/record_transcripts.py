"""Record complete logins against the real ejabberd of the test suite.

    .venv/bin/python tests/core/record_transcripts.py

For each (transport, mechanism) it logs in with a deterministic entropy source and wall
clock, sends one ping, closes, and writes what the server sent -- decrypted, chunk by chunk
as the socket delivered it, with a marker where TLS started -- to
tests/data/transcripts/<name>.json.  tests/core/test_transcripts.py replays them.

Over WebSocket the server's 101 response depends on our random Sec-WebSocket-Key (wsproto
draws it), so it is recorded as a marker and regenerated at replay by wsproto's server
role; every later byte is the server's own (server frames are unmasked).
"""

from __future__ import annotations

import base64
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from ejabberd_server import running_or_started  # noqa: E402
from scripted import entropy, wall_clock  # noqa: E402

import cubeproto  # noqa: E402
from cubeproto import ClientConfig, ClientConnection, Transport  # noqa: E402

OUT = HERE.parent / "data" / "transcripts"
SEED = 1234


def record(name: str, transport: Transport, mechanism: str, port: int) -> None:
    server = running_or_started()
    user_id = 4_000_000 + abs(hash(name)) % 1_000_000
    password = f"pw-{name}"
    try:
        server.register(f"{user_id}-42", password)
    except Exception:
        server.ctl("change_password", f"{user_id}-42", server.domain, password)
    config = ClientConfig(
        app_id=42,
        user_id=user_id,
        password=password,
        chat_host=server.domain,
        transport=transport,
        mechanisms=(mechanism,),
        entropy=entropy(SEED),
        wall_clock=wall_clock,
        require_tls=transport is not Transport.WEBSOCKET,
        allow_plain_unencrypted=transport is Transport.WEBSOCKET,
        websocket_host=f"{server.domain}:{port}",
    )
    tls = server.ssl_context()
    sock: Any = socket.create_connection(("127.0.0.1", port), timeout=10)
    if transport is Transport.DIRECT_TLS:
        sock = tls.wrap_socket(sock, server_hostname=server.domain)
    conn = ClientConnection(config)
    steps: list[dict[str, str]] = []
    sent: list[str] = []
    now = 0.0
    conn.start(now=now)
    events: list[str] = []
    ws_upgrade_pending = transport is Transport.WEBSOCKET
    while True:
        out = conn.data_to_send()
        if out:
            sent.append(base64.b64encode(out).decode())
            sock.sendall(out)
        done = False
        while (event := conn.next_event()) is not None:
            events.append(type(event).__name__)
            if isinstance(event, cubeproto.TlsUpgradeRequired):
                sock = tls.wrap_socket(sock, server_hostname=server.domain)
                steps.append({"kind": "tls"})
                conn.tls_established(now=now)
            elif isinstance(event, cubeproto.Connected):
                conn.send(cubeproto.Ping(), now=now)
            elif isinstance(event, cubeproto.PongReceived):
                conn.close(now=now)
            elif isinstance(event, cubeproto.ConnectionClosed):
                done = True
        out = conn.data_to_send()
        if out:
            sent.append(base64.b64encode(out).decode())
            sock.sendall(out)
        if done:
            break
        data = sock.recv(65536)
        if ws_upgrade_pending:
            head, sep, rest = data.partition(b"\r\n\r\n")
            assert sep, "the 101 response arrived in pieces; record again"
            steps.append({"kind": "ws-accept"})
            conn.receive_data(head + sep, now=now)
            ws_upgrade_pending = False
            data = rest
            if not data:
                continue
        if not data:
            steps.append({"kind": "eof"})
            conn.receive_eof(now=now)
            continue
        steps.append({"kind": "data", "b64": base64.b64encode(data).decode()})
        conn.receive_data(data, now=now)
    sock.close()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(
        json.dumps(
            {
                "recorded": time.strftime("%Y-%m-%d"),
                "server": "ejabberd 23.01 (Debian bookworm), scripts/ejabberd",
                "transport": transport.value,
                "mechanism": mechanism,
                "user_id": user_id,
                "password": password,
                "chat_host": server.domain,
                "websocket_host": f"{server.domain}:{port}",
                "seed": SEED,
                "steps": steps,
                "client_sent": sent,
                "events": events,
            },
            indent=1,
        )
        + "\n"
    )
    print(name, events)


def main() -> None:
    server = running_or_started()
    ws_port = int(server.ws_url.rsplit(":", 1)[1].split("/")[0])
    record("tcp-starttls-scram-sha-1", Transport.TCP, "SCRAM-SHA-1", server.c2s_port)
    record("tcp-starttls-scram-sha-256", Transport.TCP, "SCRAM-SHA-256", server.c2s_port)
    record("tcp-starttls-plain", Transport.TCP, "PLAIN", server.c2s_port)
    record("direct-tls-scram-sha-256", Transport.DIRECT_TLS, "SCRAM-SHA-256", server.c2s_tls_port)
    record("direct-tls-plain", Transport.DIRECT_TLS, "PLAIN", server.c2s_tls_port)
    record("websocket-scram-sha-1", Transport.WEBSOCKET, "SCRAM-SHA-1", ws_port)
    record("websocket-plain", Transport.WEBSOCKET, "PLAIN", ws_port)


if __name__ == "__main__":
    main()
