"""The sans-IO h11 exchange, and that builders only make requests h11 and urllib accept."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import h11
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cubeproto.errors import CubeProtoError, LocalProtocolError
from cubeproto.rest import requests as r
from cubeproto.rest.errors import IncompleteResponse, MalformedResponse
from cubeproto.rest.http import NEED_DATA, BodyChunk, HttpConnection, ResponseEnd, ResponseHead


def started() -> HttpConnection:
    c = HttpConnection()
    c.send_request(method="GET", target="/x.json", host="api", content_length=0)
    c.end_request()
    return c


def drain(c: HttpConnection) -> list[Any]:
    out = []
    while (e := c.next_event()) is not NEED_DATA:
        out.append(e)
        if isinstance(e, ResponseEnd):
            break
    return out


def test_request_bytes() -> None:
    c = HttpConnection()
    head = c.send_request(
        method="PUT", target="/a.json", host="api:8080", headers=[("X", "1")], content_length=2
    )
    assert head == b"PUT /a.json HTTP/1.1\r\nHost: api:8080\r\nX: 1\r\nContent-Length: 2\r\n\r\n"
    assert c.send_body(b"{}") == b"{}" and c.end_request() == b""
    chunked = HttpConnection()
    assert b"Transfer-Encoding: chunked" in chunked.send_request(
        method="POST", target="/", host="h", content_length=None
    )
    assert chunked.send_body(b"abc") == b"3\r\nabc\r\n" and chunked.end_request() == b"0\r\n\r\n"


def test_response_byte_by_byte_and_keep_alive() -> None:
    c = started()
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    events: list[Any] = []
    for i in range(len(raw)):
        c.receive_data(raw[i : i + 1])
        events += drain(c)
    assert isinstance(events[0], ResponseHead) and events[0].status == 200
    assert b"".join(e.data for e in events if isinstance(e, BodyChunk)) == b"abcde"
    assert isinstance(events[-1], ResponseEnd)
    resp = c.collect(events)
    assert (
        resp is not None and resp.body == b"abcde" and resp.header("Transfer-Encoding") == "chunked"
    )
    assert c.reusable()
    c.start_next_cycle()
    c.send_request(method="GET", target="/y.json", host="api", content_length=0)


def test_connection_close_is_not_reusable() -> None:
    c = started()
    c.receive_data(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    drain(c)
    assert not c.reusable()
    with pytest.raises(LocalProtocolError):
        c.start_next_cycle()


def test_extra_bytes_after_response_make_it_unreusable() -> None:
    c = started()
    c.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}junk")
    drain(c)
    assert not c.reusable()


@pytest.mark.parametrize(
    ("raw", "error", "received"),
    [
        (b"", IncompleteResponse, 0),
        (b"HTTP/1.1 200 OK\r\nContent-Le", IncompleteResponse, 0),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", IncompleteResponse, 3),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", IncompleteResponse, 2),
    ],
)
def test_eof_before_the_end(raw: bytes, error: type[Exception], received: int) -> None:
    c = started()
    c.receive_data(raw)
    drain(c)
    c.receive_eof()
    with pytest.raises(error) as info:
        drain(c)
    assert isinstance(info.value, IncompleteResponse) and info.value.received == received
    assert c.broken and not c.reusable()
    with pytest.raises(MalformedResponse):
        c.next_event()


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_malformed(raw: bytes) -> None:
    c = started()
    c.receive_data(raw)
    with pytest.raises(MalformedResponse):
        drain(c)
    assert c.broken


def test_head_too_large() -> None:
    c = HttpConnection(max_head=1024)
    c.send_request(method="GET", target="/", host="h", content_length=0)
    c.end_request()
    c.receive_data(b"HTTP/1.1 200 OK\r\n" + b"X: " + b"a" * 4000)
    with pytest.raises(MalformedResponse):
        drain(c)


def test_collect_limit() -> None:
    c = started()
    c.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789")
    with pytest.raises(MalformedResponse):
        c.collect(drain(c), max_body=5)


@given(st.binary(max_size=300), st.integers(1, 50), st.booleans())
def test_any_bytes_give_events_or_typed_errors(data: bytes, step: int, eof: bool) -> None:
    c = started()
    try:
        for i in range(0, len(data), step):
            c.receive_data(data[i : i + step])
            drain(c)
        if eof:
            c.receive_eof()
            drain(c)
    except CubeProtoError:
        assert c.broken


# -- builders never make an invalid URL or header --------------------------------------------

ids = st.text(max_size=30)
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text()
    | st.floats(allow_nan=False),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=8,
)


def assert_valid(req: Any) -> None:
    parts = urlsplit(req.url)
    assert parts.scheme == "https" and parts.hostname == "api.connectycube.com"
    assert req.url.isascii() and not any(ch in req.url for ch in " \t\r\n#")
    client = h11.Connection(h11.CLIENT)
    wire = client.send(
        h11.Request(
            method=req.method,
            target=req.target,
            headers=[("Host", "api"), *req.headers, ("Content-Length", str(len(req.body)))],
        )
    )
    assert wire is not None
    server = h11.Connection(h11.SERVER)
    server.receive_data(wire + req.body)
    event = server.next_event()
    assert isinstance(event, h11.Request) and event.target.decode() == req.target


@given(
    st.sampled_from(["list_dialogs", "list_messages", "list_custom_objects"]),
    ids,
    st.dictionaries(st.text(max_size=10), values, max_size=4),
    st.text(max_size=20),
)
def test_list_builders_make_valid_requests(
    name: str, ident: str, filters: dict[str, Any], token: str
) -> None:
    build = {
        "list_dialogs": lambda: r.list_dialogs(filters=filters, token=token),
        "list_messages": lambda: r.list_messages(ident, filters=filters, token=token),
        "list_custom_objects": lambda: r.list_custom_objects(ident, filters=filters, token=token),
    }[name]
    try:
        req = build()
    except LocalProtocolError:
        return
    assert_valid(req)


@given(
    ids,
    st.text(max_size=30),
    st.dictionaries(st.text(max_size=10), values, max_size=4),
    st.booleans(),
)
def test_other_builders_make_valid_requests(
    ident: str, text: str, ext: dict[str, Any], force: bool
) -> None:
    for build in (
        lambda: r.delete_messages([ident, ident], force=force, token=text),
        lambda: r.update_dialog(ident, name=text, extensions=ext),
        lambda: r.create_message(chat_dialog_id=ident, message=text, extension=ext),
        lambda: r.search(text, chat_dialog_ids=[ident]),
        lambda: r.update_reactions(ident, add=text),
        lambda: r.unread_counts([ident]),
        lambda: r.send_system_message(5, ext),
        lambda: r.create_custom_object(ident, ext),
    ):
        try:
            req = build()
        except LocalProtocolError:
            continue
        assert_valid(req)
