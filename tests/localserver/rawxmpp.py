"""A deliberately crude XMPP client over a raw blocking socket (direct TLS), for the
abuse tests: it can log in, enable resumption, resume, stop reading, or vanish without a
word -- things a well-behaved client never does.  Bytes are checked by substring search,
which is enough for the server's own, predictable output.
"""

from __future__ import annotations

import base64
import contextlib
import re
import socket
import ssl
import time

NS_STREAM = "http://etherx.jabber.org/streams"
HEADER = (
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    f"xmlns:stream='{NS_STREAM}' to='localhost' version='1.0'>"
)


def tls_context(ca_file: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)


class RawClient:
    """One direct-TLS connection to the local server."""

    def __init__(self, host: str, port: int, ca_file: str, *, rcvbuf: int | None = None) -> None:
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so that the window stays small
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(10)
        raw.connect((host, port))
        self.sock = tls_context(ca_file).wrap_socket(raw, server_hostname="localhost")
        self.buffer = b""
        self.resume_id: str | None = None
        self.jid: str | None = None
        #: What was read since XEP-0198 was enabled (to count what to acknowledge).
        self.since_enable: str | None = None

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode())

    def read_until(self, marker: str, timeout: float = 10.0) -> str:
        """Read until ``marker`` is in the buffer; return (and consume) the text up to
        and including it.  TimeoutError / EOFError otherwise."""
        wanted = marker.encode()
        deadline = time.monotonic() + timeout
        while wanted not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {marker!r} in {self.buffer[-300:]!r}")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"closed before {marker!r}: {self.buffer[-300:]!r}")
            self.buffer += chunk
        end = self.buffer.index(wanted) + len(wanted)
        text, self.buffer = self.buffer[:end], self.buffer[end:]
        decoded = text.decode()
        if self.since_enable is not None:
            self.since_enable += decoded
        return decoded

    def ack(self) -> None:
        """Acknowledge every stanza read so far (XEP-0198 ``<a h=.../>``)."""
        assert self.since_enable is not None
        h = len(re.findall(r"<(?:message|presence|iq)[ >/]", self.since_enable))
        self.send(f"<a xmlns='urn:xmpp:sm:3' h='{h}'/>")

    def read_to_eof(self, timeout: float = 10.0) -> bytes:
        """Everything until the server closes; TimeoutError if it does not."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the server did not close the connection")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                chunk = b""
            if not chunk:
                return self.buffer
            self.buffer += chunk

    def authenticate(self, username: str, password: str) -> str:
        """Open the stream and try PLAIN; the server's answer (``<success`` or
        ``<failure``...)."""
        self.send(HEADER)
        self.read_until("</stream:features>")
        token = base64.b64encode(f"\0{username}\0{password}".encode()).decode()
        self.send(
            f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>"
        )
        return self.read_until("</", timeout=10) + self.read_until(">")

    def login(self, username: str, password: str, *, resource: str, sm: bool = True) -> RawClient:
        """Authenticate, bind ``resource``, enable XEP-0198 with resumption (``sm``) and
        send initial presence."""
        answer = self.authenticate(username, password)
        assert "<success" in answer, answer
        self.send(HEADER)
        self.read_until("</stream:features>")
        self.send(
            "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            f"<resource>{resource}</resource></bind></iq>"
        )
        bound = self.read_until("</iq>")
        match = re.search(r"<jid>([^<]+)</jid>", bound)
        assert match, bound
        self.jid = match.group(1)
        if sm:
            self.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
            enabled = self.read_until("<enabled")
            enabled += self.read_until("/>")
            found = re.search(r'id="([^"]+)"', enabled)
            assert found, enabled
            self.resume_id = found.group(1)
            self.since_enable = self.buffer.decode()
        self.send("<presence/>")
        return self

    def resume(self, username: str, password: str, previd: str, h: int = 0) -> str:
        """Authenticate and resume ``previd`` having handled ``h`` stanzas; the text up to
        ``<resumed .../>`` (or the ``<failed>``)."""
        answer = self.authenticate(username, password)
        assert "<success" in answer, answer
        self.send(HEADER)
        self.read_until("</stream:features>")
        self.send(f"<resume xmlns='urn:xmpp:sm:3' previd='{previd}' h='{h}'/>")
        got = self.read_until('xmlns="urn:xmpp:sm:3"')
        return got + self.read_until(">")

    def vanish(self) -> None:
        """Drop the connection without closing the stream (a network cut, as the server
        sees it: the session stays resumable)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def chat(to: str, message_id: str, body: str) -> str:
    return f"<message type='chat' to='{to}' id='{message_id}'><body>{body}</body></message>"
