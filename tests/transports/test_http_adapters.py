"""The HTTP adapters against a real HTTP server on loopback, on blocking sockets, asyncio and
trio: TLS with trustme certificates, keep-alive reuse, chunked bodies, timeouts, connections
cut mid-response, wrong lengths, streaming of multi-megabyte blobs in bounded memory.  The
session lifecycle end to end runs against the local server instead (test_rest_lifecycle.py
in tests/localserver/)."""

from __future__ import annotations

import hashlib
import json
import ssl
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import pytest
import trustme
from cubeproto.transports.http_anyio import AsyncHttpClient
from cubeproto.transports.http_blocking import BlockingHttpClient
from httpserver import HttpTestServer, Reply, Req

from cubeproto import rest
from cubeproto.rest import (
    HttpConnectError,
    HttpTimeout,
    IncompleteResponse,
    MalformedResponse,
    ResponseFormatError,
)

FLAVORS = ["blocking", "asyncio", "trio"]


class Facade:
    """One async surface over both clients (the blocking one is simply called inline)."""

    def __init__(self, flavor: str, **options: Any) -> None:
        self.flavor = flavor
        self.sync = BlockingHttpClient(**options) if flavor == "blocking" else None
        self.async_ = None if flavor == "blocking" else AsyncHttpClient(**options)

    @property
    def opened(self) -> int:
        client = self.sync or self.async_
        assert client is not None
        return client.connections_opened

    async def request(self, method: str, url: str, **kw: Any) -> rest.HttpResponse:
        if self.sync:
            return self.sync.request(method, url, **kw)
        assert self.async_ is not None
        return await self.async_.request(method, url, **kw)

    async def send(self, req: rest.RestRequest[Any]) -> Any:
        if self.sync:
            return self.sync.send(req)
        assert self.async_ is not None
        return await self.async_.send(req)

    async def upload(self, up: rest.BlobUpload, f: Any) -> None:
        if self.sync:
            return self.sync.upload(up, f)
        assert self.async_ is not None
        return await self.async_.upload(up, f)

    async def download(self, url: str, sink: Any) -> int:
        if self.sync:
            return self.sync.download(url, sink)
        assert self.async_ is not None
        return await self.async_.download(url, sink)

    async def close(self) -> None:
        if self.sync:
            self.sync.close()
        elif self.async_:
            await self.async_.aclose()


def run(flavor: str, scenario: Callable[[], Awaitable[None]]) -> None:
    anyio.run(scenario, backend="trio" if flavor == "trio" else "asyncio")


def ok_json(value: Any) -> Reply:
    return Reply(headers=[("Content-Type", "application/json")], body=json.dumps(value).encode())


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_ssl(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(ctx)
    return ctx


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_keep_alive_reuses_one_connection(flavor: str) -> None:
    with HttpTestServer(lambda req: ok_json({"total": len(req.target)})) as server:
        client = Facade(flavor)

        async def scenario() -> None:
            for _ in range(5):
                counts = await client.send(rest.unread_counts(token="t", base_url=server.base_url))
                assert counts.total == len("/chat/Message/unread.json")
            await client.close()

        run(flavor, scenario)
        assert server.connections == 1 and client.opened == 1 and len(server.requests) == 5
        assert server.requests[0].headers["cb-token"] == "t"
        assert server.requests[0].headers["host"] == f"127.0.0.1:{server.port}"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_tls_with_custom_ca_and_verification_on(
    flavor: str, server_ssl: ssl.SSLContext, ca_file: str
) -> None:
    with HttpTestServer(lambda req: ok_json({"total": 1}), ssl_context=server_ssl) as server:
        trusted = Facade(flavor, ca_file=ca_file)
        untrusted = Facade(flavor)  # system store: does not know the test CA

        async def scenario() -> None:
            for _ in range(3):
                assert (await trusted.send(rest.unread_counts(base_url=server.base_url))).total == 1
            with pytest.raises(HttpConnectError):
                await untrusted.send(rest.unread_counts(base_url=server.base_url))
            await trusted.close()

        run(flavor, scenario)
        assert trusted.opened == 1


@pytest.mark.parametrize("flavor", FLAVORS)
def test_chunked_response(flavor: str) -> None:
    body = json.dumps({"skip": 0, "limit": 2, "items": [{"_id": "a"}, {"_id": "b"}]}).encode()
    pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
    with HttpTestServer(lambda req: Reply(body=iter(pieces), chunked=True)) as server:
        client = Facade(flavor)

        async def scenario() -> None:
            for _ in range(2):
                page = await client.send(rest.list_messages("d1", base_url=server.base_url))
                assert [m.id for m in page.items] == ["a", "b"]
            await client.close()

        run(flavor, scenario)
        assert server.connections == 1


@pytest.mark.parametrize("flavor", FLAVORS)
def test_read_timeout_then_pool_still_usable(flavor: str) -> None:
    def handler(req: Req) -> Reply:
        return Reply(stall=True) if req.target.startswith("/stall") else ok_json({"total": 2})

    with HttpTestServer(handler) as server:
        client = Facade(flavor, read_timeout=0.3)

        async def scenario() -> None:
            with pytest.raises(HttpTimeout) as info:
                await client.request("GET", server.base_url + "/stall")
            assert info.value.phase == "read"
            assert (await client.send(rest.unread_counts(base_url=server.base_url))).total == 2
            await client.close()

        run(flavor, scenario)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_tls_handshake_that_never_comes_is_a_connect_timeout(flavor: str, ca_file: str) -> None:
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    release = threading.Event()

    def silent() -> None:  # accepts, reads nothing, answers nothing
        sock, _ = listener.accept()
        release.wait(10)
        sock.close()

    thread = threading.Thread(target=silent, daemon=True)
    thread.start()
    client = Facade(flavor, ca_file=ca_file, connect_timeout=0.3)

    async def scenario() -> None:
        with pytest.raises(HttpTimeout) as info:
            await client.request("GET", f"https://localhost:{port}/")
        assert info.value.phase == "connect"

    try:
        run(flavor, scenario)
    finally:
        release.set()
        thread.join(5)
        listener.close()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_cut_mid_response_is_typed_and_pool_recovers(flavor: str) -> None:
    def handler(req: Req) -> Reply:
        if req.target.startswith("/cut"):
            return Reply(body=b"x" * 5000, cut_after=1000)
        return ok_json({"total": 3})

    with HttpTestServer(handler) as server:
        client = Facade(flavor)

        async def scenario() -> None:
            assert (await client.send(rest.unread_counts(base_url=server.base_url))).total == 3
            with pytest.raises(IncompleteResponse) as info:
                await client.request("GET", server.base_url + "/cut")
            assert info.value.received == 1000
            assert (await client.send(rest.unread_counts(base_url=server.base_url))).total == 3
            await client.close()

        run(flavor, scenario)
        # the cut connection was discarded, never reused: a second connection served the last call
        assert server.connections == 2
        assert [r.connection for r in server.requests] == [1, 1, 2]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_wrong_content_length(flavor: str) -> None:
    def handler(req: Req) -> Reply:
        if req.target.startswith("/long"):
            return Reply(body=b'{"total":1}', length=50)  # claims more, then closes
        if req.target.startswith("/chat/Message/unread.json"):
            return Reply(body=b'{"total":1}', length=5)  # claims less: body cut, junk follows
        return ok_json({"total": 9})

    with HttpTestServer(handler) as server:
        client = Facade(flavor)

        async def scenario() -> None:
            with pytest.raises(IncompleteResponse):
                await client.request("GET", server.base_url + "/long")
            with pytest.raises(ResponseFormatError):
                await client.send(rest.unread_counts(base_url=server.base_url))
            response = await client.request("GET", server.base_url + "/fine")
            assert response.status == 200 and json.loads(response.body) == {"total": 9}
            await client.close()

        run(flavor, scenario)
        assert server.requests[-1].connection == 3  # nothing broken was reused


@pytest.mark.parametrize("flavor", FLAVORS)
def test_garbage_response_is_malformed(flavor: str) -> None:
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        sock, _ = listener.accept()
        sock.recv(65536)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n")
        sock.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = Facade(flavor)

    async def scenario() -> None:
        with pytest.raises(MalformedResponse):
            await client.request("GET", f"http://127.0.0.1:{port}/")

    run(flavor, scenario)
    thread.join(5)
    listener.close()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_server_closing_an_idle_connection_is_survived(flavor: str) -> None:
    with HttpTestServer(lambda req: Reply(body=b"{}", drop=True)) as server:
        client = Facade(flavor)

        async def scenario() -> None:
            for _ in range(3):
                assert (await client.request("GET", server.base_url + "/x")).status == 200
                await anyio.sleep(0.05)
            await client.close()

        run(flavor, scenario)
        assert len(server.requests) == 3


SIZE = 8 * 1024 * 1024
_BASE = bytes(i % 251 for i in range(65536 + 251))


def _slice(pos: int, n: int) -> bytes:
    """Bytes ``pos .. pos+n`` of the pattern ``k % 251`` (n <= 65536)."""
    start = pos % 251
    return _BASE[start : start + n]


class PatternFile:
    """A readable file of SIZE deterministic bytes, produced on demand."""

    def __init__(self) -> None:
        self.pos = 0

    def read(self, n: int) -> bytes:
        n = min(n, SIZE - self.pos, 65536)
        data = _slice(self.pos, n)
        self.pos += n
        return data


class HashSink:
    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return len(data)


def pattern_chunks() -> Iterator[bytes]:
    pos = 0
    while pos < SIZE:
        n = min(65536, SIZE - pos)
        yield _slice(pos, n)
        pos += n


PATTERN_SHA = hashlib.sha256(b"".join(pattern_chunks())).hexdigest()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_streaming_upload_and_download_in_bounded_memory(flavor: str) -> None:
    def handler(req: Req) -> Reply:
        if req.method == "POST":
            return Reply(status=201, body=b"<PostResponse/>")
        if req.target == "/redirect":
            return Reply(status=301, headers=[("Location", "/blob")])
        return Reply(body=pattern_chunks(), length=SIZE)

    with HttpTestServer(handler) as server:
        client = Facade(flavor)
        up = rest.prepare_blob_upload(
            f"{server.base_url}/upload?key=k&acl=public-read",
            file_name="big.bin",
            content_type="application/octet-stream",
            size=SIZE,
            boundary="b0undary",
        )
        sink = HashSink()

        async def scenario() -> None:
            tracemalloc.start()
            try:
                await client.upload(up, PatternFile())
                assert await client.download(server.base_url + "/redirect", sink) == SIZE
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            await client.close()
            # 8 MiB went each way; far less than that was ever held at once
            assert peak < 2 * 1024 * 1024, peak

        run(flavor, scenario)
        upload_req = server.requests[0]
        assert upload_req.size == up.content_length
        expected = hashlib.sha256(up.head + b"".join(pattern_chunks()) + up.tail).hexdigest()
        assert upload_req.sha256 == expected
        assert upload_req.headers["content-type"] == "multipart/form-data; boundary=b0undary"
        assert sink.size == SIZE and sink.digest.hexdigest() == PATTERN_SHA
