"""The pytest plugin used the way the README shows: no imports of fixtures, no setup,
no annotations (written as a user would)."""

# mypy: allow-untyped-defs

import pytest

from cubeproto.chat import MessageReceived
from cubeproto.rest import requests as rest


def test_bob_gets_alices_message(cube_user, cube_chat_client, cube_rest_client):
    alice, bob = cube_user("alice"), cube_user("bob")
    dialog = cube_rest_client(alice).call(
        rest.create_dialog(type=3, occupants_ids=[bob.id], base_url=alice.api_url)
    )
    alice_chat, bob_chat = cube_chat_client(alice), cube_chat_client(bob)
    alice_chat.send_message(to_user=bob.id, body="hi Bob", dialog_id=dialog.id)
    got = bob_chat.wait_for(MessageReceived)
    assert (got.body, got.sender_id, got.dialog_id) == ("hi Bob", alice.id, dialog.id)


@pytest.mark.anyio
async def test_async_clients(cube_user, async_cube_chat_client):
    alice, bob = cube_user("alice"), cube_user("bob")
    async with async_cube_chat_client(alice) as a, async_cube_chat_client(bob) as b:
        await a.send_message(to_user=bob.id, body="hi Bob")
        assert (await b.wait_for(MessageReceived)).body == "hi Bob"
