"""The local server's network side (anyio: asyncio or trio): loopback listeners for XMPP
over TCP+STARTTLS, direct TLS and WebSocket, and the REST API over HTTP (h11).

    async with LocalServer() as server:
        app = server.add_app()
        alice = server.add_user(app.id, "alice", "alice-pass")
        print(server.info)

Adapters only move bytes: :class:`~cubeproto._server_connection.ServerConnection` does the
XMPP, :class:`~.hub.Hub` the routing, :class:`~.rest.RestApi` the REST semantics.  The
certificate is made on the fly with ``trustme`` (a private CA whose PEM file clients
trust); without ``trustme`` the TLS listeners are off and plain TCP allows PLAIN.
"""

from __future__ import annotations

import math
import os
import ssl
import tempfile
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import h11
from anyio.abc import ByteStream, SocketAttribute, TaskGroup
from anyio.streams.tls import TLSStream

from cubeproto._server_connection import (
    ClientClosed,
    ServerConfig,
    ServerConnection,
    ServerTransport,
    TlsRequested,
)
from cubeproto._server_state import ServerState

from .hub import Hub, Session
from .rest import MAX_HEAD_BYTES, MAX_UPLOAD_BYTES, Response, RestApi
from .store import App, Store, User

__all__ = ["LocalServer", "ServerInfo"]

_READ = 65536


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
    """A session's current byte stream (replaced by a TLS stream after STARTTLS) and
    the lock that serializes writes to it from every task."""

    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self.lock = anyio.Lock()
        self.broken = False


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
    ) -> None:
        self.host = host
        self.domain = domain
        self.store = Store(database)
        self.hub = Hub(self.store, domain=domain, resume_seconds=resume_seconds)
        self._ports = (xmpp_port, tls_port, ws_port, http_port)
        self._blob_dir = Path(blob_dir) if blob_dir else None
        self._want_tls = tls
        #: Largest accepted storage upload (ConnectyCube's 100 MB by default).
        self.max_upload_bytes = max_upload_bytes
        #: Seconds a client may leave a sent stanza unacknowledged before its connection
        #: is treated as lost (resumable); ``None``: never.
        self.ack_timeout = ack_timeout
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
        ca_file = self._make_tls(Path(self._tmp.name)) if self._want_tls else None
        blob_dir = self._blob_dir
        if blob_dir is None:
            # With a database file the blobs live next to it (both survive a restart).
            in_memory = self.store.path in ("", ":memory:")
            blob_dir = Path(self._tmp.name if in_memory else self.store.path + ".blobs")
            if in_memory:
                blob_dir = blob_dir / "blobs"
        xmpp_port, tls_port, ws_port, http_port = self._ports
        listeners = {
            "xmpp": await anyio.create_tcp_listener(local_host=self.host, local_port=xmpp_port),
            "ws": await anyio.create_tcp_listener(local_host=self.host, local_port=ws_port),
            "http": await anyio.create_tcp_listener(local_host=self.host, local_port=http_port),
        }
        if self._ssl is not None:
            listeners["tls"] = await anyio.create_tcp_listener(
                local_host=self.host, local_port=tls_port
            )
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
        tg.start_soon(listeners["xmpp"].serve, self._tcp_client, tg)
        tg.start_soon(listeners["ws"].serve, self._ws_client, tg)
        tg.start_soon(listeners["http"].serve, self._http_client, tg)
        if "tls" in listeners:
            tg.start_soon(listeners["tls"].serve, self._tls_client, tg)
        tg.start_soon(self._sweeper)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._tg is not None:
            self._tg.cancel_scope.cancel()
        if self._exit is not None:
            await self._exit.aclose()
        self.store.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def _make_tls(self, directory: Path) -> str | None:
        try:
            import trustme
        except ImportError:  # pragma: no cover - trustme is in the dev and server extras
            return None
        ca = trustme.CA()
        cert = ca.issue_cert(self.domain, self.host)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        self._ssl = context
        ca_file = directory / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        return str(ca_file)

    async def cut(self, user_id: int) -> int:
        """Drop every chat connection of ``user_id`` at the socket, without closing the
        stream (a network cut, for tests and the demo); returns how many were cut."""
        links = [self._links.get(s) for s in self.hub.sessions_of(user_id)]
        for link in links:
            if link is not None:
                await link.stream.aclose()
        return sum(1 for link in links if link is not None)

    async def _sweeper(self) -> None:
        while True:
            await anyio.sleep(1.0)
            self.hub.expire_detached()

    # ------------------------------------------------------------------ XMPP

    def _config(self, transport: ServerTransport) -> ServerConfig:
        tls = self._ssl is not None
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
        )

    async def _tcp_client(self, stream: ByteStream) -> None:
        await self._serve_chat(stream, ServerTransport.TCP)

    async def _ws_client(self, stream: ByteStream) -> None:
        await self._serve_chat(stream, ServerTransport.WEBSOCKET)

    async def _tls_client(self, stream: ByteStream) -> None:
        assert self._ssl is not None
        try:
            with anyio.fail_after(10):
                tls = await TLSStream.wrap(
                    stream, server_side=True, ssl_context=self._ssl, standard_compatible=False
                )
        except (OSError, ssl.SSLError, TimeoutError, anyio.BrokenResourceError):
            await stream.aclose()
            return
        await self._serve_chat(tls, ServerTransport.DIRECT_TLS)

    async def _serve_chat(self, stream: ByteStream, transport: ServerTransport) -> None:
        conn = ServerConnection(self._config(transport))
        session = Session(conn)
        link = _Link(stream)
        self._links[session] = link
        conn.start(now=anyio.current_time())
        try:
            while conn.state is not ServerState.CLOSED:
                timer = conn.get_timer()
                with anyio.CancelScope(deadline=timer if timer is not None else math.inf) as scope:
                    try:
                        data = await link.stream.receive(_READ)
                    except (
                        anyio.EndOfStream,
                        anyio.BrokenResourceError,
                        anyio.ClosedResourceError,
                        ssl.SSLError,
                        OSError,
                    ):
                        data = b""
                if scope.cancelled_caught:
                    conn.handle_timer(now=anyio.current_time())
                elif data:
                    conn.receive_data(data, now=anyio.current_time())
                else:
                    conn.receive_eof(now=anyio.current_time())
                await self._process(session, link)
        finally:
            with anyio.CancelScope(shield=True):
                if conn.state is not ServerState.CLOSED:
                    conn.receive_eof(now=anyio.current_time())
                    await self._process(session, link)
                self._links.pop(session, None)
                await link.stream.aclose()

    async def _process(self, session: Session, link: _Link) -> None:
        conn = session.conn
        while (event := conn.next_event()) is not None:
            if isinstance(event, TlsRequested):
                await self._write(link, conn.data_to_send())
                assert self._ssl is not None
                try:
                    link.stream = await TLSStream.wrap(
                        link.stream,
                        server_side=True,
                        ssl_context=self._ssl,
                        standard_compatible=False,
                    )
                except (OSError, ssl.SSLError, anyio.BrokenResourceError):
                    conn.receive_eof(now=anyio.current_time())
                    continue
                conn.tls_established(now=anyio.current_time())
                continue
            self.hub.on_event(session, event)
            if isinstance(event, ClientClosed):
                await self._write(link, conn.data_to_send())
        await self._write(link, conn.data_to_send())
        await self.flush()

    async def flush(self) -> None:
        """Write what routing queued on other sessions."""
        for other in self.hub.take_dirty():
            link = self._links.get(other)
            if link is not None:
                await self._write(link, other.conn.data_to_send())

    async def _write(self, link: _Link, data: bytes) -> None:
        if not data or link.broken:
            return
        async with link.lock:
            try:
                await link.stream.send(data)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, ssl.SSLError, OSError):
                link.broken = True

    # ------------------------------------------------------------------ HTTP

    async def _http_client(self, stream: ByteStream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        try:
            while True:
                request, body, error = await self._read_request(conn, stream)
                if error is not None:
                    response = error
                elif request is None:
                    return
                else:
                    headers = {k.decode().lower(): v.decode("latin-1") for k, v in request.headers}
                    response = self.api.handle(
                        request.method.decode(), request.target.decode("latin-1"), headers, body
                    )
                await self._send_response(conn, stream, response)
                await self.flush()
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (anyio.BrokenResourceError, anyio.EndOfStream, h11.ProtocolError, OSError):
            return
        finally:
            await stream.aclose()

    async def _read_request(
        self, conn: h11.Connection, stream: ByteStream
    ) -> tuple[h11.Request | None, bytes, Response | None]:
        request: h11.Request | None = None
        chunks: list[bytes] = []
        size = limit = 0
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:  # a head over 64 KiB (431) or malformed
                return None, b"", self.api.bad_head(exc.error_status_hint, str(exc))
            if event is h11.NEED_DATA:
                try:
                    data = await stream.receive(_READ)
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    data = b""
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                # The body's limit depends on the target (rest.py's MAX_* constants): a
                # declared length over it, or a chunked body growing past it, is refused
                # with 413 before the rest is read.
                request = event
                target = event.target.decode("latin-1")
                limit = self.api.body_limit(target)
                length = dict(event.headers).get(b"content-length", b"0")
                if length.isdigit() and int(length) > limit:
                    return request, b"", self.api.too_large(target)
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > limit and request is not None:
                    return request, b"", self.api.too_large(request.target.decode("latin-1"))
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return request, b"".join(chunks), None
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None, b"", None

    async def _send_response(
        self, conn: h11.Connection, stream: ByteStream, response: Response
    ) -> None:
        body = response.body
        if response.file is not None:
            body = await anyio.Path(response.file).read_bytes()
        headers = [*response.headers, ("Content-Length", str(len(body)))]
        await stream.send(conn.send(h11.Response(status_code=response.status, headers=headers)))
        if body:
            await stream.send(conn.send(h11.Data(data=body)))
        await stream.send(conn.send(h11.EndOfMessage()))

    def __repr__(self) -> str:
        info: Any = getattr(self, "info", None)
        return f"LocalServer({info!r})"
