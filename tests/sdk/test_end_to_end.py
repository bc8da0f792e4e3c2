"""Issue 15: the official SDK as the receiver of our end-to-end mode, on ejabberd.

The SDK (6.1.2) answers every message from someone else that carries a dialog id with a
``delivered`` marker by itself; our sender in the end-to-end mode takes that marker as
the receiver's word: one send, ``DeliveryConfirmed``, nothing resent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ejabberd_server import CubeUser, Ejabberd

from cubeproto import ClientConnection
from cubeproto.chat import (
    ChatOptions,
    ChatSession,
    DeliveryConfirmed,
    EndToEnd,
    MessageDelivered,
    SendMessage,
)

from .cases import dialog_id
from .ourpeer import OurPeer
from .sdkpeer import SdkPeer


def test_the_sdks_automatic_marker_confirms_our_end_to_end_message(
    transport: str,
    ejabberd: Ejabberd,
    ejabberd_user: Callable[[], CubeUser],
    make_sdk: Callable[[CubeUser, str], SdkPeer],
) -> None:
    sdk_user, our_user = ejabberd_user(), ejabberd_user()
    session = ChatSession(ChatOptions(end_to_end=EndToEnd(deadline=30.0, max_attempts=2)))
    ours = OurPeer(ejabberd, our_user, transport)
    # The same peer with its chat session in the end-to-end mode (before it connects).
    ours.config = dataclasses.replace(ours.config, handler_factory=lambda: session)
    ours.conn = ClientConnection(ours.config)
    ours.start()
    try:
        sdk = make_sdk(sdk_user, transport)
        mid = ours.send(
            SendMessage(
                to_user=sdk_user.user_id, body="confirm me", dialog_id=dialog_id(), markable=True
            )
        )
        assert mid is not None
        args = sdk.wait_event("onMessageListener", lambda a: a[1]["id"] == mid)
        assert args[1]["body"] == "confirm me"
        marker = ours.wait_for(MessageDelivered, lambda e: e.message_id == mid)
        assert marker.user_id == sdk_user.user_id  # the SDK's own automatic marker
        confirmed = ours.wait_for(DeliveryConfirmed, lambda e: e.message_id == mid)
        assert confirmed == DeliveryConfirmed(message_id=mid, attempts=1)
        assert session.awaiting_confirmation == 0
    finally:
        ours.close()
