"""POST /chat/Message.json with send_to_chat=1 stores the message and delivers it over chat,
1-1 with its attachments and custom keys, with the history id."""

# mypy: allow-untyped-defs

from cubeproto.chat import MessageReceived
from cubeproto.rest import requests as rest


def test_rest_message_is_delivered_over_chat(cube_user, cube_chat_client, cube_rest_client):
    alice, bob = cube_user("alice"), cube_user("bob")
    api = cube_rest_client(alice)
    dialog = api.call(rest.create_dialog(type=3, occupants_ids=[bob.id], base_url=alice.api_url))
    bob_chat = cube_chat_client(bob)
    created = api.call(
        rest.create_message(
            chat_dialog_id=dialog.id,
            message="from REST",
            attachments=[{"type": "image", "id": "654645"}],
            extension={"mood": "calm"},
            send_to_chat=True,
            base_url=alice.api_url,
        )
    )
    got = bob_chat.wait_for(MessageReceived, body="from REST")
    assert (got.message_id, got.sender_id, got.dialog_id) == (created.id, alice.id, dialog.id)
    assert got.extension["mood"] == "calm"
    assert got.extension["attachments"] == [{"type": "image", "id": "654645"}]


def test_without_send_to_chat_nothing_is_delivered(cube_user, cube_chat_client, cube_rest_client):
    alice, bob = cube_user("alice"), cube_user("bob")
    api = cube_rest_client(alice)
    dialog = api.call(rest.create_dialog(type=3, occupants_ids=[bob.id], base_url=alice.api_url))
    bob_chat = cube_chat_client(bob)
    api.call(rest.create_message(chat_dialog_id=dialog.id, message="quiet", base_url=alice.api_url))
    # The REST call returned after the server routed whatever it routes; a chat message
    # Alice sends afterwards reaches Bob after it.
    cube_chat_client(alice).send_message(to_user=bob.id, body="marker")
    bob_chat.wait_for(MessageReceived, body="marker")
    assert not any(isinstance(e, MessageReceived) and e.body == "quiet" for e in bob_chat.backlog)
