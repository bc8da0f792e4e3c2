"""Log in to a ConnectyCube (or any XMPP) server over a plain blocking socket using only
the sans-IO core: the whole adapter loop in about forty lines.

    python examples/blocking_login.py HOST PORT USER_ID APP_ID PASSWORD [CA_FILE]

Port 5222 uses STARTTLS; port 5223 direct TLS.  It connects, pings the server once and
closes.
"""

from __future__ import annotations

import os
import socket
import ssl
import sys
import time

import cubeproto
from cubeproto import ClientConfig, ClientConnection, Transport


def main(host: str, port: int, user_id: int, app_id: int, password: str, ca: str | None) -> None:
    direct_tls = port == 5223
    config = ClientConfig(
        app_id=app_id,
        user_id=user_id,
        password=password,
        chat_host=host,
        transport=Transport.DIRECT_TLS if direct_tls else Transport.TCP,
        entropy=os.urandom,
        wall_clock=time.time,
    )
    tls = ssl.create_default_context(cafile=ca)
    sock: socket.socket = socket.create_connection((host, port), timeout=10)
    if direct_tls:
        sock = tls.wrap_socket(sock, server_hostname=host)
    conn = ClientConnection(config)
    conn.start(now=time.monotonic())
    while True:
        sock.sendall(conn.data_to_send())
        while (event := conn.next_event()) is not None:
            print(type(event).__name__, event)
            if isinstance(event, cubeproto.TlsUpgradeRequired):
                sock = tls.wrap_socket(sock, server_hostname=host)
                conn.tls_established(now=time.monotonic())
            elif isinstance(event, cubeproto.Connected):
                conn.send(cubeproto.Ping(), now=time.monotonic())
            elif isinstance(event, cubeproto.PongReceived):
                conn.close(now=time.monotonic())
            elif isinstance(event, cubeproto.ConnectionClosed):
                sock.close()
                return
        sock.sendall(conn.data_to_send())
        deadline = conn.get_timer()
        sock.settimeout(None if deadline is None else max(0.0, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except TimeoutError:
            conn.handle_timer(now=time.monotonic())
            continue
        if data:
            conn.receive_data(data, now=time.monotonic())
        else:
            conn.receive_eof(now=time.monotonic())


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        args[0],
        int(args[1]),
        int(args[2]),
        int(args[3]),
        args[4],
        args[5] if len(args) > 5 else None,
    )
