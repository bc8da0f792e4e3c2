"""Stopping an ``AsyncChatClient`` from a task other than the one that connected it
(a watchdog, a signal handler's task, a UI callback): anyio lets only the task that
entered a task group exit it, so such a stop used to raise "Attempted to exit cancel
scope in a different task".  Now the stop waits for the client's run task to end and
the owner's ``async with`` exit closes the emptied task group.  And a terminate is
reported as what it is, this client's doing, not "the server closed the connection"."""

# mypy: allow-untyped-defs

from __future__ import annotations

import logging

import anyio
import pytest
from cubeproto.transports.anyio_chat import AsyncChatClient
from cubeproto.transports.errors import NotConnected
from cubeproto.transports.localserver.testing import client_kwargs

from cubeproto import CloseReason, Disconnected, Transport
from cubeproto.chat import MessageReceived


@pytest.mark.parametrize("how", ["terminate", "disconnect"])
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_stop_from_another_task(cube_user, caplog, how, backend) -> None:
    bob = cube_user()
    caplog.set_level(logging.INFO, logger="cubeproto")

    async def main() -> None:
        chat = AsyncChatClient(bob.chat_config(), **client_kwargs(bob, Transport.TCP))
        async with chat:
            await chat.wait_connected()
            async with anyio.create_task_group() as tg:
                tg.start_soon(getattr(chat, how))
            assert not chat.is_connected
            gone = await chat.wait_for(Disconnected)
            assert gone.closed is not None
            assert gone.closed.reason is CloseReason.LOCAL
            assert gone.reconnect_in is None
        with pytest.raises(NotConnected):
            await chat.wait_for(MessageReceived, timeout=5)

    anyio.run(main, backend=backend)
    said = [r.getMessage() for r in caplog.records if r.name == "cubeproto.reconnect"]
    assert said, "the stop was not logged"
    assert not [m for m in said if "server closed" in m], said
