"""A bridge between two group dialogs: a bot that is an occupant of both relays every
message from one to the other, naming where it came from, until someone writes
``stop bridge``.

    python examples/dialog_bridge.py BOT BOT_PASS DIALOG_A DIALOG_B

(server settings: ``localsettings.py``; the bot must be an occupant of both dialogs)
"""

from __future__ import annotations

import sys

from localsettings import chat_client, user_id

from cubeproto.chat import MessageReceived, MessageType


def bridge(login: str, password: str, a: str, b: str) -> None:
    uid = user_id(login, password)
    other = {a: b, b: a}
    with chat_client(uid, password) as bot:
        bot.join_dialog(a)
        bot.join_dialog(b)
        print(f"bridging {a} <-> {b}", flush=True)
        for event in bot.events():
            if not isinstance(event, MessageReceived) or event.type is not MessageType.GROUPCHAT:
                continue
            if event.dialog_id not in other or event.sender_id in (None, uid):
                continue  # our own relays come back to us too
            if event.body == "stop bridge":
                print(f"stopped by user {event.sender_id}", flush=True)
                return
            target = other[event.dialog_id]
            bot.send_message(
                to_dialog=target, body=f"[{event.dialog_id}] user {event.sender_id}: {event.body}"
            )
            print(f"relayed {event.body!r} from {event.dialog_id} to {target}", flush=True)


if __name__ == "__main__":
    bridge(*sys.argv[1:5])
