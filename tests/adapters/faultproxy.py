"""A fault-injecting TCP proxy on loopback, for the reconnect tests.

Each accepted connection is forwarded to the upstream address by two threads (one per
direction).  The proxy can *cut* connections (both sockets shut down, as a network
failure would look to each side), cut automatically after a random number of forwarded
bytes, or *black-hole* them (keep the sockets open but silently drop everything, as a
dead NAT mapping would).  Connections made after a black-hole started are forwarded
normally, so a client that detects the dead connection can recover.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class _Link:
    client: socket.socket
    upstream: socket.socket
    blackholed: bool = False
    closed: bool = False
    forwarded: int = 0
    cut_at: int | None = None

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@dataclass
class FaultProxy:
    """``FaultProxy(upstream_port).start()``; connect clients to ``proxy.port``."""

    upstream_port: int
    upstream_host: str = "127.0.0.1"
    #: Cut each connection after a random number of forwarded bytes in this range
    #: (``None``: never cut automatically).
    cut_after: tuple[int, int] | None = None
    seed: int = 0
    cuts: int = 0
    port: int = 0
    _links: list[_Link] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _listener: socket.socket | None = None
    _random: random.Random = field(default_factory=random.Random)

    def start(self) -> FaultProxy:
        self._random.seed(self.seed)
        listener = socket.create_server(("127.0.0.1", 0))
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            for link in self._links:
                link.close()

    def cut_all(self) -> int:
        """Cut every open connection; returns how many were cut."""
        with self._lock:
            open_links = [link for link in self._links if not link.closed]
            for link in open_links:
                link.close()
            self.cuts += len(open_links)
            return len(open_links)

    def blackhole_all(self) -> int:
        """Stop forwarding on every open connection (without closing them)."""
        with self._lock:
            open_links = [link for link in self._links if not link.closed]
            for link in open_links:
                link.blackholed = True
            return len(open_links)

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection((self.upstream_host, self.upstream_port))
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(client, upstream)
            with self._lock:
                if self.cut_after is not None:
                    link.cut_at = self._random.randint(*self.cut_after)
                self._links.append(link)
            threading.Thread(target=self._pump, args=(link, client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(link, upstream, client), daemon=True).start()

    def _pump(self, link: _Link, src: socket.socket, dst: socket.socket) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                with self._lock:
                    link.close()
                return
            with self._lock:
                if link.closed:
                    return
                if link.blackholed:
                    continue
                link.forwarded += len(data)
                cut = link.cut_at is not None and link.forwarded >= link.cut_at
                if cut:
                    # Forward a random prefix of this chunk, then cut mid-stream.
                    data = data[: self._random.randint(0, len(data))]
            try:
                if data:
                    dst.sendall(data)
            except OSError:
                pass
            if cut:
                with self._lock:
                    if not link.closed:
                        link.close()
                        self.cuts += 1
                return
