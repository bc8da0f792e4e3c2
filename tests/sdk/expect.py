"""What the official SDK's listeners receive, stated independently of both implementations.

:func:`sdk_decoded` is the SDK 6.1.2 extension decoding written down from its documented and
observed behaviour (the SDK's own listener output is the judge in
every test that uses it): leaves become JavaScript ``String(value)`` text, attachments
become dicts of attribute strings with ``size`` parsed as an integer, an empty **top-level**
value (``""``, ``null``, ``{}``) vanishes while an empty value *inside* an object survives as
``null``.

:func:`sdk_message_args` and friends turn our client's events into the argument lists the
SDK's listeners get for the same stanza, so that one expected value is compared with both
peers' output.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cubeproto.chat import (
    ChatStateChanged,
    MessageDeleted,
    MessageDelivered,
    MessageEdited,
    MessageRead,
    MessageReceived,
    SystemMessageReceived,
)
from cubeproto.rest.query import js_number

from .sdkpeer import UNDEFINED


def js_text(value: object) -> str:
    """JavaScript ``String(value ?? "")`` -- what the SDK writes for an extension leaf."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return js_number(value)
    assert isinstance(value, str), value
    return value


def _nested(value: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, Mapping):
            # An empty object is an element without children; inside an object the SDK
            # reports such an element's text, which it reads as null.
            out[key] = _nested(item) if item else None
        else:
            text = js_text(item)
            out[key] = text if text != "" else None
    return out


def sdk_decoded(extension: Mapping[str, Any]) -> dict[str, Any] | None:
    """The extension the SDK's listener reports for a stanza sent with ``extension``."""
    out: dict[str, Any] = {}
    attachments: list[dict[str, Any]] = []
    for key, value in extension.items():
        if key == "attachments" and isinstance(value, list):
            for item in value:
                attachments.append(
                    {
                        k: (int(js_text(v)) if k == "size" else js_text(v))
                        for k, v in item.items()
                        if v is not None
                    }
                )
        elif isinstance(value, Mapping):
            if value:
                out[key] = _nested(value)
        elif js_text(value) != "":
            out[key] = js_text(value)
    if attachments:
        out["attachments"] = attachments
    out.pop("moduleIdentifier", None)
    return out


def _ext(extension: Mapping[str, Any]) -> dict[str, Any] | None:
    # Our events hold {} where the stanza had no <extraParams>; the SDK reports null.
    return dict(extension) if extension else None


def sdk_message_args(event: MessageReceived) -> list[Any]:
    """``onMessageListener(userId, message)`` arguments for the stanza our client decoded."""
    return [
        event.sender_id,
        {
            "id": event.message_id,
            "dialog_id": event.dialog_id,
            "recipient_id": event.recipient_id,
            "is_forwarded": event.is_forwarded,
            "type": event.type.value,
            "body": event.body,
            "extension": _ext(event.extension),
            "delay": UNDEFINED if event.delay_stamp is None else event.delay_stamp,
        },
    ]


def sdk_system_args(event: SystemMessageReceived) -> list[Any]:
    """``onSystemMessageListener(message)`` arguments."""
    return [
        {
            "id": event.message_id,
            "userId": event.sender_id,
            "body": event.body,
            "extension": _ext(event.extension),
        }
    ]


def sdk_typing_args(event: ChatStateChanged) -> list[Any]:
    """``onMessageTypingListener(isTyping, userId, dialogId)`` arguments."""
    return [event.is_typing, event.user_id, event.dialog_id]


def sdk_marker_args(event: MessageDelivered | MessageRead) -> list[Any]:
    """``onDeliveredStatusListener`` / ``onReadStatusListener(messageId, dialogId, userId)``."""
    return [event.message_id, event.dialog_id, event.user_id]


def sdk_edit_args(event: MessageEdited) -> list[Any]:
    """``onMessageUpdateListener(messageId, isLast, body, dialogId, userId, extension)``."""
    return [
        event.message_id,
        event.last,
        event.body,
        event.dialog_id,
        event.user_id,
        _ext(event.extension),
    ]


def sdk_delete_args(event: MessageDeleted) -> list[Any]:
    """``onMessageDeleteListener(messageId, dialogId, userId)``."""
    return [event.message_id, event.dialog_id, event.user_id]
