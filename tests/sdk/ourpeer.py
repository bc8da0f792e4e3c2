"""Our client as a test peer: a ``ClientConnection`` with the chat layer, driven by a small
blocking socket loop on a background thread.

The loop is the adapter contract in its plainest form (it mirrors
examples/blocking_login.py): move bytes between the socket and the connection, run the TLS
handshake when asked, wake the core when its timer is due.  All socket I/O happens on the
pump thread; the test thread only queues commands (under a lock) and wakes the pump through
a socketpair, so a TLS socket is never read and written from two threads at once.

Events are appended to :attr:`OurPeer.events`; :meth:`OurPeer.wait_for` blocks until one
matches (it never sleeps a fixed time: it waits on a condition the pump notifies).
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from ejabberd_server import CubeUser

import cubeproto
from cubeproto import ClientConfig, ClientConnection, Command, Event, Transport
from cubeproto.chat import ChatSession

E = TypeVar("E", bound=Event)

#: How long a test waits for one expected event before it fails.
WAIT_S = 10.0


class ChatServer(Protocol):
    """Where a chat server listens: the test ejabberd, or our local server."""

    @property
    def domain(self) -> str: ...
    @property
    def ws_url(self) -> str: ...
    @property
    def c2s_port(self) -> int: ...
    @property
    def c2s_tls_port(self) -> int: ...
    def ssl_context(self) -> ssl.SSLContext: ...


class PeerError(AssertionError):
    """The peer did not do what the test expected (reported as a test failure)."""


class OurPeer:
    """One logged-in cubeproto client of the test ejabberd."""

    def __init__(self, server: ChatServer, user: CubeUser, transport: str) -> None:
        self.server = server
        self.user = user
        self.transport = transport
        ws = urlsplit(server.ws_url)
        kind = {
            "websocket": Transport.WEBSOCKET,
            "tcp": Transport.TCP,
            "tls": Transport.DIRECT_TLS,
        }[transport]
        self._address = {
            "websocket": ("127.0.0.1", ws.port or 80),
            "tcp": ("127.0.0.1", server.c2s_port),
            "tls": ("127.0.0.1", server.c2s_tls_port),
        }[transport]
        self.config = ClientConfig(
            app_id=user.app_id,
            user_id=user.user_id,
            password=user.password,
            chat_host=server.domain,
            transport=kind,
            websocket_host=f"{server.domain}:{ws.port}",
            websocket_path=ws.path or "/ws",
            require_tls=kind is not Transport.WEBSOCKET,
            allow_plain_unencrypted=kind is Transport.WEBSOCKET,
            entropy=os.urandom,
            wall_clock=time.time,
            handler_factory=ChatSession,
        )
        self.conn = ClientConnection(self.config)
        self.events: list[Event] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._wake_r, self._wake_w = socket.socketpair()
        self._stop = False
        self._closed = False
        self._failure: BaseException | None = None
        self._tls = server.ssl_context()
        self._sock: socket.socket | ssl.SSLSocket | None = None
        self._thread = threading.Thread(target=self._pump, name=f"ourpeer-{user.user_id}")

    # -- life cycle ------------------------------------------------------------------

    def start(self) -> OurPeer:
        """Connect and log in; return once ``Connected`` arrived."""
        sock: socket.socket | ssl.SSLSocket = socket.create_connection(self._address, timeout=10)
        if self.transport == "tls":
            sock = self._tls.wrap_socket(sock, server_hostname=self.server.domain)
        sock.settimeout(None)
        self._sock = sock
        with self._lock:
            self.conn.start(now=time.monotonic())
        self._thread.start()
        self.wait_for(cubeproto.Connected)
        # Connected follows the sending of our initial presence, not its processing by the
        # server; a 1-1 message routed to our bare JID before that would be stored offline.
        # The server answers a ping on the same stream only after the presence.
        self.send(cubeproto.Ping())
        self.wait_for(cubeproto.PongReceived)
        return self

    def close(self) -> None:
        """Close the stream (bounded wait for the server's close), stop the pump."""
        if not self._thread.is_alive():
            return
        with self._lock:
            if self.conn.state is cubeproto.StreamState.READY:
                self.conn.close(now=time.monotonic())
        self._wake()
        self._thread.join(timeout=5)
        if self._thread.is_alive():
            self._stop = True
            self._wake()
            self._thread.join(timeout=5)

    # -- commands and events ---------------------------------------------------------

    @property
    def user_id(self) -> int:
        return self.user.user_id

    def send(self, command: Command) -> str | None:
        """Execute ``command`` on the connection; return its stanza id."""
        with self._lock:
            result = self.conn.send(command, now=time.monotonic())
        self._wake()
        return result

    def wait_for(
        self,
        kind: type[E],
        predicate: Callable[[E], bool] = lambda _e: True,
        timeout: float = WAIT_S,
    ) -> E:
        """The first event of ``kind`` (not taken before) that satisfies ``predicate``.

        Matched events are removed from :attr:`events`, so that waiting twice for the same
        kind finds two different events.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for i, event in enumerate(self.events):
                    if isinstance(event, kind) and predicate(event):
                        del self.events[i]
                        return event
                if self._failure is not None:
                    raise PeerError(f"our client failed: {self._failure!r}") from self._failure
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    seen = ", ".join(
                        repr(e) if isinstance(e, cubeproto.MalformedStanza) else type(e).__name__
                        for e in self.events
                    )
                    raise PeerError(
                        f"our client {self.user_id} ({self.transport}) saw no {kind.__name__} "
                        f"matching the test in {timeout} s; unclaimed events: {seen or 'none'}"
                    )
                self._changed.wait(remaining)

    def drain(self, kind: type[E]) -> list[E]:
        """Remove and return every event of ``kind`` collected so far."""
        with self._lock:
            taken = [e for e in self.events if isinstance(e, kind)]
            self.events = [e for e in self.events if not isinstance(e, kind)]
            return taken

    # -- the pump --------------------------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _flush(self) -> bool:
        """Write pending output and collect events; False once the connection is closed."""
        assert self._sock is not None
        while True:
            with self._changed:
                out = self.conn.data_to_send()
                new: list[Event] = []
                while (event := self.conn.next_event()) is not None:
                    new.append(event)
                self.events.extend(new)
                if new:
                    self._changed.notify_all()
            if out:
                self._sock.sendall(out)
            upgrade = any(isinstance(e, cubeproto.TlsUpgradeRequired) for e in new)
            closed = any(isinstance(e, cubeproto.ConnectionClosed) for e in new)
            if upgrade:
                self._sock = self._tls.wrap_socket(self._sock, server_hostname=self.server.domain)
                with self._lock:
                    self.conn.tls_established(now=time.monotonic())
                continue
            if closed:
                return False
            if not out and not new:
                return True

    def _pump(self) -> None:
        try:
            while not self._stop and self._flush():
                assert self._sock is not None
                with self._lock:
                    deadline = self.conn.get_timer()
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                pending = isinstance(self._sock, ssl.SSLSocket) and self._sock.pending() > 0
                readable: list[socket.socket] = [self._sock]
                if not pending:
                    readable, _, _ = select.select([self._sock, self._wake_r], [], [], timeout)
                if self._wake_r in readable:
                    self._wake_r.recv(4096)
                if self._sock in readable:
                    data = self._sock.recv(65536)
                    with self._lock:
                        if data:
                            self.conn.receive_data(data, now=time.monotonic())
                        else:
                            self.conn.receive_eof(now=time.monotonic())
                elif not readable:
                    with self._lock:
                        self.conn.handle_timer(now=time.monotonic())
        except BaseException as exc:  # reported to the waiting test thread
            self._failure = exc
        finally:
            with self._changed:
                self._closed = True
                self._changed.notify_all()
            if self._sock is not None:
                self._sock.close()
            self._wake_r.close()
            self._wake_w.close()
