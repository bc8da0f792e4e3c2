"""An echo bot on asyncio or trio: every 1-1 message comes back to its sender, with the
original's extension, until someone writes ``stop``.

    python examples/echo_bot_async.py LOGIN PASSWORD [asyncio|trio]

(server settings: ``localsettings.py``)
"""

from __future__ import annotations

import sys

import anyio
from localsettings import async_chat_client, user_id

from cubeproto.chat import RESERVED_EXTENSION_KEYS, MessageReceived, MessageType


async def echo(login: str, password: str) -> None:
    uid = user_id(login, password)
    async with async_chat_client(uid, password) as bot:
        print(f"echo bot {login} (user {uid}) is online", flush=True)
        async for event in bot.events():
            if not isinstance(event, MessageReceived) or event.type is not MessageType.CHAT:
                continue
            if event.sender_id is None or event.sender_id == uid:
                continue  # carbons of our own messages, or not a ConnectyCube user
            if event.body == "stop":
                print(f"stopped by user {event.sender_id}", flush=True)
                return
            await bot.send_message(
                to_user=event.sender_id,
                dialog_id=event.dialog_id,
                body=event.body,
                # The received extension also holds the SDK's own fields (date_sent,
                # save_to_history...), which a new message sets itself.
                extension={
                    k: v for k, v in event.extension.items() if k not in RESERVED_EXTENSION_KEYS
                },
            )
            print(f"echoed {event.body!r} to user {event.sender_id}", flush=True)


if __name__ == "__main__":
    login, password = sys.argv[1], sys.argv[2]
    backend = sys.argv[3] if len(sys.argv) > 3 else "asyncio"
    anyio.run(echo, login, password, backend=backend)
