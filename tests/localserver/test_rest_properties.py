"""Properties of the local server's REST semantics (``RestApi.handle``, in-process: the
socket path is tests/localserver/test_rest_limits.py), over arbitrary JSON parameters:

* no request answers 5xx, and every error is ConnectyCube-shaped (``{"errors": {...}}``
  with lists of strings);
* whatever was sent, the dialogs, messages and users the API answers with keep the shapes
  of the SDK's TypeScript types: a string ``name``; ``extensions``, ``permissions``,
  ``last_message_date_sent`` and ``reactions`` absent or of their type, never ``null``;
  attachments a list of objects; every ``Users.User`` field;
* the length check refuses exactly the values and parameter names over their limits.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from cubeproto.transports.localserver.hub import Hub
from cubeproto.transports.localserver.rest import (
    MAX_NAME_CHARS,
    MAX_TEXT_CHARS,
    ApiError,
    RestApi,
)
from cubeproto.transports.localserver.rest import limits as rest_limits
from cubeproto.transports.localserver.store import Store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .test_rest_shapes import SDK_USER_FIELDS

KEYS = [
    "type",
    "name",
    "description",
    "photo",
    "occupants_ids",
    "admins_ids",
    "push_all",
    "pull_all",
    "message",
    "chat_dialog_id",
    "recipient_id",
    "attachments",
    "user",
    "login",
    "password",
    "blob",
    "size",
    "add",
    "remove",
    "enabled",
    "recipientId",
    "extensions",
    "permissions",
    "skip",
    "limit",
    "search_text",
    "record",
    "force",
    "read",
    "delivered",
    "tag_list",
    "timezone",
    "phone",
    "page",
    "per_page",
    "current_page",
    "city",
    "send_to_chat",
]


class World:
    """One store with an app, two users, a private and a group dialog, a message."""

    def __init__(self) -> None:
        self.store = Store()
        self.api = RestApi(
            self.store,
            Hub(self.store, domain="localhost", clock=time.time),
            blob_dir=Path(tempfile.mkdtemp(prefix="cubeproto-prop-")),
            base_url="http://127.0.0.1:1",
        )
        self.store.create_app(100, "key")
        alice = self.store.create_user(100, "alice", "alice-pass")
        self.bob = self.store.create_user(100, "bob", "bob-pass")
        token, _ = self.store.create_session(100, alice.id, time.time())
        self.headers = {"cb-token": token, "content-type": "application/json"}
        self.private = self.ok(
            "POST", "/chat/Dialog.json", {"type": 3, "occupants_ids": [self.bob.id]}
        )
        self.group = self.ok(
            "POST", "/chat/Dialog.json", {"type": 2, "name": "g", "occupants_ids": [self.bob.id]}
        )
        self.message = self.ok(
            "POST", "/chat/Message.json", {"chat_dialog_id": self.group, "message": "m"}
        )

    def send(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, Any]:
        if method in ("GET", "DELETE"):
            query = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
            response = self.api.handle(method, f"{path}?{urlencode(query)}", self.headers, b"")
        else:
            response = self.api.handle(method, path, self.headers, json.dumps(params).encode())
        body = response.body
        return response.status, json.loads(body) if body.startswith((b"{", b"[")) else body

    def ok(self, method: str, path: str, params: dict[str, Any]) -> str:
        status, body = self.send(method, path, params)
        assert status == 201, body
        return str(body["_id"])


@pytest.fixture(scope="module")
def world() -> World:
    return World()


scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
    | st.just("1")
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    ),
    max_leaves=8,
)
params = st.dictionaries(st.sampled_from(KEYS), values, max_size=5)


def routes(w: World) -> list[tuple[str, str]]:
    d, m = w.group, w.message
    return [
        ("POST", "/chat/Dialog.json"),
        ("GET", "/chat/Dialog.json"),
        ("PUT", f"/chat/Dialog/{d}.json"),
        ("PUT", f"/chat/Dialog/{d}/admins.json"),
        ("PUT", f"/chat/Dialog/{d}/notifications.json"),
        ("POST", "/chat/Message.json"),
        ("GET", "/chat/Message.json"),
        ("PUT", f"/chat/Message/{m}.json"),
        ("PUT", f"/chat/Message/{m}/reactions.json"),
        ("POST", "/chat/Message/system.json"),
        ("GET", "/chat/Message/unread.json"),
        ("GET", "/chat/search.json"),
        ("POST", "/users.json"),
        ("POST", "/blobs.json"),
        ("GET", "/blobs.json"),
        ("POST", "/data/Thing.json"),
    ]


def assert_error_shape(body: Any) -> None:
    assert isinstance(body, dict) and set(body) == {"errors"}, body
    errors = body["errors"]
    assert isinstance(errors, dict) and errors, body
    for value in errors.values():
        assert isinstance(value, list) and all(isinstance(t, str) for t in value), body


def assert_dialog_shape(d: dict[str, Any]) -> None:
    assert isinstance(d["name"], str), d
    for key in ("description", "photo"):
        assert d[key] is None or isinstance(d[key], str), d
    for key in ("extensions", "permissions"):
        assert key not in d or isinstance(d[key], dict), d
    assert "last_message_date_sent" not in d or isinstance(d["last_message_date_sent"], int), d


def assert_message_shape(m: dict[str, Any]) -> None:
    assert isinstance(m["message"], str), m
    assert isinstance(m["attachments"], list), m
    assert all(isinstance(a, dict) for a in m["attachments"]), m
    if "reactions" in m:
        assert isinstance(m["reactions"]["own"], list), m
        assert isinstance(m["reactions"]["total"], dict), m


def assert_user_shape(u: dict[str, Any]) -> None:
    assert set(u) == SDK_USER_FIELDS, u
    for key in ("external_user_id", "blob_id", "timezone"):
        assert u[key] is None or isinstance(u[key], int), u
    assert u["user_tags"] is None or all(isinstance(t, str) for t in u["user_tags"]), u


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), sent=params)
def test_any_parameters_keep_the_answers_typed(
    world: World, data: Any, sent: dict[str, Any]
) -> None:
    method, path = data.draw(st.sampled_from(routes(world)), label="route")
    # Often aim at the world's own dialog and user, so that the calls get past the lookups.
    if path == "/chat/Message.json" and data.draw(st.booleans(), label="in the group"):
        sent = {**sent, "chat_dialog_id": world.group}
        if data.draw(st.booleans(), label="send_to_chat"):
            sent["send_to_chat"] = 1
    if path == "/chat/Message/system.json" and data.draw(st.booleans(), label="to bob"):
        sent = {**sent, "recipientId": world.bob.id}
    status, body = world.send(method, path, sent)
    assert status < 500, body
    if status >= 400:
        assert_error_shape(body)
    elif path.startswith("/users") and isinstance(body, dict):
        assert_user_shape(body["user"])

    status, dialogs = world.send("GET", "/chat/Dialog.json", {"limit": 1000})
    assert status == 200
    assert {world.private, world.group} <= {d["_id"] for d in dialogs["items"]}
    for dialog in dialogs["items"]:
        assert_dialog_shape(dialog)
    status, messages = world.send("GET", "/chat/Message.json", {"chat_dialog_id": world.group})
    assert status == 200
    for message in messages["items"]:
        assert_message_shape(message)
    status, found = world.send("GET", "/chat/search.json", {"search_text": "alice"})
    assert status == 200, found
    for user in found["results"]["users"]:
        assert_user_shape(user)


long_text = st.builds(
    lambda c, n: c * n, st.sampled_from("aé👍"), st.integers(0, MAX_TEXT_CHARS + 2)
)
nested = st.recursive(
    st.none() | st.integers() | long_text | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["name", "photo", "x"])
            | st.builds(lambda n: "k" * n, st.integers(MAX_NAME_CHARS - 1, MAX_NAME_CHARS + 1)),
            inner,
            max_size=3,
        )
    ),
    max_leaves=6,
)


def over_limit(value: Any, limits: dict[str, int], name: str = "base") -> bool:
    """The oracle: is any string, or any key, in ``value`` over its limit?"""
    if isinstance(value, str):
        return len(value) > limits.get(name, MAX_TEXT_CHARS)
    if isinstance(value, dict):
        return any(len(k) > MAX_NAME_CHARS or over_limit(v, limits, k) for k, v in value.items())
    if isinstance(value, list):
        return any(over_limit(v, limits, name) for v in value)
    return False


@settings(max_examples=300, deadline=None)
@given(sent=st.dictionaries(st.sampled_from(["name", "photo", "x"]), nested, max_size=4))
def test_length_check_refuses_exactly_what_is_over_a_limit(sent: dict[str, Any]) -> None:
    limits = {"name": MAX_NAME_CHARS, "photo": 2048}
    try:
        rest_limits.check_lengths(sent, limits)
    except ApiError as refused:
        assert refused.status == 422
        assert_error_shape({"errors": refused.errors})
        assert over_limit(sent, limits)
    else:
        assert not over_limit(sent, limits)
