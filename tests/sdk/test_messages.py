"""Chat messages 1-1 between the official SDK and our client, both directions.

Every extension shape of the chat guide goes through (:mod:`.cases`): nested objects,
photo/video attachments, location attachments (guide and server-docs shapes), unicode,
XML-special characters and empty values.  For each message the same expected value -- the
SDK ``onMessageListener`` arguments, with the extension as the SDK decodes it
(:func:`~.expect.sdk_decoded`) -- is compared with what the receiving peer reports: the
SDK's listener arguments, or our ``MessageReceived`` mapped to them.
"""

from __future__ import annotations

from typing import Any

import pytest

from cubeproto.chat import MessageReceived, SendMessage

from .cases import dialog_id, expected_args, params
from .conftest import Pair
from .expect import sdk_message_args


@pytest.mark.parametrize(("name", "body", "extension"), params())
def test_one_to_one_sdk_to_ours(
    pair: Pair, name: str, body: str, extension: dict[str, Any]
) -> None:
    dialog = dialog_id()
    ext = {"save_to_history": 1, "dialog_id": dialog, **extension}
    mid = pair.sdk.call("chat.send", pair.our_id, {"type": "chat", "body": body, "extension": ext})
    got = pair.ours.wait_for(MessageReceived, lambda e: e.message_id == mid)
    assert sdk_message_args(got) == expected_args(
        sender=pair.sdk_id,
        recipient=pair.our_id,
        dialog=dialog,
        type_="chat",
        mid=mid,
        body=body,
        extension=extension,
    )


@pytest.mark.parametrize(("name", "body", "extension"), params())
def test_one_to_one_ours_to_sdk(
    pair: Pair, name: str, body: str, extension: dict[str, Any]
) -> None:
    dialog = dialog_id()
    mid = pair.ours.send(
        SendMessage(to_user=pair.sdk_id, body=body, dialog_id=dialog, extension=extension)
    )
    assert mid is not None
    args = pair.sdk.wait_event("onMessageListener", lambda a: a[1]["id"] == mid)
    assert args == expected_args(
        sender=pair.our_id,
        recipient=pair.sdk_id,
        dialog=dialog,
        type_="chat",
        mid=mid,
        body=body,
        extension=extension,
    )
