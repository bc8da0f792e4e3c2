"""The REST API's size limits, through a real socket: for each limit, a request at the
limit is accepted and one unit past it is refused with the ConnectyCube-shaped error --
413 for a body (refused while it is read: the server answers after the request head
alone, or in the middle of a chunked body), 422 ``{"errors": {"<field>": ["is too long
(maximum is N characters)"]}}`` for a field -- and nothing is stored for the refused one.

The requests are written byte by byte on a plain socket, so that the declared length, the
chunked framing and what has been sent when the answer comes are the test's own.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

import pytest
from cubeproto.transports.localserver.rest import (
    MAX_BLOB_NAME_CHARS,
    MAX_BODY_BYTES,
    MAX_HEAD_BYTES,
    MAX_NAME_CHARS,
    MAX_PUSHED_STANZA_BYTES,
    MAX_TEXT_CHARS,
    MAX_URL_CHARS,
    UPLOAD_FORM_OVERHEAD_BYTES,
    ApiError,
)
from cubeproto.transports.localserver.rest import limits as rest_limits
from cubeproto.transports.localserver.testing import (
    CubeUser,
    LocalChatClient,
    RunningServer,
    running_server,
)

from cubeproto.chat import MessageReceived

NewUser = Callable[..., CubeUser]


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response (status, lower-cased headers, body by its Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"the server closed without an answer: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body[:length]


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Api:
    """Raw requests to one user's REST API, each on its own connection."""

    def __init__(self, user: CubeUser) -> None:
        self.user = user
        self.port = user.server.info.http_port
        status, _, body = self.send(
            "POST",
            "/session.json",
            json.dumps(
                {
                    "application_id": user.app.id,
                    "auth_key": user.app.auth_key,
                    "user": {"login": user.login, "password": user.password},
                }
            ).encode(),
            token=False,
        )
        assert status == 201, body
        self.token = str(json.loads(body)["session"]["token"])

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=30)

    def headers(self, token: bool = True, **extra: str) -> dict[str, str]:
        out = {"Content-Type": "application/json", **extra}
        if token:
            out["CB-Token"] = self.token
        return out

    def send(
        self, method: str, path: str, body: bytes, *, token: bool = True, **extra: str
    ) -> tuple[int, dict[str, str], bytes]:
        """The whole request with its Content-Length; the answer."""
        with self.connect() as sock:
            sock.sendall(
                head(method, path, self.headers(token, **{"Content-Length": str(len(body))})) + body
            )
            return read_response(sock)

    def json(self, method: str, path: str, data: Any, **extra: str) -> tuple[int, Any]:
        status, _, body = self.send(method, path, json.dumps(data).encode(), **extra)
        return status, json.loads(body) if body else None


@pytest.fixture
def api(cube_user: NewUser) -> Api:
    return Api(cube_user())


def group_dialog(api: Api, peer: CubeUser) -> str:
    status, dialog = api.json(
        "POST", "/chat/Dialog.json", {"type": 2, "name": "Limits", "occupants_ids": [peer.id]}
    )
    assert status == 201, dialog
    return str(dialog["_id"])


def history(server: RunningServer, dialog: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = server.call(server.server.store.messages, dialog)
    return found


def padded_message(dialog: str, size: int) -> bytes:
    """A JSON message body of exactly ``size`` bytes (padded with whitespace, valid JSON)."""
    body = json.dumps({"chat_dialog_id": dialog, "message": "padded"}).encode()
    assert len(body) <= size
    return body + b" " * (size - len(body))


TOO_LARGE = {"errors": {"base": [f"Request body is too large (maximum is {MAX_BODY_BYTES} bytes)"]}}


# ---------------------------------------------------------------------- 413: bodies


def test_body_at_the_limit_is_stored_one_byte_more_is_refused_after_the_head(
    cube_server: RunningServer, api: Api, cube_user: NewUser
) -> None:
    dialog = group_dialog(api, cube_user())
    status, _, body = api.send("POST", "/chat/Message.json", padded_message(dialog, MAX_BODY_BYTES))
    assert status == 201, body
    assert len(history(cube_server, dialog)) == 1

    # One byte more, declared: the answer comes after the head alone (nothing of the body
    # was sent), and the connection closes.
    with api.connect() as sock:
        headers = api.headers(**{"Content-Length": str(MAX_BODY_BYTES + 1)})
        sock.sendall(head("POST", "/chat/Message.json", headers))
        status, got, body = read_response(sock)
        assert (status, json.loads(body)) == (413, TOO_LARGE)
        assert got["connection"] == "close"
        assert sock.recv(1) == b""
    assert len(history(cube_server, dialog)) == 1


def test_chunked_body_is_refused_once_it_grows_past_the_limit(
    cube_server: RunningServer, api: Api, cube_user: NewUser
) -> None:
    dialog = group_dialog(api, cube_user())
    headers = api.headers(**{"Transfer-Encoding": "chunked"})

    def chunks(data: bytes, size: int = 50_000) -> bytes:
        return b"".join(
            b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size])
            for i in range(0, len(data), size)
        )

    with api.connect() as sock:
        framed = chunks(padded_message(dialog, MAX_BODY_BYTES)) + b"0\r\n\r\n"
        sock.sendall(head("POST", "/chat/Message.json", headers) + framed)
        status, _, body = read_response(sock)
        assert status == 201, body
    assert len(history(cube_server, dialog)) == 1

    # One byte more, without the end of the body: the server answers mid-body.
    with api.connect() as sock:
        framed = chunks(padded_message(dialog, MAX_BODY_BYTES + 1))
        sock.sendall(head("POST", "/chat/Message.json", headers) + framed[:-2])
        status, _, body = read_response(sock)
        assert (status, json.loads(body)) == (413, TOO_LARGE)
    assert len(history(cube_server, dialog)) == 1


def test_upload_limit_file_and_form(cube_user: NewUser) -> None:
    """The storage endpoint: a file of ``max_upload_bytes`` is stored, one byte more is
    S3's 400; a form over the limit plus its framing allowance is a 413 while it is read,
    declared or chunked."""
    limit = 4096
    with running_server(max_upload_bytes=limit) as server:
        app = server.add_app()
        api = Api(server.user(app, "uploader", "uploader-pass"))

        def upload(size: int) -> tuple[int, bytes]:
            status, created = api.json(
                "POST", "/blobs.json", {"blob": {"name": "f.bin", "content_type": "text/plain"}}
            )
            assert status == 201, created
            url = created["blob"]["blob_object_access"]["params"]
            path, _, query = url.partition(server.info.api_url)[2].partition("?")
            key = dict(p.split("=", 1) for p in query.split("&"))["key"]
            form = (
                b'--b\r\nContent-Disposition: form-data; name="key"\r\n\r\n%s\r\n'
                b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\n%s\r\n--b--\r\n'
            ) % (key.encode(), b"z" * size)
            with api.connect() as sock:
                sock.sendall(
                    head(
                        "POST",
                        path,
                        {
                            "Content-Type": "multipart/form-data; boundary=b",
                            "Content-Length": str(len(form)),
                        },
                    )
                    + form
                )
                status, _, body = read_response(sock)
            return status, body

        assert upload(limit)[0] == 201
        status, body = upload(limit + 1)
        assert status == 400
        assert b"maximum allowed size" in body

        form_limit = limit + UPLOAD_FORM_OVERHEAD_BYTES
        refused = {"errors": {"base": ["Your proposed upload exceeds the maximum allowed size"]}}
        with api.connect() as sock:
            sock.sendall(
                head(
                    "POST",
                    "/s3/00ff",
                    {
                        "Content-Type": "multipart/form-data; boundary=b",
                        "Content-Length": str(form_limit + 1),
                    },
                )
            )
            status, _, body = read_response(sock)
            assert (status, json.loads(body)) == (413, refused)
        with api.connect() as sock:
            data = b"q" * (form_limit + 1)
            sock.sendall(
                head("POST", "/s3/00ff", {"Transfer-Encoding": "chunked"})
                + b"%x\r\n%s" % (len(data), data)
            )
            status, _, body = read_response(sock)
            assert (status, json.loads(body)) == (413, refused)


def test_request_head_over_its_limit_or_malformed_gets_an_answer(api: Api) -> None:
    """A head still unfinished past MAX_HEAD_BYTES is a 431, a malformed one a 400, both
    ConnectyCube-shaped (the connection used to close without a word)."""
    with api.connect() as sock:
        sock.sendall(b"GET /chat/Dialog.json?q=" + b"a" * (MAX_HEAD_BYTES + 1))
        status, headers, body = read_response(sock)
        text = f"Request header fields too large (maximum is {MAX_HEAD_BYTES} bytes)"
        assert (status, json.loads(body)) == (431, {"errors": {"base": [text]}})
        assert headers["connection"] == "close"
    with api.connect() as sock:
        sock.sendall(b"NOT AN HTTP REQUEST\r\n\r\n")
        status, _, body = read_response(sock)
        assert status == 400
        assert json.loads(body)["errors"]["base"][0].startswith("Bad request: ")


def test_deeply_nested_json_is_a_400_not_a_server_error(api: Api) -> None:
    status, _, body = api.send("POST", "/chat/Dialog.json", b"[" * 100_000)
    assert status == 400
    assert json.loads(body) == {"errors": {"base": ["Malformed JSON body"]}}


# ---------------------------------------------------------------------- 422: fields


def too_long(field: str, limit: int) -> dict[str, Any]:
    return {"errors": {field: [f"is too long (maximum is {limit} characters)"]}}


@pytest.fixture
def dialog(api: Api, cube_user: NewUser) -> str:
    return group_dialog(api, cube_user())


def message_count(server: RunningServer, dialog: str) -> int:
    return len(history(server, dialog))


@pytest.mark.parametrize(
    ("field", "limit", "make"),
    [
        ("message", MAX_TEXT_CHARS, lambda d, v: {"chat_dialog_id": d, "message": v}),
        ("city", MAX_TEXT_CHARS, lambda d, v: {"chat_dialog_id": d, "message": "m", "city": v}),
        ("type", MAX_TEXT_CHARS, lambda d, v: {"chat_dialog_id": d, "attachments": [{"type": v}]}),
    ],
    ids=["message", "custom-key", "attachment"],
)
def test_message_fields(
    cube_server: RunningServer,
    api: Api,
    dialog: str,
    field: str,
    limit: int,
    make: Callable[[str, str], dict[str, Any]],
) -> None:
    status, stored = api.json("POST", "/chat/Message.json", make(dialog, "a" * limit))
    assert status == 201, stored
    status, refused = api.json("POST", "/chat/Message.json", make(dialog, "a" * (limit + 1)))
    assert (status, refused) == (422, too_long(field, limit))
    assert message_count(cube_server, dialog) == 1
    # An edit is held to the same limit.
    if field == "message":
        path = f"/chat/Message/{stored['_id']}.json"
        assert api.json("PUT", path, {"message": "b" * limit}) == (200, None)
        assert api.json("PUT", path, {"message": "b" * (limit + 1)}) == (
            422,
            too_long("message", limit),
        )
        assert history(cube_server, dialog)[0]["message"] == "b" * limit


def test_parameter_names(cube_server: RunningServer, api: Api, dialog: str) -> None:
    ok = {"chat_dialog_id": dialog, "message": "m", "k" * MAX_NAME_CHARS: "v"}
    assert api.json("POST", "/chat/Message.json", ok)[0] == 201
    bad = {"chat_dialog_id": dialog, "message": "m", "k" * (MAX_NAME_CHARS + 1): "v"}
    status, refused = api.json("POST", "/chat/Message.json", bad)
    assert status == 422
    assert refused["errors"]["base"][0].startswith("a parameter name is too long")
    assert message_count(cube_server, dialog) == 1


@pytest.mark.parametrize(
    ("field", "limit"),
    [("name", MAX_NAME_CHARS), ("photo", MAX_URL_CHARS), ("description", MAX_TEXT_CHARS)],
)
def test_dialog_fields(
    cube_server: RunningServer, api: Api, cube_user: NewUser, field: str, limit: int
) -> None:
    peer = cube_user()
    base = {"type": 2, "name": "Limits", "occupants_ids": [peer.id]}
    status, created = api.json("POST", "/chat/Dialog.json", {**base, field: "d" * limit})
    assert status == 201, created
    assert created[field] == "d" * limit
    before = len(cube_server.call(cube_server.server.store.dialogs, api.user.app.id))
    status, refused = api.json("POST", "/chat/Dialog.json", {**base, field: "d" * (limit + 1)})
    assert (status, refused) == (422, too_long(field, limit))
    path = f"/chat/Dialog/{created['_id']}.json"
    assert api.json("PUT", path, {field: "e" * (limit + 1)}) == (422, too_long(field, limit))
    assert len(cube_server.call(cube_server.server.store.dialogs, api.user.app.id)) == before


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("login", MAX_NAME_CHARS),
        ("full_name", MAX_NAME_CHARS),
        ("phone", MAX_NAME_CHARS),
        ("website", MAX_URL_CHARS),
        ("custom_data", MAX_TEXT_CHARS),
    ],
)
def test_user_fields(api: Api, field: str, limit: int) -> None:
    def sign_up(value: str) -> tuple[int, Any]:
        login = value if field == "login" else f"u{len(value)}-{field}"
        user = {"login": login, "password": "limits-pass", field: value}
        return api.json("POST", "/users.json", {"user": user})

    status, created = sign_up("x" * limit)
    assert status == 201, created
    assert created["user"][field] == "x" * limit
    assert sign_up("y" * (limit + 1)) == (422, too_long(field, limit))


def test_blob_name(api: Api) -> None:
    def create(name: str) -> tuple[int, Any]:
        return api.json("POST", "/blobs.json", {"blob": {"name": name, "content_type": "a/b"}})

    assert create("n" * MAX_BLOB_NAME_CHARS)[0] == 201
    assert create("n" * (MAX_BLOB_NAME_CHARS + 1)) == (422, too_long("name", MAX_BLOB_NAME_CHARS))


# ---------------------------------------------------------------------- sent to chat


def pushed_fields(pad: int) -> dict[str, Any]:
    """Custom keys that escape to nearly 448 KiB (``&`` is 5 bytes written), plus ``pad``
    plain characters."""
    return {"k1": "&" * 45_000, "k2": "&" * 45_000, "pad": "a" * pad}


def largest_pad() -> int:
    """The largest ``pad`` the server's stanza bound accepts (found with that bound)."""
    low, high = 0, MAX_TEXT_CHARS
    while low < high:
        mid = (low + high + 1) // 2
        try:
            rest_limits.check_pushable(rest_limits.pushed_fields("m", pushed_fields(mid), []))
        except ApiError:
            high = mid - 1
        else:
            low = mid
    return low


def test_a_message_sent_to_chat_at_the_stanza_bound_is_delivered_one_byte_more_is_refused(
    cube_server: RunningServer,
    api: Api,
    cube_user: NewUser,
    cube_chat_client: Callable[..., LocalChatClient],
) -> None:
    bob = cube_user()
    bob_chat = cube_chat_client(bob)
    pad = largest_pad()
    assert 0 < pad < MAX_TEXT_CHARS

    fields = {"recipient_id": bob.id, "send_to_chat": 1, "message": "m", **pushed_fields(pad)}
    status, stored = api.json("POST", "/chat/Message.json", fields)
    assert status == 201, stored
    got = bob_chat.wait_for(MessageReceived, message_id=stored["_id"])
    assert (got.extension["k1"], got.extension["pad"]) == ("&" * 45_000, "a" * pad)
    dialog = str(stored["chat_dialog_id"])

    fields = {"recipient_id": bob.id, "send_to_chat": 1, "message": "m", **pushed_fields(pad + 1)}
    status, refused = api.json("POST", "/chat/Message.json", fields)
    assert (status, refused) == (
        422,
        {
            "errors": {
                "base": [f"too large to send to chat (maximum is {MAX_PUSHED_STANZA_BYTES} bytes)"]
            }
        },
    )
    # Nothing stored, nothing delivered: the next message bob gets is the marker.
    marker = {"recipient_id": bob.id, "send_to_chat": 1, "message": "marker"}
    status, sent = api.json("POST", "/chat/Message.json", marker)
    assert status == 201, sent
    assert bob_chat.wait_for(MessageReceived).message_id == sent["_id"]
    assert [m["_id"] for m in history(cube_server, dialog)] == [stored["_id"], sent["_id"]]


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"message": "nul \x00"}, {"message": ["contains a character XML 1.0 forbids"]}),
        ({"message": "m", "city": "\x1b[0m"}, {"city": ["contains a character XML 1.0 forbids"]}),
        (
            {"message": "m", "attachments": [{"type": "\ufffe"}]},
            {"type": ["contains a character XML 1.0 forbids"]},
        ),
        ({"message": "m", "meta": {"tags": ["a", "b"]}}, None),
        ({"message": "m", "meta": {"a b": "x"}}, None),
    ],
    ids=[
        "nul-body",
        "escape-in-custom-key",
        "noncharacter-attachment",
        "list-in-object",
        "not-an-xml-name",
    ],
)
def test_what_chat_cannot_carry_is_refused_before_it_is_stored(
    cube_server: RunningServer,
    api: Api,
    cube_user: NewUser,
    cube_chat_client: Callable[..., LocalChatClient],
    fields: dict[str, Any],
    errors: dict[str, Any] | None,
) -> None:
    """With ``send_to_chat=1`` a value XML 1.0 cannot hold, or a shape the chat extension
    cannot encode, is a 422 (it was a 500 after the message was stored); without it the
    message is stored as sent (history keeps any JSON)."""
    bob = cube_user()
    bob_chat = cube_chat_client(bob)
    status, refused = api.json(
        "POST", "/chat/Message.json", {"recipient_id": bob.id, "send_to_chat": 1, **fields}
    )
    assert status == 422, refused
    if errors is not None:
        assert refused == {"errors": errors}
    else:
        assert refused["errors"]["base"][0].startswith("cannot be sent to chat: ")
    status, sent = api.json(
        "POST", "/chat/Message.json", {"recipient_id": bob.id, "send_to_chat": 1, "message": "ok"}
    )
    assert status == 201, sent
    assert bob_chat.wait_for(MessageReceived).message_id == sent["_id"]
    assert [m["_id"] for m in history(cube_server, str(sent["chat_dialog_id"]))] == [sent["_id"]]
    status, kept = api.json("POST", "/chat/Message.json", {"recipient_id": bob.id, **fields})
    assert status == 201, kept


def test_system_message_that_chat_cannot_carry_is_refused(api: Api, cube_user: NewUser) -> None:
    bob = cube_user()
    status, refused = api.json(
        "POST", "/chat/Message/system.json", {"recipientId": bob.id, "x": "\x00"}
    )
    assert (status, refused) == (422, {"errors": {"x": ["contains a character XML 1.0 forbids"]}})
    big = {"recipientId": bob.id, "a": "&" * 50_000, "b": "&" * 50_000}
    status, refused = api.json("POST", "/chat/Message/system.json", big)
    assert status == 422
    assert refused["errors"]["base"][0].startswith("too large to send to chat")
