"""``wait_for`` on the real chat clients (issue 14 B): the next event of a type that
matches, with the events it passed over still handed out afterwards, in order; a
``TimeoutError`` when none comes, ``NotConnected`` once the client stopped."""

# mypy: allow-untyped-defs

from __future__ import annotations

import anyio
import pytest
from cubeproto.transports.anyio_chat import AsyncChatClient
from cubeproto.transports.blocking_chat import ChatClient
from cubeproto.transports.errors import NotConnected
from cubeproto.transports.localserver.testing import client_kwargs

from cubeproto import Transport
from cubeproto.chat import MessageReceived


def _bodies(events) -> list[str | None]:
    return [e.body for e in events if isinstance(e, MessageReceived)]


def test_blocking_wait_for_keeps_what_it_passed_over(cube_user, cube_chat_client) -> None:
    alice, bob = cube_user(), cube_user()
    sender = cube_chat_client(alice)
    with ChatClient(bob.chat_config(), **client_kwargs(bob, Transport.TCP)) as chat:
        chat.wait_connected(settled=True)
        for body in ("one", "two", "three"):
            sender.send_message(to_user=bob.id, body=body)
        got = chat.wait_for(MessageReceived, lambda m: m.body == "two", sender_id=alice.id)
        assert (got.body, got.sender_id) == ("two", alice.id)
        third = chat.wait_for(MessageReceived, body="three")
        assert third.body == "three"
        # "one" was passed over twice and is still there, first.
        rest = []
        while (event := chat.next_event(timeout=0)) is not None:
            rest.append(event)
        assert _bodies(rest) == ["one"]
        with pytest.raises(TimeoutError, match="MessageReceived"):
            chat.wait_for(MessageReceived, timeout=0.2)
    with pytest.raises(NotConnected):
        chat.wait_for(MessageReceived, timeout=5)


def test_async_wait_for_keeps_what_it_passed_over(cube_user, cube_chat_client) -> None:
    alice, bob = cube_user(), cube_user()
    sender = cube_chat_client(alice)

    async def main() -> None:
        chat = AsyncChatClient(bob.chat_config(), **client_kwargs(bob, Transport.TCP))
        async with chat:
            await chat.wait_connected(settled=True)
            for body in ("one", "two"):
                await anyio.to_thread.run_sync(
                    lambda body=body: sender.send_message(to_user=bob.id, body=body)
                )
            got = await chat.wait_for(MessageReceived, body="two")
            assert got.sender_id == alice.id
            events = chat.events()
            first = await events.__anext__()
            while not isinstance(first, MessageReceived):
                first = await events.__anext__()
            assert first.body == "one"
            with pytest.raises(TimeoutError):
                await chat.wait_for(MessageReceived, timeout=0.2)
        with pytest.raises(NotConnected):
            await chat.wait_for(MessageReceived, timeout=5)

    anyio.run(main)
