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

import dataclasses
import os
import random
import select
import socket
import ssl
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any, TypeVar

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

__all__ = ["BlockingHttpClient", "BlockingRestClient"]

T = TypeVar("T")


class _Conn:
    __slots__ = ("http", "reused", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.http = HttpConnection()
        self.reused = False

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


class BlockingHttpClient:
    """A keep-alive HTTP/1.1 client for blocking code."""

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
        idle = self._idle.get(origin, [])
        while idle:
            conn = idle.pop()
            if conn.looks_alive():
                conn.reused = True
                return conn
            conn.close()
        return self._connect(origin)

    def _release(self, origin: Origin, conn: _Conn) -> None:
        if conn.http.reusable():
            conn.http.start_next_cycle()
            idle = self._idle.setdefault(origin, [])
            if len(idle) < self.max_idle_per_origin:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close every idle connection."""
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()

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
        origin, target = split_url(url)
        for attempt in (1, 2):
            conn = self._acquire(origin)
            try:
                head = self._send_and_read_head(
                    conn, origin, method, target, headers, body, content_length
                )
                break
            except IncompleteResponse as exc:
                conn.close()
                # A reused keep-alive connection the server had already closed: try a fresh one
                # once, but only if the body can be sent again.
                if attempt == 2 or not conn.reused or exc.received or not isinstance(body, bytes):
                    raise
            except BaseException:
                conn.http.abort()
                conn.close()
                raise
        done = False

        def chunks() -> Iterator[bytes]:
            nonlocal done
            while True:
                event = self._read_event(conn)
                if isinstance(event, BodyChunk):
                    yield event.data
                elif isinstance(event, ResponseEnd):
                    done = True
                    return

        try:
            yield head, chunks()
        except BaseException:
            conn.http.abort()
            conn.close()
            raise
        if done:
            self._release(origin, conn)
        else:
            conn.close()

    def _send_and_read_head(
        self,
        conn: _Conn,
        origin: Origin,
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]],
        body: bytes | Iterable[bytes],
        content_length: int | None,
    ) -> ResponseHead:
        if isinstance(body, bytes):
            content_length = len(body)
        head_bytes = conn.http.send_request(
            method=method,
            target=target,
            host=origin.host_header,
            headers=list(headers),
            content_length=content_length,
        )
        if isinstance(body, bytes):
            self._write(conn, head_bytes + conn.http.send_body(body) + conn.http.end_request())
        else:
            self._write(conn, head_bytes)
            sent = 0
            for chunk in body:
                sent += len(chunk)
                self._write(conn, conn.http.send_body(chunk))
            if content_length is not None and sent != content_length:
                conn.http.abort()
                raise LocalProtocolError(
                    f"body was {sent} bytes, content_length said {content_length}"
                )
            self._write(conn, conn.http.end_request())
        event = self._read_event(conn)
        if not isinstance(event, ResponseHead):
            raise IncompleteResponse("response ended before its head")
        return event

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
            parts: list[bytes] = []
            size = 0
            for chunk in it:
                size += len(chunk)
                if size > max_body:
                    from cubeproto.rest import MalformedResponse

                    raise MalformedResponse(f"response body larger than {max_body} bytes")
                parts.append(chunk)
        return HttpResponse(
            status=head.status, reason=head.reason, headers=head.headers, body=b"".join(parts)
        )

    def send(self, request: RestRequest[T]) -> T:
        """Send a REST request object and parse its answer (no session handling)."""
        response = self.request(
            request.method, request.url, headers=request.headers, body=request.body
        )
        return request.parse(response.status, response.headers, response.body)

    def upload(self, upload: BlobUpload, file: IO[bytes]) -> None:
        """Stream ``upload.size`` bytes of ``file`` as the multipart body, chunk by chunk."""

        def body() -> Iterator[bytes]:
            yield upload.head
            remaining = upload.size
            while remaining:
                chunk = file.read(min(CHUNK_SIZE, remaining))
                if not chunk:
                    raise LocalProtocolError(f"file ended {remaining} bytes early")
                remaining -= len(chunk)
                yield chunk
            yield upload.tail

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
        for _ in range(MAX_REDIRECTS + 1):
            with self.stream("GET", url, headers=headers) as (head, chunks):
                location = head.header("location")
                if head.status in (301, 302, 303, 307, 308) and location:
                    for _ in chunks:
                        pass
                    url = resolve_redirect(url, location)
                    continue
                if not 200 <= head.status <= 299:
                    body = b"".join(chunks)
                    raise ApiError(status=head.status, errors=None, body=body)
                total = 0
                for chunk in chunks:
                    sink.write(chunk)
                    total += len(chunk)
                return total
        raise ApiError(status=310, errors="too many redirects", body=b"")


class BlockingRestClient:
    """The REST API with its session lifecycle, for blocking code.

    ``client.call(rest.list_dialogs())`` creates the session on first use, stamps the token,
    renews it once on expiry, retries 429/5xx with backoff, and returns the typed result.
    """

    def __init__(self, session: RestSession, http: BlockingHttpClient | None = None) -> None:
        self.session = session
        self.http = http if http is not None else BlockingHttpClient()

    @classmethod
    def connect(
        cls,
        credentials: Any,
        *,
        base_url: str = "https://api.connectycube.com",
        retry: RetryPolicy | None = None,
        **http_options: Any,
    ) -> BlockingRestClient:
        """A client with a fresh session for ``credentials`` and a default retry policy."""
        session = RestSession(
            credentials=credentials,
            base_url=base_url,
            retry=retry or RetryPolicy(),
            random=random.random,
        )
        return cls(session, BlockingHttpClient(**http_options))

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
        blob = self.call(create_blob(name=name, content_type=content_type, public=public))
        upload = prepare_blob_upload(
            blob,
            file_name=name,
            content_type=content_type,
            size=size,
            boundary=os.urandom(16).hex(),
        )
        self.http.upload(upload, file)
        self.call(complete_blob(blob.id, size))
        # The blob record was created before its bytes existed (size unknown then); the
        # storage now holds exactly ``size`` bytes, which ``get_blob`` would report too.
        return dataclasses.replace(blob, size=size)

    def _session_token(self) -> str:
        """The session's token, creating the session first when none exists yet (as
        :meth:`call` does), so that a download can be a client's first request."""
        if self.session.token is None:
            self.session.adopt(self.call(self.session.create_session_request()))
        token = self.session.token
        if token is None:  # pragma: no cover - adopt() always sets one
            raise LocalProtocolError("the new REST session has no token")
        return token

    def download_blob(self, uid: str, sink: IO[bytes]) -> int:
        """Stream the blob ``uid`` (private URL with the session token) into ``sink``."""
        token = self._session_token()
        url = _private_url(uid, token, base_url=self.session.base_url)
        return self.http.download(url, sink)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> BlockingRestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
