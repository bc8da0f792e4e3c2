"""The HTTP clients' decisions, sans-IO (cubeproto.rest.exchange), with real h11
connections fed real bytes: the pool, the request bytes and the length check, the retry
rule, the body limit, the upload feed and the download's redirects."""

from __future__ import annotations

import pytest

from cubeproto.errors import LocalProtocolError
from cubeproto.rest import BlobUpload, HttpConnection, IncompleteResponse, MalformedResponse
from cubeproto.rest.errors import ApiError
from cubeproto.rest.exchange import (
    CHUNK_SIZE,
    MAX_REDIRECTS,
    BodyCollector,
    ConnectionPool,
    Download,
    DownloadAction,
    Origin,
    OutgoingRequest,
    RequestWriter,
    ResponseBody,
    UploadFeed,
    may_retry,
    split_url,
)
from cubeproto.rest.http import ResponseEnd, ResponseHead

ORIGIN, TARGET = split_url("https://api.example:8443/blobs/1?token=t")


class Conn:
    """A pooled connection as an adapter has it (without the socket)."""

    def __init__(self) -> None:
        self.http = HttpConnection()
        self.reused = False


def _exchange_once(conn: Conn) -> None:
    """One complete GET and its answer on ``conn`` (so that it is reusable)."""
    writer = RequestWriter(conn.http, OutgoingRequest("GET", ORIGIN, TARGET, (), None), b"")
    assert writer.start() == (b"GET /blobs/1?token=t HTTP/1.1\r\nHost: api.example:8443\r\n\r\n")
    conn.http.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert isinstance(conn.http.next_event(), ResponseHead)
    conn.http.next_event()
    assert isinstance(conn.http.next_event(), ResponseEnd)


def test_pool_keeps_reusable_connections_up_to_its_limit() -> None:
    pool: ConnectionPool[Conn] = ConnectionPool(max_idle_per_origin=1)
    assert pool.take(ORIGIN) is None
    first, second = Conn(), Conn()
    _exchange_once(first)
    _exchange_once(second)
    assert pool.give_back(ORIGIN, first) is True
    assert pool.give_back(ORIGIN, second) is False  # over the limit: the adapter closes it
    taken = pool.take(ORIGIN)
    assert taken is first and first.reused
    assert pool.take(Origin("https", "other.example", 443)) is None


def test_pool_refuses_a_connection_whose_response_was_not_read_to_the_end() -> None:
    pool: ConnectionPool[Conn] = ConnectionPool(max_idle_per_origin=4)
    conn = Conn()
    RequestWriter(conn.http, OutgoingRequest("GET", ORIGIN, TARGET, (), None), b"")
    assert pool.give_back(ORIGIN, conn) is False
    assert pool.drain() == []


def test_drain_empties_the_pool() -> None:
    pool: ConnectionPool[Conn] = ConnectionPool(max_idle_per_origin=4)
    conn = Conn()
    _exchange_once(conn)
    pool.give_back(ORIGIN, conn)
    assert pool.drain() == [conn]
    assert pool.take(ORIGIN) is None


def test_a_streamed_body_must_have_the_announced_length() -> None:
    conn = Conn()
    writer = RequestWriter(conn.http, OutgoingRequest("POST", ORIGIN, "/", (), 5), iter([]))
    assert writer.streaming
    assert b"content-length: 5" in writer.start().lower()
    writer.chunk(b"abc")
    with pytest.raises(LocalProtocolError, match="body was 3 bytes, content_length said 5"):
        writer.end()
    assert conn.http.broken


def test_a_bytes_body_goes_with_the_head() -> None:
    conn = Conn()
    writer = RequestWriter(conn.http, OutgoingRequest("POST", ORIGIN, "/", (), None), b"hello")
    assert not writer.streaming
    assert writer.start().endswith(b"\r\n\r\nhello")


def test_only_a_replayable_first_attempt_on_a_reused_connection_is_retried() -> None:
    cut = IncompleteResponse("closed", received=0)
    assert may_retry(1, reused=True, error=cut, body=b"x")
    assert not may_retry(2, reused=True, error=cut, body=b"x")
    assert not may_retry(1, reused=False, error=cut, body=b"x")
    assert not may_retry(1, reused=True, error=IncompleteResponse("c", received=3), body=b"x")
    assert not may_retry(1, reused=True, error=cut, body=iter([b"x"]))


def test_body_collector_stops_at_the_limit() -> None:
    head = ResponseHead(status=200, reason="OK", headers=())
    collected = BodyCollector(head, max_body=4)
    collected.add(b"abcd")
    assert collected.response().body == b"abcd"
    with pytest.raises(MalformedResponse, match="larger than 4 bytes"):
        collected.add(b"e")


def _upload(size: int) -> BlobUpload:
    return BlobUpload(url="https://s.example/", headers=(), head=b"<h>", tail=b"<t>", size=size)


def test_upload_feed_frames_the_file_in_chunks() -> None:
    data = bytes(range(256)) * ((CHUNK_SIZE + 100) // 256 + 1)
    data = data[: CHUNK_SIZE + 100]
    feed = UploadFeed(_upload(len(data)))
    sent, offset = [], 0
    while not feed.done:
        want = feed.want
        sent.append(feed.take(data[offset : offset + want]))
        offset += want
    assert [len(piece) for piece in sent] == [CHUNK_SIZE + 3, 100 + 3]
    assert b"".join(sent) == b"<h>" + data + b"<t>"


def test_upload_feed_of_an_empty_file_and_of_one_that_ends_early() -> None:
    empty = UploadFeed(_upload(0))
    assert empty.want == 0
    assert empty.take(b"") == b"<h><t>"
    assert empty.done
    short = UploadFeed(_upload(10))
    short.take(b"12345")
    with pytest.raises(LocalProtocolError, match="file ended 5 bytes early"):
        short.take(b"")


def _head(status: int, location: str | None = None) -> ResponseHead:
    headers = (("location", location),) if location else ()
    return ResponseHead(status=status, reason="", headers=headers)


def test_download_follows_relative_redirects_then_streams() -> None:
    download = Download("https://api.example/blobs/u?token=t")
    assert download.another_hop()
    assert download.on_head(_head(301, "https://s3.example/b/u")) is DownloadAction.FOLLOW
    assert download.url == "https://s3.example/b/u"
    assert download.another_hop()
    assert download.on_head(_head(302, "/b/u2")) is DownloadAction.FOLLOW
    assert download.url == "https://s3.example/b/u2"
    assert download.on_head(_head(200)) is DownloadAction.STREAM
    assert download.on_head(_head(301)) is DownloadAction.FAIL  # a redirect without Location
    failure = download.failure(_head(404), b"gone")
    assert isinstance(failure, ApiError) and failure.status == 404


def test_download_gives_up_after_the_redirect_limit() -> None:
    download = Download("https://api.example/")
    hops = 0
    while download.another_hop():
        hops += 1
        download.on_head(_head(307, "/again"))
    assert hops == MAX_REDIRECTS + 1
    assert download.too_many().status == 310


def test_response_body_gives_the_pieces_and_knows_the_end() -> None:
    conn = Conn()
    RequestWriter(conn.http, OutgoingRequest("GET", ORIGIN, TARGET, (), None), b"")
    conn.http.receive_data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
    assert isinstance(conn.http.next_event(), ResponseHead)
    body = ResponseBody()
    assert body.piece(conn.http.next_event()) == b"abc"  # type: ignore[arg-type]
    assert not body.done
    conn.http.receive_data(b"0\r\n\r\n")
    assert body.piece(conn.http.next_event()) == b""  # type: ignore[arg-type]
    assert body.done
