"""Minimal reproduction: ejabberd 23.01 cannot resume a WebSocket session cut while it writes.

Independent of cubeproto's client: a raw RFC 7395 client (plain sockets + wsproto, SASL
PLAIN over ws:// on loopback) logs in, enables stream management with resumption, makes
the server write (a burst of pings, each answered), and resets the TCP connection without
reading.  It then reconnects and sends ``<resume/>``, timing the answer.  Repeated
``--rounds`` times; prints how many resumptions succeeded and how long failures took.

    python scripts/ejabberd/ws_resume_race.py --rounds 20      # needs the test ejabberd

Mechanism (read from the installed 23.01 beams, which carry debug info):
``ejabberd_http_ws:route_text/2`` sends ``{text_with_reply, Data, self()}`` to the
WebSocket process and waits for ``{text_reply, Pid}`` with no timeout and no monitor.
When the TCP connection closes, ``ejabberd_websocket:ws_loop/5`` sends ``closed`` and
exits; a ``text_with_reply`` that reaches it after that is never answered, so the
``ejabberd_http_ws`` process blocks forever, the c2s process blocks 15 s in
``send_xml``, and the new connection's state copy (also 15 s) times out: the server logs
"Cannot resume session: Session state copying timed out", answers ``<failed/>`` and stops
the old session.  Over TCP and direct TLS the same cuts resume every time.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import re
import socket
import struct
import sys
import time
from pathlib import Path

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from ejabberd_server import AccountExists, running_or_started

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"


class RawWs:
    """A blocking XMPP-over-WebSocket client that knows nothing but frames."""

    def __init__(self, port: int, domain: str) -> None:
        self.domain = domain
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.sock.sendall(
            self.ws.send(Request(host=f"{domain}:{port}", target="/ws", subprotocols=["xmpp"]))
        )
        self.texts: list[str] = []
        self._partial = ""
        self._accepted = False
        self.wait(lambda: self._accepted)

    def send(self, xml: str) -> None:
        self.sock.sendall(self.ws.send(TextMessage(data=xml)))

    def _pump(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("server closed")
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, AcceptConnection):
                self._accepted = True
            elif isinstance(event, TextMessage):
                self._partial += event.data
                if event.message_finished:
                    self.texts.append(self._partial)
                    self._partial = ""

    def wait(self, done: object) -> None:
        assert callable(done)
        while not done():
            self._pump()

    def expect(self, pattern: str) -> str:
        """The first received frame matching ``pattern`` (frames before it are dropped)."""
        while True:
            while self.texts:
                text = self.texts.pop(0)
                if re.search(pattern, text):
                    return text
            self._pump()

    def login(self, user: str, password: str) -> None:
        self.send(f'<open xmlns="{FRAMING}" to="{self.domain}" version="1.0"/>')
        self.expect("<stream:features|<features")
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        self.send(
            f'<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">{token}</auth>'
        )
        self.expect("<success")
        self.send(f'<open xmlns="{FRAMING}" to="{self.domain}" version="1.0"/>')
        self.expect("<stream:features|<features")

    def reset(self) -> None:
        """Abort the TCP connection (RST), as a network failure would."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


def one_round(port: int, domain: str, user: str, password: str, burst: int) -> tuple[bool, float]:
    first = RawWs(port, domain)
    first.login(user, password)
    first.send('<iq type="set" id="b1"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>')
    first.expect("id=\"b1\"|id='b1'")
    first.send('<enable xmlns="urn:xmpp:sm:3" resume="true"/>')
    enabled = first.expect("<enabled")
    match = re.search(r"""id=["']([^"']+)""", enabled)
    assert match, enabled
    previd = match.group(1)
    first.send("<presence/>")
    for i in range(burst):  # the server now writes an answer (and acks) for each
        first.send(f'<iq type="get" id="p{i}"><ping xmlns="urn:xmpp:ping"/></iq>')
        first.send('<r xmlns="urn:xmpp:sm:3"/>')
    time.sleep(0.005)
    first.reset()

    second = RawWs(port, domain)
    second.login(user, password)
    started = time.monotonic()
    second.send(f'<resume xmlns="urn:xmpp:sm:3" h="0" previd="{previd}"/>')
    answer = second.expect("<resumed|<failed")
    took = time.monotonic() - started
    second.send(f'<close xmlns="{FRAMING}"/>')
    second.reset()
    return answer.startswith("<resumed"), took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--burst", type=int, default=200)
    args = parser.parse_args()
    server = running_or_started()
    user, password = f"{int(time.time())}-42", "race-pw"
    with contextlib.suppress(AccountExists):
        server.register(user, password)
    ok = 0
    failures: list[float] = []
    for n in range(args.rounds):
        resumed, took = one_round(server.http_port, server.domain, user, password, args.burst)
        ok += resumed
        if not resumed:
            failures.append(took)
        print(f"round {n + 1}: {'resumed' if resumed else 'FAILED'} in {took:.2f} s", flush=True)
    print(
        f"{ok}/{args.rounds} resumed; failures answered after "
        + ", ".join(f"{t:.1f} s" for t in failures)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
