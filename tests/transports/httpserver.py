"""A small real HTTP/1.1 server for the adapter tests: h11 on a loopback socket, one thread
per connection, optional TLS.  Each test gives a handler that turns a request into a
:class:`Reply`; replies can misbehave on purpose (stall, cut the body, lie about length).

Request bodies are hashed as they arrive and kept only when small, and reply bodies may be
generators, so multi-megabyte transfers do not inflate the test process's memory.

Why not the local server: these tests need replies no correct server sends (a body cut
short, a wrong Content-Length, garbage instead of a status line, a stall, a connection
closed while idle), sent over a real socket so that the adapters meet them as they would
on the network.  What the local server can produce (the REST session lifecycle) runs
against it instead (tests/localserver/test_rest_lifecycle.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import h11

KEEP_LIMIT = 1 << 20


@dataclass
class Req:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes = b""
    size: int = 0
    sha256: str = ""
    connection: int = 0


@dataclass
class Reply:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | Iterable[bytes] = b""
    chunked: bool = False
    length: int | None = None  # Content-Length to claim (defaults to the real one)
    cut_after: int | None = None  # send this many body bytes, then close the socket
    stall: bool = False  # never answer
    close: bool = False  # close the connection after this reply (with Connection: close)
    drop: bool = False  # close the connection after this reply without announcing it


Handler = Callable[[Req], Reply]


class HttpTestServer:
    def __init__(self, handler: Handler, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.ssl_context = ssl_context
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.requests: list[Req] = []
        self.stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []
        self._accept = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept.start()

    @property
    def base_url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        host = "localhost" if self.ssl_context else "127.0.0.1"
        return f"{scheme}://{host}:{self.port}"

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        for s in self._socks:
            with contextlib.suppress(OSError):
                s.close()
        for t in self._threads:
            t.join(5)

    def __enter__(self) -> HttpTestServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self.stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(sock, self.connections), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, raw: socket.socket, number: int) -> None:
        sock: socket.socket = raw
        self._socks.append(raw)
        try:
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(raw, server_side=True)
                self._socks.append(sock)
            conn = h11.Connection(h11.SERVER)
            while not self.stop.is_set():
                req = self._read_request(sock, conn, number)
                if req is None:
                    return
                self.requests.append(req)
                reply = self.handler(req)
                if reply.stall:
                    self.stop.wait(30)
                    return
                if not self._write_reply(sock, conn, reply):
                    return
                if conn.our_state is h11.MUST_CLOSE or reply.close or reply.drop:
                    return
                conn.start_next_cycle()
        except (OSError, h11.ProtocolError, ssl.SSLError):
            return
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def _read_request(self, sock: socket.socket, conn: h11.Connection, number: int) -> Req | None:
        req: Req | None = None
        digest = hashlib.sha256()
        kept: list[bytes] = []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = sock.recv(65536)
                conn.receive_data(data)
                if not data and req is None:
                    return None
                continue
            if isinstance(event, h11.Request):
                req = Req(
                    method=event.method.decode(),
                    target=event.target.decode(),
                    headers={k.decode(): v.decode() for k, v in event.headers},
                    connection=number,
                )
            elif isinstance(event, h11.Data):
                assert req is not None
                req.size += len(event.data)
                digest.update(event.data)
                if req.size <= KEEP_LIMIT:
                    kept.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                assert req is not None
                req.sha256 = digest.hexdigest()
                req.body = b"".join(kept) if req.size <= KEEP_LIMIT else b""
                return req
            elif isinstance(event, h11.ConnectionClosed):
                return None

    def _write_reply(self, sock: socket.socket, conn: h11.Connection, reply: Reply) -> bool:
        headers = list(reply.headers)
        body = reply.body
        if reply.chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        elif isinstance(body, bytes):
            headers.append(
                ("Content-Length", str(reply.length if reply.length is not None else len(body)))
            )
        elif reply.length is not None:
            headers.append(("Content-Length", str(reply.length)))
        if reply.close:
            headers.append(("Connection", "close"))
        sock.sendall(conn.send(h11.Response(status_code=reply.status, headers=headers)) or b"")
        chunks = [body] if isinstance(body, bytes) else body
        sent = 0
        for chunk in chunks:
            if not chunk:
                continue
            if reply.cut_after is not None and sent + len(chunk) >= reply.cut_after:
                piece = chunk[: reply.cut_after - sent]
                frame = conn.send(h11.Data(data=piece)) if piece else b""
                sock.sendall(frame or b"")
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                return False
            if reply.length is not None and not reply.chunked and sent + len(chunk) > reply.length:
                # lie about the length: write raw bytes past what h11 would allow
                sock.sendall(chunk)
                return False
            sock.sendall(conn.send(h11.Data(data=chunk)) or b"")
            sent += len(chunk)
        if reply.length is not None and not reply.chunked and sent < reply.length:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            return False
        sock.sendall(conn.send(h11.EndOfMessage()) or b"")
        return True
