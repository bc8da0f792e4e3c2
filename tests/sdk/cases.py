"""The message shapes of the chat guide that the message tests send both ways, and the
expected SDK listener arguments for them."""

from __future__ import annotations

import os
from typing import Any

import pytest

from .expect import sdk_decoded
from .sdkpeer import UNDEFINED

#: (name, body, extension) -- the extension without the reserved keys save_to_history and
#: dialog_id, which each test adds the way the sending side writes them.
CASES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "nested objects",
        "How are you today?",
        {"user": {"name": "Bob", "meta": {"age": 3, "score": 0.5, "admin": True}}, "n": -7},
    ),
    (
        "photo and video attachments",
        "photo",
        {
            "attachments": [
                {
                    "uid": "7cafb6030d3e4348ba49cab24c0cf10800",
                    "id": "421517",
                    "type": "photo",
                    "size": 11,
                    "name": "cat.jpeg",
                    "content-type": "image/jpeg",
                    "width": 640,
                    "height": 480,
                },
                {
                    "uid": "a1b2c3d4e5f60718293a4b5c6d7e8f9000",
                    "id": 2,
                    "type": "video",
                    "duration": 12.5,
                },
            ]
        },
    ),
    (
        "location attachments",
        "I am here",
        {
            "attachments": [
                {"latitude": "64.7964274", "longitude": "-23.7391878", "type": "place"},
                {"type": "location", "data": '{"lat":50.01,"lng":36.22}'},
            ]
        },
    ),
    (
        "unicode",
        "héllo wörld — 你好 — مرحبا — 👍🏽🚀",
        {"greeting": "こんにちは", "emoji": "🔥", "nested": {"ünïcode": "ключ"}},
    ),
    (
        "XML-special characters",
        "<b>bold</b> & \"quotes\" 'apos' ]]> tab\tnewline\nend",
        {
            "html": '<a href="x?a=1&b=2">link</a>',
            "entities": "&amp; &lt; &#x41; ]]>",
            "attachments": [
                {"type": "file", "name": "a\"b<c>&d'e.txt", "url": "https://x.test/?a=1&b=<2>"}
            ],
        },
    ),
    (
        "empty values",
        "e",
        {
            "empty": "",
            "none": None,
            "kept": "x",
            "zero": 0,
            "false": False,
            "obj": {"inner": "", "deep": {}, "v": "w"},
            "emptyobj": {},
        },
    ),
]


def params() -> list[Any]:
    """CASES as pytest params.  ("empty values" once found a bug, now fixed: inside an
    object the SDK keeps an empty element as null, {"obj": {"inner": null}}, and our decoder
    dropped it.)"""
    return [pytest.param(name, body, ext, id=name) for name, body, ext in CASES]


def dialog_id() -> str:
    """A fresh 24-hex dialog id (never all digits, which the SDK would take for a user id)."""
    return "d" + os.urandom(12).hex()[1:]


def expected_args(
    *,
    sender: int,
    recipient: int | None,
    dialog: str,
    type_: str,
    mid: str,
    body: str,
    extension: dict[str, Any],
) -> list[Any]:
    """``onMessageListener`` arguments for a message as both SDK and our client send it."""
    return [
        sender,
        {
            "id": mid,
            "dialog_id": dialog,
            "recipient_id": recipient,
            "is_forwarded": False,
            "type": type_,
            "body": body,
            "extension": sdk_decoded({"save_to_history": 1, "dialog_id": dialog, **extension}),
            "delay": UNDEFINED,
        },
    ]
