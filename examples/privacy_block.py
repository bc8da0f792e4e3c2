"""Blocking a user with a privacy list, as the chat guide does: Bob blocks Alice, Alice's
next message bounces back to her, Bob unblocks her (the guide's update with an ``allow``)
and her message arrives.

    python examples/privacy_block.py ALICE ALICE_PASS BOB BOB_PASS

(server settings: ``localsettings.py``)
"""

from __future__ import annotations

import sys

from localsettings import chat_client, user_id

from cubeproto.chat import MessageBounced, MessageReceived, PrivacyAction, PrivacyItem


def block_and_unblock(alice: tuple[str, str], bob: tuple[str, str]) -> None:
    alice_id, bob_id = user_id(*alice), user_id(*bob)
    with (
        chat_client(alice_id, alice[1]) as alice_chat,
        chat_client(bob_id, bob[1]) as bob_chat,
    ):
        bob_chat.create_privacy_list(
            "myList", [PrivacyItem(user_id=alice_id, action=PrivacyAction.DENY)]
        )
        bob_chat.set_default_privacy_list("myList")
        print(f"bob blocks alice: {bob_chat.get_privacy_list('myList')}")
        mid = alice_chat.send_message(to_user=bob_id, body="are you there?")
        for event in alice_chat.events():
            if isinstance(event, MessageBounced) and event.message_id == mid:
                print(f"alice's message bounced: {event.error.condition_name}")
                break
        # The guide's update: decline the default list, allow alice, set it again if
        # anything is left (an update that allows the only blocked user removes the list).
        bob_chat.set_default_privacy_list(None)
        bob_chat.update_privacy_list(
            "myList", [PrivacyItem(user_id=alice_id, action=PrivacyAction.ALLOW)]
        )
        names = bob_chat.privacy_list_names()
        print(f"bob's lists after the update: {list(names.names)}")
        mid = alice_chat.send_message(to_user=bob_id, body="hello again")
        for event in bob_chat.events():
            if isinstance(event, MessageReceived) and event.message_id == mid:
                print(f"bob received: {event.body!r}")
                break


if __name__ == "__main__":
    block_and_unblock((sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4]))
