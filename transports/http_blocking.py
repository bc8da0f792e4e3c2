"""Blocking HTTP/1.1 client on plain sockets + ssl, driving the sans-IO exchange.

:class:`BlockingHttpClient` sends :class:`~cubeproto.rest.RestRequest` objects (and raw
requests) over a keep-alive pool: one idle-connection list per origin; a connection goes
back to the pool only when :meth:`HttpConnection.reusable` says so, and is closed after any
error, so a broken connection is never reused.  TLS verification is on (system store, or a
custom CA file / context).  Connect and read timeouts raise
:class:`~cubeproto.rest.HttpTimeout`.  Uploads and downloads stream in 64 KiB chunks.

:class:`BlockingRestClient` adds the session lifecycle: it drives a
:class:`~cubeproto.rest.RestSession` exchange (session creation, one renewal on expiry,
retries with backoff) with the real clock and ``time.sleep``.
"""

from __future__ import annotations

import select
import socket
import ssl
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any, TypeVar

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
    CHUNK_SIZE,
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

from ._http_common import HttpClientOptions, RestClientBase
from ._logging import log_rest_call

__all__ = ["BlockingHttpClient", "BlockingRestClient"]

T = TypeVar("T")


class _Conn:
    __slots__ = ("http", "reused", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.http = HttpConnection()
        self.reused = False

    def fail(self) -> None:
        """Close after an error: the connection is never reused."""
        self.http.abort()
        self.close()

    def close(self) -> None:
        with suppress(OSError):
            self.sock.close()

    def looks_alive(self) -> bool:
        """An idle connection that became readable has been closed (or sent junk)."""
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable


class BlockingHttpClient(HttpClientOptions[_Conn]):
    """A keep-alive HTTP/1.1 client for blocking code."""

    # -- pool ----------------------------------------------------------------------------

    def _connect(self, origin: Origin) -> _Conn:
        try:
            sock = socket.create_connection(
                (origin.host, origin.port), timeout=self.connect_timeout
            )
        except TimeoutError as exc:
            raise HttpTimeout(
                f"connect to {origin.host}:{origin.port} timed out", phase="connect"
            ) from exc
        except OSError as exc:
            raise HttpConnectError(f"cannot connect to {origin.host}:{origin.port}: {exc}") from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if origin.scheme == "https":
                sock = self._ssl.wrap_socket(sock, server_hostname=origin.host)
        except TimeoutError as exc:
            sock.close()
            raise HttpTimeout(
                f"TLS handshake with {origin.host} timed out", phase="connect"
            ) from exc
        except (ssl.SSLError, OSError) as exc:
            sock.close()
            raise HttpConnectError(f"TLS with {origin.host}:{origin.port} failed: {exc}") from exc
        sock.settimeout(self.read_timeout)
        self.connections_opened += 1
        return _Conn(sock)

    def _acquire(self, origin: Origin) -> _Conn:
        while (conn := self._pool.take(origin)) is not None:
            if conn.looks_alive():
                return conn
            conn.close()
        return self._connect(origin)

    def close(self) -> None:
        """Close every idle connection."""
        for conn in self._pool.drain():
            conn.close()

    def __enter__(self) -> BlockingHttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one exchange --------------------------------------------------------------------

    def _write(self, conn: _Conn, data: bytes) -> None:
        if data:
            try:
                conn.sock.sendall(data)
            except TimeoutError as exc:
                raise HttpTimeout("write timed out", phase="write") from exc
            except OSError as exc:
                raise IncompleteResponse(f"connection failed while sending: {exc}") from exc

    def _read_event(self, conn: _Conn) -> ResponseHead | BodyChunk | ResponseEnd:
        while True:
            event = conn.http.next_event()
            if not isinstance(event, NeedData):
                return event
            try:
                data = conn.sock.recv(CHUNK_SIZE)
            except TimeoutError as exc:
                raise HttpTimeout(f"no data for {self.read_timeout}s", phase="read") from exc
            except OSError as exc:  # reset, broken pipe, TLS alert
                data = b""
                if not isinstance(exc, (ConnectionError, ssl.SSLError)):
                    raise IncompleteResponse(f"connection failed: {exc}") from exc
            if data:
                conn.http.receive_data(data)
            else:
                conn.http.receive_eof()

    @contextmanager
    def stream(
        self,
        method: str,
        url: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes | Iterable[bytes] = b"",
        content_length: int | None = None,
    ) -> Iterator[tuple[ResponseHead, Iterator[bytes]]]:
        """Send a request, yield ``(head, body chunks)``; the body must be consumed in the
        ``with`` block for the connection to be reused.

        ``body`` is bytes or an iterable of byte chunks (then give ``content_length``, or the
        body is sent chunked).
        """
        request = OutgoingRequest.of(method, url, headers=headers, content_length=content_length)
        origin = request.origin
        started = time.monotonic()
        try:
            for attempt in (1, 2):
                conn = self._acquire(origin)
                try:
                    head = self._send_and_read_head(conn, request, body)
                    break
                except IncompleteResponse as exc:
                    conn.close()
                    if not may_retry(attempt, reused=conn.reused, error=exc, body=body):
                        raise
                except BaseException:
                    conn.fail()
                    raise
        except BaseException:
            log_rest_call(method, url, None, time.monotonic() - started)
            raise
        log_rest_call(method, url, head.status, time.monotonic() - started)
        body_events = ResponseBody()

        def chunks() -> Iterator[bytes]:
            while not body_events.done:
                data = body_events.piece(self._read_event(conn))
                if data:
                    yield data

        try:
            yield head, chunks()
        except BaseException:
            conn.fail()
            raise
        if not (body_events.done and self._pool.give_back(origin, conn)):
            conn.close()

    def _send_and_read_head(
        self, conn: _Conn, request: OutgoingRequest, body: bytes | Iterable[bytes]
    ) -> ResponseHead:
        writer = RequestWriter(conn.http, request, body)
        self._write(conn, writer.start())
        if writer.streaming:
            assert not isinstance(body, bytes)
            for chunk in body:
                self._write(conn, writer.chunk(chunk))
            self._write(conn, writer.end())
        return writer.head_of(self._read_event(conn))

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes | Iterable[bytes] = b"",
        content_length: int | None = None,
        max_body: int = 32 * 1024 * 1024,
    ) -> HttpResponse:
        """One request; the whole response body in memory (up to ``max_body``)."""
        with self.stream(
            method, url, headers=headers, body=body, content_length=content_length
        ) as (head, it):
            collected = BodyCollector(head, max_body)
            for chunk in it:
                collected.add(chunk)
        return collected.response()

    def send(self, request: RestRequest[T]) -> T:
        """Send a REST request object and parse its answer (no session handling)."""
        response = self.request(
            request.method, request.url, headers=request.headers, body=request.body
        )
        return request.parse(response.status, response.headers, response.body)

    def upload(self, upload: BlobUpload, file: IO[bytes]) -> None:
        """Stream ``upload.size`` bytes of ``file`` as the multipart body, chunk by chunk."""

        def body() -> Iterator[bytes]:
            feed = UploadFeed(upload)
            while not feed.done:
                yield feed.take(file.read(feed.want))

        response = self.request(
            upload.method,
            upload.url,
            headers=upload.headers,
            body=body(),
            content_length=upload.content_length,
        )
        upload.parse(response.status, response.headers, response.body)

    def download(
        self, url: str, sink: IO[bytes], *, headers: Iterable[tuple[str, str]] = ()
    ) -> int:
        """Stream the body at ``url`` (following redirects) into ``sink``; returns its size."""
        download = Download(url)
        while download.another_hop():
            with self.stream("GET", download.url, headers=headers) as (head, chunks):
                action = download.on_head(head)
                if action is DownloadAction.FAIL:
                    raise download.failure(head, b"".join(chunks))
                total = 0
                for chunk in chunks:
                    if action is DownloadAction.STREAM:
                        sink.write(chunk)
                        total += len(chunk)
                if action is DownloadAction.STREAM:
                    return total
        raise download.too_many()


class BlockingRestClient(RestClientBase[BlockingHttpClient]):
    """The REST API with its session lifecycle, for blocking code.

    ``client.call(rest.list_dialogs())`` creates the session on first use, stamps the token,
    renews it once on expiry, retries 429/5xx with backoff, and returns the typed result.
    """

    http_client = BlockingHttpClient

    def call(self, request: RestRequest[T]) -> T:
        """Run ``request`` to completion and return its typed result (or raise RestError)."""
        exchange = self.session.exchange(request)
        step: Any = exchange.start()
        while not isinstance(step, Done):
            if isinstance(step, Wait):
                time.sleep(step.seconds)
            req = step.request
            response = self.http.request(req.method, req.url, headers=req.headers, body=req.body)
            step = exchange.receive(
                response.status, response.headers, response.body, now=time.time()
            )
        value: T = step.value
        return value

    def upload_file(
        self, file: IO[bytes], *, name: str, content_type: str, size: int, public: bool = False
    ) -> Blob:
        """Create a blob, stream ``size`` bytes of ``file`` to storage, mark it complete."""
        steps = self._upload_steps(name, content_type, size, public)
        self.http.upload(steps.upload(self.call(steps.create())), file)
        self.call(steps.complete())
        return steps.result()

    def download_blob(self, uid: str, sink: IO[bytes]) -> int:
        """Stream the blob ``uid`` (private URL with the session token) into ``sink``."""
        request = session_request(self.session)
        if request is not None:
            self.session.adopt(self.call(request))
        return self.http.download(private_blob_url(self.session, uid), sink)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> BlockingRestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
