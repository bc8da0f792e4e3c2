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

import ssl
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from typing import IO, Any, TypeVar

import anyio
import anyio.abc
from anyio.streams.tls import TLSStream

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
    NeedData,
    ResponseEnd,
    ResponseHead,
    RestRequest,
    Wait,
)
from cubeproto.rest.exchange import (
    BodyCollector,
    Download,
    DownloadAction,
    Origin,
    OutgoingRequest,
    RequestWriter,
    ResponseBody,
    UploadFeed,
    may_retry,
    private_blob_url,
    session_request,
)

from ._http_common import CHUNK_SIZE, HttpClientOptions, RestClientBase
from ._logging import log_rest_call

__all__ = ["AsyncHttpClient", "AsyncRestClient"]

T = TypeVar("T")

AsyncBody = bytes | Iterable[bytes] | AsyncIterable[bytes]


class _Conn:
    __slots__ = ("http", "reused", "stream")

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.http = HttpConnection()
        self.reused = False

    async def fail(self) -> None:
        """Close after an error: the connection is never reused."""
        self.http.abort()
        await self.close()

    async def close(self) -> None:
        with anyio.CancelScope(shield=True):
            with suppress(
                OSError, anyio.BrokenResourceError, anyio.ClosedResourceError, ssl.SSLError
            ):
                await self.stream.aclose()


class AsyncHttpClient(HttpClientOptions[_Conn]):
    """A keep-alive HTTP/1.1 client for asyncio and trio."""

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
        conn = self._pool.take(origin)
        return conn if conn is not None else await self._connect(origin)

    async def aclose(self) -> None:
        """Close every idle connection."""
        for conn in self._pool.drain():
            await conn.close()

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

    async def _send_and_read_head(
        self, conn: _Conn, request: OutgoingRequest, body: AsyncBody
    ) -> ResponseHead:
        writer = RequestWriter(conn.http, request, body)
        await self._write(conn, writer.start())
        if isinstance(body, AsyncIterable):
            async for chunk in body:
                await self._write(conn, writer.chunk(chunk))
        elif writer.streaming:
            assert not isinstance(body, bytes)
            for chunk in body:
                await self._write(conn, writer.chunk(chunk))
        if writer.streaming:
            await self._write(conn, writer.end())
        return writer.head_of(await self._read_event(conn))

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
        request = OutgoingRequest.of(method, url, headers=headers, content_length=content_length)
        origin = request.origin
        started = anyio.current_time()
        try:
            for attempt in (1, 2):
                conn = await self._acquire(origin)
                try:
                    head = await self._send_and_read_head(conn, request, body)
                    break
                except IncompleteResponse as exc:
                    await conn.close()
                    if not may_retry(attempt, reused=conn.reused, error=exc, body=body):
                        raise
                except BaseException:
                    await conn.fail()
                    raise
        except BaseException:
            log_rest_call(method, url, None, anyio.current_time() - started)
            raise
        log_rest_call(method, url, head.status, anyio.current_time() - started)
        body_events = ResponseBody()

        async def chunks() -> AsyncIterator[bytes]:
            while not body_events.done:
                data = body_events.piece(await self._read_event(conn))
                if data:
                    yield data

        try:
            yield head, chunks()
        except BaseException:
            await conn.fail()
            raise
        if not (body_events.done and self._pool.give_back(origin, conn)):
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
            collected = BodyCollector(head, max_body)
            async for chunk in it:
                collected.add(chunk)
        return collected.response()

    async def send(self, request: RestRequest[T]) -> T:
        """Send a REST request object and parse its answer (no session handling)."""
        response = await self.request(
            request.method, request.url, headers=request.headers, body=request.body
        )
        return request.parse(response.status, response.headers, response.body)

    async def upload(self, upload: BlobUpload, file: IO[bytes]) -> None:
        """Stream ``upload.size`` bytes of ``file`` (read in a worker thread) as the body."""

        async def body() -> AsyncIterator[bytes]:
            feed = UploadFeed(upload)
            while not feed.done:
                yield feed.take(await anyio.to_thread.run_sync(file.read, feed.want))

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
        download = Download(url)
        while download.another_hop():
            async with self.stream("GET", download.url, headers=headers) as (head, chunks):
                action = download.on_head(head)
                if action is DownloadAction.FAIL:
                    raise download.failure(head, b"".join([c async for c in chunks]))
                total = 0
                async for chunk in chunks:
                    if action is DownloadAction.STREAM:
                        await anyio.to_thread.run_sync(sink.write, chunk)
                        total += len(chunk)
                if action is DownloadAction.STREAM:
                    return total
        raise download.too_many()


class AsyncRestClient(RestClientBase[AsyncHttpClient]):
    """The REST API with its session lifecycle, for asyncio and trio."""

    http_client = AsyncHttpClient

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
        steps = self._upload_steps(name, content_type, size, public)
        await self.http.upload(steps.upload(await self.call(steps.create())), file)
        await self.call(steps.complete())
        return steps.result()

    async def download_blob(self, uid: str, sink: IO[bytes]) -> int:
        """Stream the blob ``uid`` (private URL with the session token) into ``sink``."""
        request = session_request(self.session)
        if request is not None:
            self.session.adopt(await self.call(request))
        return await self.http.download(private_blob_url(self.session, uid), sink)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncRestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
