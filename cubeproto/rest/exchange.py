"""What the HTTP clients decide, sans-IO, written once for the blocking and the anyio
adapters: which connection a request takes and whether it goes back to the pool, the
bytes of a request in order (and the check that a streamed body had the length it
announced), when a failed request may be sent again, how much of a body is kept in
memory, how a blob's bytes are read for an upload, and what a download does with each
response head (follow a redirect, fail, or stream the body).

An adapter (``cubeproto.transports.http_blocking`` / ``http_anyio``) keeps only its
socket I/O: connecting, writing, reading, sleeping, and reading or writing the user's
file.  :class:`~cubeproto.rest.http.HttpConnection` below this module turns the bytes
into response events.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar
from urllib.parse import urljoin, urlsplit

from ..errors import LocalProtocolError
from .errors import ApiError, IncompleteResponse, MalformedResponse
from .http import (
    DEFAULT_MAX_BODY,
    BodyChunk,
    HttpConnection,
    HttpResponse,
    ResponseEnd,
    ResponseHead,
)
from .models import Blob, Session
from .request import RestRequest
from .requests import blob_private_url, complete_blob, create_blob
from .session import RestSession
from .upload import BlobUpload, prepare_blob_upload

__all__ = [
    "CHUNK_SIZE",
    "MAX_REDIRECTS",
    "REDIRECT_STATUSES",
    "BodyCollector",
    "ConnectionPool",
    "Download",
    "DownloadAction",
    "FileUpload",
    "Origin",
    "OutgoingRequest",
    "PooledConnection",
    "RequestWriter",
    "ResponseBody",
    "UploadFeed",
    "blob_upload",
    "may_retry",
    "private_blob_url",
    "resolve_redirect",
    "session_request",
    "split_url",
    "uploaded_blob",
]

#: Bytes read from the socket per call, and the chunk size of streamed uploads.
CHUNK_SIZE = 64 * 1024
#: Redirects followed by a download (the blob URL answers 301 to storage).
MAX_REDIRECTS = 5
#: The statuses a download follows when they carry a ``Location``.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a connection goes: the pool key."""

    scheme: str
    host: str
    port: int

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def split_url(url: str) -> tuple[Origin, str]:
    """``https://host:port/path?q`` -> (origin, ``/path?q``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LocalProtocolError(f"not an http(s) URL: {url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise LocalProtocolError(f"bad port in {url!r}") from exc
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return Origin(parts.scheme, parts.hostname, port), target


def resolve_redirect(base: str, location: str) -> str:
    """An absolute URL for a Location header relative to ``base``."""
    return urljoin(base, location)


# ---------------------------------------------------------------------- the pool


class PooledConnection(Protocol):
    """What the pool needs of an adapter's connection."""

    http: HttpConnection
    #: Taken from the pool (it carried an earlier request), not freshly opened.
    reused: bool


C = TypeVar("C", bound=PooledConnection)


class ConnectionPool(Generic[C]):
    """Idle keep-alive connections, a list per origin.  A connection comes back only
    when :meth:`HttpConnection.reusable` says so (the last exchange ended cleanly), so a
    broken connection is never reused; the adapter opens and closes them."""

    def __init__(self, max_idle_per_origin: int) -> None:
        self.max_idle_per_origin = max_idle_per_origin
        self._idle: dict[Origin, list[C]] = {}

    def take(self, origin: Origin) -> C | None:
        """An idle connection to ``origin`` (marked reused), or ``None``: open one."""
        idle = self._idle.get(origin)
        if not idle:
            return None
        conn = idle.pop()
        conn.reused = True
        return conn

    def give_back(self, origin: Origin, conn: C) -> bool:
        """After a response was read to its end: ``True`` when the pool keeps ``conn``
        for the next request, ``False`` when the adapter must close it."""
        if not conn.http.reusable():
            return False
        idle = self._idle.setdefault(origin, [])
        if len(idle) >= self.max_idle_per_origin:
            return False
        conn.http.start_next_cycle()
        idle.append(conn)
        return True

    def drain(self) -> list[C]:
        """Every idle connection, removed from the pool (for the adapter to close)."""
        conns = [conn for idle in self._idle.values() for conn in idle]
        self._idle.clear()
        return conns


# ---------------------------------------------------------------------- one request


@dataclass(frozen=True, slots=True)
class OutgoingRequest:
    """A request as the adapter was asked to send it, before it has a connection:
    ``origin`` says which pool it draws from."""

    method: str
    origin: Origin
    target: str
    headers: tuple[tuple[str, str], ...]
    content_length: int | None

    @classmethod
    def of(
        cls,
        method: str,
        url: str,
        *,
        headers: Iterable[tuple[str, str]],
        content_length: int | None,
    ) -> OutgoingRequest:
        """``method`` on ``url`` (``LocalProtocolError`` for what is not an http(s) URL)."""
        origin, target = split_url(url)
        return cls(method, origin, target, tuple(headers), content_length)


class RequestWriter:
    """The bytes of one request on one connection, in the order they are written.

    ``body`` as bytes is written whole with the head (:attr:`streaming` is false); any
    other body is streamed by the adapter through :meth:`chunk` and :meth:`end`, with
    ``content_length`` (or chunked encoding when it is ``None``), and :meth:`end`
    refuses a body whose length differs from the one announced.
    """

    __slots__ = ("_expected", "_http", "_sent", "_start", "streaming")

    def __init__(self, http: HttpConnection, request: OutgoingRequest, body: object) -> None:
        self._http = http
        self.streaming = not isinstance(body, bytes)
        self._expected = len(body) if isinstance(body, bytes) else request.content_length
        self._sent = 0
        self._start = http.send_request(
            method=request.method,
            target=request.target,
            host=request.origin.host_header,
            headers=list(request.headers),
            content_length=self._expected,
        )
        if isinstance(body, bytes):
            self._start += http.send_body(body) + http.end_request()

    def start(self) -> bytes:
        """The head (and, for a bytes body, the whole request)."""
        return self._start

    def chunk(self, data: bytes) -> bytes:
        """Bytes for the next piece of a streamed body."""
        self._sent += len(data)
        return self._http.send_body(data)

    def end(self) -> bytes:
        """Bytes that end a streamed body; ``LocalProtocolError`` (and the connection
        marked broken) when it was not the announced length."""
        if self._expected is not None and self._sent != self._expected:
            self._http.abort()
            raise LocalProtocolError(
                f"body was {self._sent} bytes, content_length said {self._expected}"
            )
        return self._http.end_request()

    @staticmethod
    def head_of(event: ResponseHead | BodyChunk | ResponseEnd) -> ResponseHead:
        """The first response event must be the head."""
        if not isinstance(event, ResponseHead):
            raise IncompleteResponse("response ended before its head")
        return event


def may_retry(attempt: int, *, reused: bool, error: IncompleteResponse, body: object) -> bool:
    """Whether a request that failed with ``error`` is sent once more on a fresh
    connection: only the first attempt, only on a reused keep-alive connection (the
    server closed it while it was idle), only when nothing of the response arrived, and
    only when the body can be sent again (bytes, not a stream already consumed)."""
    return attempt == 1 and reused and not error.received and isinstance(body, bytes)


class ResponseBody:
    """Follows the events of a response's body for a streaming adapter: :meth:`piece`
    gives the bytes of each; :attr:`done` once the response ended (only then may the
    connection go back to the pool)."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = False

    def piece(self, event: ResponseHead | BodyChunk | ResponseEnd) -> bytes:
        """The body bytes ``event`` carries (``b""`` for the end)."""
        if isinstance(event, BodyChunk):
            return event.data
        if isinstance(event, ResponseEnd):
            self.done = True
        return b""


class BodyCollector:
    """A response body kept in memory, up to ``max_body`` bytes."""

    __slots__ = ("_head", "_max", "_parts", "_size")

    def __init__(self, head: ResponseHead, max_body: int = DEFAULT_MAX_BODY) -> None:
        self._head = head
        self._max = max_body
        self._parts: list[bytes] = []
        self._size = 0

    def add(self, chunk: bytes) -> None:
        """One more piece; ``MalformedResponse`` past the limit."""
        self._size += len(chunk)
        if self._size > self._max:
            raise MalformedResponse(f"response body larger than {self._max} bytes")
        self._parts.append(chunk)

    def response(self) -> HttpResponse:
        """The whole response."""
        head = self._head
        return HttpResponse(
            status=head.status, reason=head.reason, headers=head.headers, body=b"".join(self._parts)
        )


# ---------------------------------------------------------------------- blobs


def blob_upload(
    blob: Blob, *, name: str, content_type: str, size: int, boundary: str
) -> BlobUpload:
    """The multipart upload of ``size`` bytes to the storage ``create_blob`` answered
    with (``boundary``: random, from the adapter; this module has no randomness)."""
    return prepare_blob_upload(
        blob, file_name=name, content_type=content_type, size=size, boundary=boundary
    )


def uploaded_blob(blob: Blob, size: int) -> Blob:
    """The blob after its bytes were stored: the record was created before they existed
    (size unknown then); the storage now holds exactly ``size`` bytes, which
    ``get_blob`` would report too."""
    return dataclasses.replace(blob, size=size)


class FileUpload:
    """``upload_file``'s steps, for either adapter: :meth:`create` the blob record, send
    :meth:`upload` (the blob's bytes, to the storage that record names), :meth:`complete`
    it, and the uploaded blob is :meth:`result`.  The adapter runs each step its way
    (``boundary``: random, from the adapter; this module has no randomness)."""

    def __init__(
        self, *, name: str, content_type: str, size: int, public: bool, boundary: str
    ) -> None:
        self.name = name
        self.content_type = content_type
        self.size = size
        self.public = public
        self.boundary = boundary
        self._blob: Blob | None = None

    def create(self) -> RestRequest[Blob]:
        """The request that creates the blob record (the first step)."""
        return create_blob(name=self.name, content_type=self.content_type, public=self.public)

    def upload(self, blob: Blob) -> BlobUpload:
        """The multipart upload to the storage ``blob`` (what :meth:`create` answered)
        names."""
        self._blob = blob
        return blob_upload(
            blob,
            name=self.name,
            content_type=self.content_type,
            size=self.size,
            boundary=self.boundary,
        )

    def complete(self) -> RestRequest[None]:
        """The request that marks the blob complete, once its bytes are stored."""
        return complete_blob(self._created().id, self.size)

    def result(self) -> Blob:
        """The blob as stored (see :func:`uploaded_blob`)."""
        return uploaded_blob(self._created(), self.size)

    def _created(self) -> Blob:
        if self._blob is None:
            raise LocalProtocolError("FileUpload: upload(blob) comes before this step")
        return self._blob


class UploadFeed:
    """The body of a blob upload, read from the user's file by the adapter: ask for
    :attr:`want` bytes, hand them to :meth:`take` and send what it returns, until
    :attr:`done`.  The multipart head goes with the first piece and the closing
    boundary with the last; a file that ends early is refused."""

    __slots__ = ("_head", "_remaining", "_tail", "done")

    def __init__(self, upload: BlobUpload) -> None:
        self._head = upload.head
        self._tail = upload.tail
        self._remaining = upload.size
        self.done = False

    @property
    def want(self) -> int:
        """How many bytes to read next (0 for an empty file: the first piece is then
        the head and the tail)."""
        return min(CHUNK_SIZE, self._remaining)

    def take(self, data: bytes) -> bytes:
        """The bytes to send for ``data``, read from the file."""
        if self._remaining and not data:
            raise LocalProtocolError(f"file ended {self._remaining} bytes early")
        self._remaining -= len(data)
        if self._remaining < 0:
            raise LocalProtocolError("the file gave more bytes than asked for")
        out = self._head + data
        self._head = b""
        if not self._remaining:
            out += self._tail
            self.done = True
        return out


class DownloadAction(enum.Enum):
    """What to do with a download's response: read and drop the body and go to
    :attr:`Download.url` (FOLLOW), read the body and raise :meth:`Download.failure`
    (FAIL), or stream the body to the user's sink (STREAM)."""

    FOLLOW = "follow"
    FAIL = "fail"
    STREAM = "stream"


class Download:
    """A download that follows up to :data:`MAX_REDIRECTS` redirects: the adapter GETs
    :attr:`url` while :meth:`another_hop` allows, and does what :meth:`on_head` says."""

    __slots__ = ("_hops", "url")

    def __init__(self, url: str) -> None:
        self.url = url
        self._hops = 0

    def another_hop(self) -> bool:
        """Whether one more request may be made (else raise :meth:`too_many`)."""
        self._hops += 1
        return self._hops <= MAX_REDIRECTS + 1

    def on_head(self, head: ResponseHead) -> DownloadAction:
        """The action for a response head; a redirect moves :attr:`url`."""
        location = head.header("location")
        if head.status in REDIRECT_STATUSES and location:
            self.url = resolve_redirect(self.url, location)
            return DownloadAction.FOLLOW
        if not 200 <= head.status <= 299:
            return DownloadAction.FAIL
        return DownloadAction.STREAM

    @staticmethod
    def failure(head: ResponseHead, body: bytes) -> ApiError:
        """The error for a response that is neither a redirect nor a success."""
        return ApiError(status=head.status, errors=None, body=body)

    @staticmethod
    def too_many() -> ApiError:
        """The error when the redirects did not end."""
        return ApiError(status=310, errors="too many redirects", body=b"")


# ---------------------------------------------------------------------- the REST client


def session_request(session: RestSession) -> RestRequest[Session] | None:
    """The request that creates ``session``'s REST session when it has no token yet
    (as :meth:`RestSession.exchange` would), so that a download, which does not go
    through an exchange, can be a client's first request; ``None``: it has one."""
    return session.create_session_request() if session.token is None else None


def private_blob_url(session: RestSession, uid: str) -> str:
    """The private URL of the blob ``uid`` with ``session``'s token (after
    :func:`session_request` was answered and adopted)."""
    token = session.token
    if token is None:
        raise LocalProtocolError("no REST session token yet: create the session first")
    return blob_private_url(uid, token, base_url=session.base_url)
