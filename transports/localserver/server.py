"""The local server's network side (anyio: asyncio or trio): loopback listeners for XMPP
over TCP+STARTTLS, direct TLS and WebSocket, and the REST API over HTTP (h11).

    async with LocalServer() as server:
        app = server.add_app()
        alice = server.add_user(app.id, "alice", "alice-pass")
        print(server.info)

Adapters only move bytes: :class:`~cubeproto.server.ServerConnection` does the
XMPP, :class:`~.hub.Hub` the routing, :class:`~.rest.RestApi` the REST semantics and
:func:`~.http_serving.serve_http` its HTTP connections.  The
certificate is made on the fly with ``trustme`` (a private CA whose PEM file clients
trust); without ``trustme`` the TLS listeners are off and plain TCP allows PLAIN.

Under abuse (see :class:`ServerLimits` for the numbers): every connection runs in its own
task behind a guard, so nothing one peer does -- closing mid-handshake, garbage, a bug it
triggers -- reaches the listeners; every state of a connection has a deadline; and every
chat connection has its own bounded outbound queue drained by its own writer task, so a
peer that stops reading is cut (as a network loss: resumable with XEP-0198) instead of
stalling what the router sends to anyone else.  Everything is logged on the
``cubeproto.localserver`` logger (never a password or token).
"""

from __future__ import annotations

import logging
import math
import os
import ssl
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import ByteStream, SocketAttribute, SocketListener, SocketStream, TaskGroup
from anyio.streams.stapled import MultiListener
from anyio.streams.tls import TLSStream

from cubeproto.errors import StreamErrorCondition
from cubeproto.events import Event
from cubeproto.server import (
    ClientAuthenticated,
    ClientAuthFailed,
    ClientBound,
    ClientClosed,
    ClientResumed,
    ServerConfig,
    ServerConnection,
    ServerState,
    ServerTransport,
    TlsRequested,
)

from ._network import NETWORK_ERRORS, READ_BYTES, describe
from .http_serving import serve_http
from .hub import Hub, Session
from .limits import ServerLimits
from .rest import MAX_UPLOAD_BYTES, RestApi
from .store import App, Store, User

__all__ = ["ListenError", "LocalServer", "ServerInfo", "ServerLimits"]

#: The local server's logger: connections (peer, listener), logins (user id, resource),
#: failures (authentication, TLS handshake, deadlines, slow-session cuts, stream errors
#: with their condition) and disconnections.  Never a password, token or SASL payload.
log = logging.getLogger("cubeproto.localserver")

#: The listeners: what each serves, and the ``cubeproto serve`` option of its port.
LISTENERS = {
    "xmpp": ("XMPP (STARTTLS)", "--xmpp-port"),
    "tls": ("XMPP over direct TLS", "--tls-port"),
    "ws": ("XMPP over WebSocket", "--ws-port"),
    "http": ("the REST API", "--http-port"),
}


class ListenError(OSError):
    """A listener could not be opened; the message names it, its address and port."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerInfo:
    """Where the local server listens (all on ``host``)."""

    host: str
    domain: str
    xmpp_port: int
    tls_port: int | None
    ws_port: int
    http_port: int
    ca_file: str | None

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"


class _Link:
    """One connection's byte stream (replaced by a TLS stream after STARTTLS), its
    outbound queue (written by the connection's own writer task), and how it ends."""

    def __init__(self, stream: ByteStream, peer: str, listener: str) -> None:
        self.stream = stream
        self.peer = peer
        self.listener = listener
        self.queue: deque[bytes] = deque()
        #: Bytes enqueued and not yet written (the chunk being written included).
        self.queued = 0
        #: Bytes of the write in progress.
        self.inflight = 0
        self.wake = anyio.Event()
        #: Set (and replaced) whenever the writer finished a write or stopped.
        self.progress = anyio.Event()
        self.broken = False
        #: Why the server cut this connection (slow reader), once it did.
        self.cut_reason: str | None = None
        #: The connection task's reading scope: cancelled to stop it after a cut.
        self.scope: anyio.CancelScope | None = None

    def done_some(self) -> None:
        self.progress.set()
        self.progress = anyio.Event()


def _peer_of(stream: ByteStream) -> str:
    try:
        address = stream.extra(SocketAttribute.remote_address)
    except Exception:  # a stream without a socket (never on a listener)
        return "?"
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


def _who(session: Session) -> str:
    return session.conn.jid or session.conn.username or "unauthenticated"


class LocalServer:
    """A ConnectyCube-compatible server for development and tests (async context manager)."""

    def __init__(
        self,
        *,
        database: str = ":memory:",
        host: str = "127.0.0.1",
        domain: str = "localhost",
        xmpp_port: int = 0,
        tls_port: int = 0,
        ws_port: int = 0,
        http_port: int = 0,
        blob_dir: str | Path | None = None,
        tls: bool = True,
        resume_seconds: int = 300,
        ack_timeout: float | None = 60.0,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        limits: ServerLimits | None = None,
        state_dir: str | Path | None = None,
    ) -> None:
        self.host = host
        self.domain = domain
        self.store = Store(database)
        self.hub = Hub(
            self.store,
            domain=domain,
            clock=time.time,
            connection_clock=anyio.current_time,
            resume_seconds=resume_seconds,
        )
        self._ports = (xmpp_port, tls_port, ws_port, http_port)
        self._blob_dir = Path(blob_dir) if blob_dir else None
        self._want_tls = tls
        in_memory = database in ("", ":memory:")
        #: Where the CA and its key live across restarts, so that clients keep trusting
        #: the server: ``state_dir``, or next to a database file (``<database>.state``);
        #: ``None`` (a database in memory): a temporary folder removed at exit.
        self.state_dir: Path | None = (
            Path(state_dir) if state_dir else None if in_memory else Path(database + ".state")
        )
        #: Largest accepted storage upload (ConnectyCube's 100 MB by default).
        self.max_upload_bytes = max_upload_bytes
        #: Seconds a client may leave a sent stanza unacknowledged before its connection
        #: is treated as lost (resumable); ``None``: never.
        self.ack_timeout = ack_timeout
        #: Deadlines and queue bounds (:class:`ServerLimits`).
        self.limits = limits or ServerLimits()
        self._ssl: ssl.SSLContext | None = None
        self._links: dict[Session, _Link] = {}
        self._exit: AsyncExitStack | None = None
        self._tg: TaskGroup | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.info: ServerInfo
        self.api: RestApi

    # ------------------------------------------------------------------ administration

    def add_app(self, app_id: int | None = None, auth_key: str | None = None) -> App:
        """Create an application (id and auth key chosen when not given)."""
        if app_id is None:
            app_id = self.store.counter("app_id") + 100
        return self.store.create_app(app_id, auth_key or os.urandom(8).hex())

    def add_user(
        self, app_id: int, login: str, password: str, *, full_name: str | None = None
    ) -> User:
        """Create a user who can log in over REST and XMPP."""
        return self.store.create_user(app_id, login, password, full_name=full_name)

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> LocalServer:
        self._exit = AsyncExitStack()
        self._tmp = tempfile.TemporaryDirectory(prefix="cubeproto-server-")
        ca_file = None
        if self._want_tls:
            ca_file = self._make_tls(self.state_dir or Path(self._tmp.name))
        blob_dir = self._blob_dir
        if blob_dir is None:
            # With a database file the blobs live next to it (both survive a restart).
            in_memory = self.store.path in ("", ":memory:")
            blob_dir = Path(self._tmp.name if in_memory else self.store.path + ".blobs")
            if in_memory:
                blob_dir = blob_dir / "blobs"
        xmpp_port, tls_port, ws_port, http_port = self._ports
        wanted = {"xmpp": xmpp_port, "ws": ws_port, "http": http_port}
        if self._ssl is not None:
            wanted["tls"] = tls_port
        listeners: dict[str, MultiListener[SocketStream]] = {}
        try:
            for name, port in wanted.items():
                listeners[name] = await self._listen(name, port)
        except BaseException:
            for listener in listeners.values():
                await listener.aclose()
            self._tmp.cleanup()
            raise
        ports = {k: v.extra(SocketAttribute.local_port) for k, v in listeners.items()}
        self.info = ServerInfo(
            host=self.host,
            domain=self.domain,
            xmpp_port=ports["xmpp"],
            tls_port=ports.get("tls"),
            ws_port=ports["ws"],
            http_port=ports["http"],
            ca_file=ca_file,
        )
        self.api = RestApi(
            self.store,
            self.hub,
            blob_dir=blob_dir,
            base_url=self.info.api_url,
            max_upload_bytes=self.max_upload_bytes,
        )
        for listener in listeners.values():
            await self._exit.enter_async_context(listener)
        self._tg = await self._exit.enter_async_context(anyio.create_task_group())
        tg = self._tg
        handlers: dict[str, Callable[[_Link], Awaitable[None]]] = {
            "xmpp": self._tcp_client,
            "ws": self._ws_client,
            "http": self._http_client,
            "tls": self._tls_client,
        }
        for name, multi in listeners.items():
            for sub in multi.listeners:  # one per address family
                assert isinstance(sub, SocketListener)
                tg.start_soon(self._accept, name, sub, handlers[name], tg)
        tg.start_soon(self._sweeper)
        log.info(
            "listening on %s: xmpp %d, tls %s, ws %d, http %d (domain %s)",
            self.host,
            ports["xmpp"],
            ports.get("tls", "off"),
            ports["ws"],
            ports["http"],
            self.domain,
        )
        return self

    async def _accept(
        self,
        name: str,
        listener: SocketListener,
        handler: Callable[[_Link], Awaitable[None]],
        tg: TaskGroup,
    ) -> None:
        """Accept connections on one listener forever; each runs guarded in its own task.
        A failed accept (out of file descriptors...) is logged and retried, never fatal."""
        while True:
            try:
                stream = await listener.accept()
            except (OSError, anyio.BrokenResourceError) as exc:
                log.warning("accept on %s failed: %r", name, exc)
                await anyio.sleep(0.1)
                continue
            tg.start_soon(self._guarded, name, handler, stream)

    async def _guarded(
        self, name: str, handler: Callable[[_Link], Awaitable[None]], stream: ByteStream
    ) -> None:
        """Run one connection's handler so that nothing it raises reaches the server's
        task group: the connection ends alone, logged, and its socket is closed."""
        link = _Link(stream, _peer_of(stream), name)
        if name == "http":
            log.debug("connection from %s on %s", link.peer, name)
        else:
            log.info("connection from %s on %s", link.peer, name)
        try:
            await handler(link)
        except Exception:  # a bug: this connection ends, the server and the others go on
            log.exception("connection from %s on %s failed", link.peer, name)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.aclose_forcefully(link.stream)
                if link.stream is not stream:
                    await anyio.aclose_forcefully(stream)

    async def __aexit__(self, *exc: object) -> None:
        if self._tg is not None:
            self._tg.cancel_scope.cancel()
        if self._exit is not None:
            await self._exit.aclose()
        self.store.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def _make_tls(self, directory: Path) -> str | None:
        """The server's TLS context, with a certificate for ``domain`` and ``host`` issued
        by the CA kept in ``directory`` (``ca.pem``, ``ca-key.pem``, made on first use);
        returns the CA file clients trust.  The certificate is issued anew at each start
        (the domain or host may change); the CA stays, so a restart strands no client."""
        try:
            import trustme
        except ImportError:  # pragma: no cover - trustme is in the dev and server extras
            return None
        directory.mkdir(parents=True, exist_ok=True)
        ca_file, key_file = directory / "ca.pem", directory / "ca-key.pem"
        if ca_file.exists() and key_file.exists():
            ca = trustme.CA.from_pem(
                cert_bytes=ca_file.read_bytes(), private_key_bytes=key_file.read_bytes()
            )
        else:
            ca = trustme.CA()
            # The key first, readable by its owner only; the CA file last (its presence
            # says the pair is complete).
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(ca.private_key_pem.bytes())
            ca.cert_pem.write_to_path(str(ca_file))
        cert = ca.issue_cert(self.domain, self.host)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        self._ssl = context
        return str(ca_file)

    async def _listen(self, name: str, port: int) -> MultiListener[SocketStream]:
        """A listener for ``name`` (see :data:`LISTENERS`), or :class:`ListenError` saying
        which listener, address and port failed (a port in use, most often)."""
        try:
            return await anyio.create_tcp_listener(local_host=self.host, local_port=port)
        except OSError as exc:
            what, option = LISTENERS[name]
            raise ListenError(
                exc.errno,
                f"cannot listen for {what} on {self.host}:{port}: {exc.strerror or exc}"
                f" (choose another port with {option})",
            ) from exc

    async def cut(self, user_id: int) -> int:
        """Drop every chat connection of ``user_id`` at the socket, without closing the
        stream (a network cut, for tests and the demo); returns how many were cut."""
        links = [self._links.get(s) for s in self.hub.sessions_of(user_id)]
        for link in links:
            if link is not None:
                await link.stream.aclose()
        return sum(1 for link in links if link is not None)

    async def _sweeper(self) -> None:
        """Expire detached sessions once a second (their messages go offline)."""
        while True:
            await anyio.sleep(1.0)
            try:
                self.hub.expire_detached()
                self._flush()
            except Exception:  # a bug here must not stop the listeners
                log.exception("expiring detached sessions failed")

    # ------------------------------------------------------------------ XMPP

    def _config(self, transport: ServerTransport) -> ServerConfig:
        tls = self._ssl is not None
        limits = self.limits
        return ServerConfig(
            domain=self.domain,
            entropy=os.urandom,
            authenticate=self.hub.authenticate,
            transport=transport,
            starttls=tls,
            require_tls=tls and transport is ServerTransport.TCP,
            allow_plain_unencrypted=not tls or transport is ServerTransport.WEBSOCKET,
            resume_seconds=self.hub.resume_seconds,
            ack_timeout=self.ack_timeout,
            negotiation_timeout=limits.negotiation_timeout,
            idle_timeout=limits.idle_timeout,
            close_timeout=limits.close_timeout,
        )

    async def _tcp_client(self, link: _Link) -> None:
        await self._serve_chat(link, ServerTransport.TCP)

    async def _ws_client(self, link: _Link) -> None:
        await self._serve_chat(link, ServerTransport.WEBSOCKET)

    async def _tls_client(self, link: _Link) -> None:
        if await self._handshake(link):
            await self._serve_chat(link, ServerTransport.DIRECT_TLS)

    async def _handshake(self, link: _Link) -> bool:
        """The server side of a TLS handshake on ``link`` (direct TLS, or after
        ``<proceed/>``), within ``tls_handshake_timeout``; False (logged) when the peer
        closed, broke it or was too slow."""
        assert self._ssl is not None
        timeout = self.limits.tls_handshake_timeout
        try:
            with anyio.fail_after(timeout):
                link.stream = await TLSStream.wrap(
                    link.stream,
                    server_side=True,
                    ssl_context=self._ssl,
                    standard_compatible=False,
                )
        except TimeoutError:
            log.info(
                "deadline: TLS handshake with %s on %s took over %s s",
                link.peer,
                link.listener,
                timeout,
            )
            return False
        except NETWORK_ERRORS as exc:
            log.info(
                "TLS handshake with %s on %s failed: %s",
                link.peer,
                link.listener,
                describe(exc),
            )
            return False
        return True

    async def _serve_chat(self, link: _Link, transport: ServerTransport) -> None:
        conn = ServerConnection(self._config(transport))
        session = Session(conn)
        self._links[session] = link
        conn.start(now=anyio.current_time())
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._writer, session, link)
            try:
                with anyio.CancelScope() as link.scope:
                    await self._read_loop(session, link)
            finally:
                with anyio.CancelScope(shield=True):
                    if conn.state is not ServerState.CLOSED:
                        conn.receive_eof(now=anyio.current_time())
                        self._dispatch(session, link)
                    self._links.pop(session, None)
                    # The last words (a stream error, the closing tag) go out if they can.
                    with anyio.move_on_after(self.limits.close_timeout):
                        await self._drain(link)
                    tg.cancel_scope.cancel()

    async def _read_loop(self, session: Session, link: _Link) -> None:
        conn = session.conn
        while conn.state is not ServerState.CLOSED:
            timer = conn.get_timer()
            data = b""
            with anyio.CancelScope(deadline=timer if timer is not None else math.inf) as scope:
                try:
                    data = await link.stream.receive(READ_BYTES)
                except NETWORK_ERRORS:
                    data = b""
            now = anyio.current_time()
            if scope.cancelled_caught:
                conn.handle_timer(now=now)
            elif data:
                conn.receive_data(data, now=now)
            else:
                conn.receive_eof(now=now)
            await self._process(session, link)

    async def _process(self, session: Session, link: _Link) -> None:
        conn = session.conn
        while (event := conn.next_event()) is not None:
            if isinstance(event, TlsRequested):
                self._enqueue(session, link, conn.data_to_send())
                await self._starttls(session, link)
                continue
            self._on_event(session, link, event)
        self._enqueue(session, link, conn.data_to_send())
        self._flush()

    async def _starttls(self, session: Session, link: _Link) -> None:
        """``<proceed/>`` was queued: write it, then handshake (both within the TLS
        deadline); a failure ends the connection."""
        conn = session.conn
        ok = False
        with anyio.move_on_after(self.limits.tls_handshake_timeout) as scope:
            await self._drain(link)
        if scope.cancelled_caught:
            log.info("deadline: %s on %s did not read <proceed/>", link.peer, link.listener)
        elif not (link.broken or link.cut_reason):
            ok = await self._handshake(link)
        if ok:
            conn.tls_established(now=anyio.current_time())
        else:
            conn.receive_eof(now=anyio.current_time())

    def _dispatch(self, session: Session, link: _Link) -> None:
        """Hand every pending event to the hub (synchronously: no TLS can be pending
        where this is called) and queue what the connection has to send."""
        conn = session.conn
        while (event := conn.next_event()) is not None:
            if not isinstance(event, TlsRequested):
                self._on_event(session, link, event)
        self._enqueue(session, link, conn.data_to_send())

    def _on_event(self, session: Session, link: _Link, event: Event) -> None:
        _log_event(session, link, event)
        self.hub.on_event(session, event)

    # --- the outbound side: one bounded queue and one writer per connection -----------

    def _enqueue(self, session: Session, link: _Link, data: bytes) -> None:
        """Queue ``data`` for ``link``'s writer; never waits.  Over the bound: cut."""
        if not data or link.broken or link.cut_reason is not None:
            return
        link.queue.append(data)
        link.queued += len(data)
        link.wake.set()
        # What waits behind the write in progress (or the next one): one chunk of any
        # size (a resumed session's resend, one large stanza) is never a reason to cut.
        behind = link.queued - (link.inflight or len(link.queue[0]))
        limit = self.limits.max_queued_bytes
        if behind > limit:
            self._cut(session, link, f"{behind} bytes waiting to be written (max {limit})")

    def _cut(self, session: Session, link: _Link, reason: str) -> None:
        """End a session whose peer does not read, as a lost connection (resumable with
        XEP-0198: the hub keeps it detached with its unacknowledged stanzas), now: the
        router never waits for it.  Its reading task is stopped; its queue dropped."""
        if link.cut_reason is not None or link.broken:
            return
        link.cut_reason = reason
        log.warning(
            "cut slow session %s from %s on %s: %s", _who(session), link.peer, link.listener, reason
        )
        link.queue.clear()
        link.queued = 0
        link.done_some()
        conn = session.conn
        try:
            if conn.state is not ServerState.CLOSED:
                conn.receive_eof(now=anyio.current_time())
                self._dispatch(session, link)
        except Exception:  # a bug while ending this session must not end the caller's
            log.exception("ending the session from %s failed", link.peer)
        finally:
            if link.scope is not None:
                link.scope.cancel()

    async def _writer(self, session: Session, link: _Link) -> None:
        """Write what is queued for ``link``, in order; a write blocked for
        ``write_timeout`` cuts the session, a failed one marks the link broken."""
        timeout = self.limits.write_timeout
        while True:
            await link.wake.wait()
            link.wake = anyio.Event()
            while link.queue and link.cut_reason is None:
                data = b"".join(link.queue)
                link.queue.clear()
                link.inflight = len(data)
                with anyio.move_on_after(timeout) as scope:
                    try:
                        await link.stream.send(data)
                    except NETWORK_ERRORS as exc:
                        log.debug("write to %s failed: %s", link.peer, describe(exc))
                        link.broken = True
                link.inflight = 0
                if link.cut_reason is not None:
                    return  # cut (by its queue's bound) while this write was blocked
                if scope.cancelled_caught:
                    self._cut(session, link, f"a write blocked for over {timeout} s")
                    self._flush()
                    return
                link.queued -= len(data)
                link.done_some()
                if link.broken:
                    link.queue.clear()
                    link.queued = 0
                    if link.scope is not None:
                        link.scope.cancel()  # the reader ends the session as a loss
                    return

    async def _drain(self, link: _Link) -> None:
        """Wait until everything queued for ``link`` is written (or cannot be)."""
        while link.queued and not link.broken and link.cut_reason is None:
            await link.progress.wait()

    def _flush(self) -> None:
        """Queue what routing put on other sessions (cuts may add more: loop)."""
        while dirty := self.hub.take_dirty():
            for other in dirty:
                link = self._links.get(other)
                if link is not None:
                    self._enqueue(other, link, other.conn.data_to_send())

    async def flush(self) -> None:
        """Queue what routing put on other sessions for their writers (never waits for a
        peer)."""
        self._flush()

    # ------------------------------------------------------------------ HTTP

    async def _http_client(self, link: _Link) -> None:
        await serve_http(self.api, link.stream, link.peer, self.limits.http_timeout, self._flush)

    def __repr__(self) -> str:
        info: Any = getattr(self, "info", None)
        return f"LocalServer({info!r})"


def _log_event(session: Session, link: _Link, event: Event) -> None:
    """Log what one connection reports: logins, failures, disconnections."""
    where = f"{link.peer} on {link.listener}"
    if isinstance(event, ClientAuthenticated):
        log.debug("authenticated %r (%s) from %s", event.username, event.mechanism, where)
    elif isinstance(event, ClientAuthFailed):
        log.warning(
            "authentication failed for %r (%s) from %s: %s",
            event.username,
            event.mechanism,
            where,
            event.reason,
        )
    elif isinstance(event, ClientBound):
        local, _, resource = event.jid.partition("/")
        user_id = local.partition("-")[0]
        log.info("login: user %s, resource %r, from %s", user_id, resource, where)
    elif isinstance(event, ClientResumed):
        log.info("resumed: %s from %s (%d stanzas resent)", event.jid, where, event.resent)
    elif isinstance(event, ClientClosed):
        who = _who(session)
        if link.cut_reason is not None:
            how = "cut"
        elif event.condition is StreamErrorCondition.CONNECTION_TIMEOUT:
            how = f"deadline: {event.text or 'connection-timeout'}"
            log.info("deadline: %s from %s: %s", who, where, event.text or "connection-timeout")
        elif event.condition is not None:
            how = f"stream error {event.condition.value}"
            log.info(
                "stream error <%s/> for %s from %s: %s",
                event.condition.value,
                who,
                where,
                event.text or "",
            )
        else:
            how = "clean" if event.clean else "connection lost"
        if event.resumable:
            how += ", resumable"
        log.info("disconnected: %s from %s (%s)", who, where, how)
