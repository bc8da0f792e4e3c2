"""Async HTTP/1.1 client on anyio (so: asyncio and trio), driving the sans-IO exchange.

The same contract as :mod:`cubeproto.transports.http_blocking`: a keep-alive pool per origin
where a connection returns only when :meth:`HttpConnection.reusable` says so and is closed
after any error; TLS verification on (system store, or a custom CA file / context);
connect/read timeouts raise :class:`~cubeproto.rest.HttpTimeout`; uploads and downloads
stream in 64 KiB chunks.  :class:`AsyncRestClient` drives a
:class:`~cubeproto.rest.RestSession` exchange with ``anyio.sleep`` and the real clock.

Not safe for concurrent use of one connection, but the pool is: concurrent tasks each take
their own connection.
"""

from __future__ import annotations

import dataclasses
import os
import random
import ssl
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from typing import IO, Any, TypeVar

import anyio
import anyio.abc
from anyio.streams.tls import TLSStream

from cubeproto.errors import LocalProtocolError
from cubeproto.rest import (
    Blob,
    BlobUpload,
    BodyChunk,
    Done,
    HttpConnectError,
    HttpConnection,
    HttpResponse,
    HttpTimeout,
    IncompleteResponse,
    MalformedResponse,
    NeedData,
    ResponseEnd,
    ResponseHead,
    RestRequest,
    RestSession,
    RetryPolicy,
    Wait,
    complete_blob,
    create_blob,
    prepare_blob_upload,
)
from cubeproto.rest import blob_private_url as _private_url
from cubeproto.rest.errors import ApiError

from ._http_common import (
    CHUNK_SIZE,
    MAX_REDIRECTS,
    Origin,
    make_ssl_context,
    resolve_redirect,
    split_url,
)

__all__ = ["AsyncHttpClient", "AsyncRestClient"]

T = TypeVar("T")

AsyncBody = bytes | Iterable[bytes] | AsyncIterable[bytes]


class _Conn:
    __slots__ = ("http", "reused", "stream")

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.http = HttpConnection()
        self.reused = False

    async def close(self) -> None:
        with anyio.CancelScope(shield=True):
            with suppress(
                OSError, anyio.BrokenResourceError, anyio.ClosedResourceError, ssl.SSLError
            ):
                await self.stream.aclose()


class AsyncHttpClient:
    """A keep-alive HTTP/1.1 client for asyncio and trio."""

    def __init__(
        self,
        *,
        ca_file: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_idle_per_origin: int = 4,
    ) -> None:
        self._ssl = make_ssl_context(ca_file, ssl_context)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_idle_per_origin = max_idle_per_origin
        self._idle: dict[Origin, list[_Conn]] = {}
        #: TCP connections opened so far (for observing keep-alive reuse).
        self.connections_opened = 0

    async def _connect(self, origin: Origin) -> _Conn:
        stream: anyio.abc.ByteStream
        try:
            with anyio.fail_after(self.connect_timeout):
                tcp = await anyio.connect_tcp(origin.host, origin.port)
                stream = tcp
                if origin.scheme == "https":
                    try:
                        stream = await TLSStream.wrap(
                            tcp,
                            hostname=origin.host,
                            ssl_context=self._ssl,
                            standard_compatible=False,
                        )
                    except BaseException:
                        await tcp.aclose()
                        raise
        except TimeoutError as exc:
            raise HttpTimeout(
                f"connect to {origin.host}:{origin.port} timed out", phase="connect"
            ) from exc
        except (OSError, ssl.SSLError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
            raise HttpConnectError(f"cannot connect to {origin.host}:{origin.port}: {exc}") from exc
        self.connections_opened += 1
        return _Conn(stream)

    async def _acquire(self, origin: Origin) -> _Conn:
        idle = self._idle.get(origin, [])
        if idle:
            conn = idle.pop()
            conn.reused = True
            return conn
        return await self._connect(origin)

    async def _release(self, origin: Origin, conn: _Conn) -> None:
        if conn.http.reusable():
            conn.http.start_next_cycle()
            idle = self._idle.setdefault(origin, [])
            if len(idle) < self.max_idle_per_origin:
                idle.append(conn)
                return
        await conn.close()

    async def aclose(self) -> None:
        """Close every idle connection."""
        for conns in self._idle.values():
            for conn in conns:
                await conn.close()
        self._idle.clear()

    async def __aenter__(self) -> AsyncHttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _write(self, conn: _Conn, data: bytes) -> None:
        if not data:
            return
        try:
            with anyio.fail_after(self.read_timeout):
                await conn.stream.send(data)
        except TimeoutError as exc:
            raise HttpTimeout("write timed out", phase="write") from exc
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError, ssl.SSLError) as exc:
            raise IncompleteResponse(f"connection failed while sending: {exc}") from exc

    async def _read_event(self, conn: _Conn) -> ResponseHead | BodyChunk | ResponseEnd:
        while True:
            event = conn.http.next_event()
            if not isinstance(event, NeedData):
                return event
            try:
                with anyio.fail_after(self.read_timeout):
                    data = await conn.stream.receive(CHUNK_SIZE)
            except TimeoutError as exc:
                raise HttpTimeout(f"no data for {self.read_timeout}s", phase="read") from exc
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError, ssl.SSLError):
                data = b""
            if data:
                conn.http.receive_data(data)
            else:
                conn.http.receive_eof()

    async def _send_body(self, conn: _Conn, body: AsyncBody, content_length: int | None) -> None:
        sent = 0
        if isinstance(body, bytes):
            await self._write(conn, conn.http.send_body(body) + conn.http.end_request())
            return
        if isinstance(body, AsyncIterable):
            async for chunk in body:
                sent += len(chunk)
                await self._write(conn, conn.http.send_body(chunk))
        else:
            for chunk in body:
                sent += len(chunk)
                await self._write(conn, conn.http.send_body(chunk))
        if content_length is not None and sent != content_length:
            conn.http.abort()
            raise LocalProtocolError(f"body was {sent} bytes, content_length said {content_length}")
        await self._write(conn, conn.http.end_request())

    async def _send_and_read_head(
        self,
        conn: _Conn,
        origin: Origin,
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]],
        body: AsyncBody,
        content_length: int | None,
    ) -> ResponseHead:
        if isinstance(body, bytes):
            content_length = len(body)
        head = conn.http.send_request(
            method=method,
            target=target,
            host=origin.host_header,
            headers=list(headers),
            content_length=content_length,
        )
        await self._write(conn, head)
        await self._send_body(conn, body, content_length)
        event = await self._read_event(conn)
        if not isinstance(event, ResponseHead):
            raise IncompleteResponse("response ended before its head")
        return event

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: AsyncBody = b"",
        content_length: int | None = None,
    ) -> AsyncIterator[tuple[ResponseHead, AsyncIterator[bytes]]]:
        """Send a request, yield ``(head, async body chunks)``; consume the body inside the
        block for the connection to be reused."""
        origin, target = split_url(url)
        for attempt in (1, 2):
            conn = await self._acquire(origin)
            try:
                head = await self._send_and_read_head(
                    conn, origin, method, target, headers, body, content_length
                )
                break
            except IncompleteResponse as exc:
                await conn.close()
                # A reused keep-alive connection the server had closed meanwhile: one retry
                # on a fresh connection, if the body can be sent again.
                if attempt == 2 or not conn.reused or exc.received or not isinstance(body, bytes):
                    raise
            except BaseException:
                conn.http.abort()
                await conn.close()
                raise
        done = False

        async def chunks() -> AsyncIterator[bytes]:
            nonlocal done
            while True:
                event = await self._read_event(conn)
                if isinstance(event, BodyChunk):
                    yield event.data
                elif isinstance(event, ResponseEnd):
                    done = True
                    return

        try:
            yield head, chunks()
        except BaseException:
            conn.http.abort()
            await conn.close()
            raise
        if done:
            await self._release(origin, conn)
        else:
            await conn.close()

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: AsyncBody = b"",
        content_length: int | None = None,
        max_body: int = 32 * 1024 * 1024,
    ) -> HttpResponse:
        """One request; the whole response body in memory (up to ``max_body``)."""
        async with self.stream(
            method, url, headers=headers, body=body, content_length=content_length
        ) as (head, it):
            parts: list[bytes] = []
            size = 0
            async for chunk in it:
                size += len(chunk)
                if size > max_body:
                    raise MalformedResponse(f"response body larger than {max_body} bytes")
                parts.append(chunk)
        return HttpResponse(
            status=head.status, reason=head.reason, headers=head.headers, body=b"".join(parts)
        )

    async def send(self, request: RestRequest[T]) -> T:
        """Send a REST request object and parse its answer (no session handling)."""
        response = await self.request(
            request.method, request.url, headers=request.headers, body=request.body
        )
        return request.parse(response.status, response.headers, response.body)

    async def upload(self, upload: BlobUpload, file: IO[bytes]) -> None:
        """Stream ``upload.size`` bytes of ``file`` (read in a worker thread) as the body."""

        async def body() -> AsyncIterator[bytes]:
            yield upload.head
            remaining = upload.size
            while remaining:
                chunk = await anyio.to_thread.run_sync(file.read, min(CHUNK_SIZE, remaining))
                if not chunk:
                    raise LocalProtocolError(f"file ended {remaining} bytes early")
                remaining -= len(chunk)
                yield chunk
            yield upload.tail

        response = await self.request(
            upload.method,
            upload.url,
            headers=upload.headers,
            body=body(),
            content_length=upload.content_length,
        )
        upload.parse(response.status, response.headers, response.body)

    async def download(
        self, url: str, sink: IO[bytes], *, headers: Iterable[tuple[str, str]] = ()
    ) -> int:
        """Stream the body at ``url`` (following redirects) into ``sink``; returns its size."""
        for _ in range(MAX_REDIRECTS + 1):
            async with self.stream("GET", url, headers=headers) as (head, chunks):
                location = head.header("location")
                if head.status in (301, 302, 303, 307, 308) and location:
                    async for _ in chunks:
                        pass
                    url = resolve_redirect(url, location)
                    continue
                if not 200 <= head.status <= 299:
                    body = b"".join([c async for c in chunks])
                    raise ApiError(status=head.status, errors=None, body=body)
                total = 0
                async for chunk in chunks:
                    await anyio.to_thread.run_sync(sink.write, chunk)
                    total += len(chunk)
                return total
        raise ApiError(status=310, errors="too many redirects", body=b"")


class AsyncRestClient:
    """The REST API with its session lifecycle, for asyncio and trio."""

    def __init__(self, session: RestSession, http: AsyncHttpClient | None = None) -> None:
        self.session = session
        self.http = http if http is not None else AsyncHttpClient()

    @classmethod
    def connect(
        cls,
        credentials: Any,
        *,
        base_url: str = "https://api.connectycube.com",
        retry: RetryPolicy | None = None,
        **http_options: Any,
    ) -> AsyncRestClient:
        """A client with a fresh session for ``credentials`` and a default retry policy."""
        session = RestSession(
            credentials=credentials,
            base_url=base_url,
            retry=retry or RetryPolicy(),
            random=random.random,
        )
        return cls(session, AsyncHttpClient(**http_options))

    async def call(self, request: RestRequest[T]) -> T:
        """Run ``request`` to completion and return its typed result (or raise RestError)."""
        exchange = self.session.exchange(request)
        step: Any = exchange.start()
        while not isinstance(step, Done):
            if isinstance(step, Wait):
                await anyio.sleep(step.seconds)
            req = step.request
            response = await self.http.request(
                req.method, req.url, headers=req.headers, body=req.body
            )
            step = exchange.receive(
                response.status, response.headers, response.body, now=time.time()
            )
        value: T = step.value
        return value

    async def upload_file(
        self, file: IO[bytes], *, name: str, content_type: str, size: int, public: bool = False
    ) -> Blob:
        """Create a blob, stream ``size`` bytes of ``file`` to storage, mark it complete."""
        blob = await self.call(create_blob(name=name, content_type=content_type, public=public))
        upload = prepare_blob_upload(
            blob,
            file_name=name,
            content_type=content_type,
            size=size,
            boundary=os.urandom(16).hex(),
        )
        await self.http.upload(upload, file)
        await self.call(complete_blob(blob.id, size))
        # The blob record was created before its bytes existed (size unknown then); the
        # storage now holds exactly ``size`` bytes, which ``get_blob`` would report too.
        return dataclasses.replace(blob, size=size)

    async def _session_token(self) -> str:
        """The session's token, creating the session first when none exists yet (as
        :meth:`call` does), so that a download can be a client's first request."""
        if self.session.token is None:
            self.session.adopt(await self.call(self.session.create_session_request()))
        token = self.session.token
        if token is None:  # pragma: no cover - adopt() always sets one
            raise LocalProtocolError("the new REST session has no token")
        return token

    async def download_blob(self, uid: str, sink: IO[bytes]) -> int:
        """Stream the blob ``uid`` (private URL with the session token) into ``sink``."""
        token = await self._session_token()
        url = _private_url(uid, token, base_url=self.session.base_url)
        return await self.http.download(url, sink)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncRestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
