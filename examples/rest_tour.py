"""A tour of the REST API, blocking: a group dialog, history, unread counts, search, an
edit, a delete, and the clean-up.  Each step prints what the server answered.

    python examples/rest_tour.py ALICE ALICE_PASS BOB BOB_PASS

(server settings: ``localsettings.py``; the async client takes the same request objects:
``await AsyncRestClient.connect(...).call(request)``)
"""

from __future__ import annotations

import sys

from localsettings import rest_client, user_id

from cubeproto.rest import DialogType
from cubeproto.rest import requests as rest


def tour(alice: tuple[str, str], bob: tuple[str, str]) -> None:
    bob_id = user_id(*bob)
    with rest_client(*alice) as api, rest_client(*bob) as bob_api:
        dialog = api.call(
            rest.create_dialog(type=DialogType.GROUP, name="REST tour", occupants_ids=[bob_id])
        )
        print(f"dialog {dialog.id} {dialog.name!r} occupants {sorted(dialog.occupants_ids)}")
        for text in ("first words", "second thoughts", "third time lucky"):
            message = api.call(rest.create_message(chat_dialog_id=dialog.id, message=text))
            print(f"stored {message.id}: {text!r}")
        history = api.call(rest.list_messages(dialog.id, sort_asc="date_sent", limit=50))
        print("history:", [m.message for m in history.items])
        unread = bob_api.call(rest.unread_counts([dialog.id]))
        print(f"bob's unread in the dialog: {unread.dialogs.get(dialog.id, 0)}")
        bob_api.call(rest.mark_all_read(dialog.id))
        print(f"after mark read: {bob_api.call(rest.unread_counts([dialog.id])).total}")
        found = api.call(rest.search("thoughts", chat_dialog_ids=[dialog.id]))
        print("search 'thoughts':", [m.message for m in found.messages])
        first = history.items[0]
        api.call(rest.update_messages(first.id, chat_dialog_id=dialog.id, message="first, edited"))
        api.call(rest.delete_messages(history.items[-1].id, force=True))
        history = api.call(rest.list_messages(dialog.id, sort_asc="date_sent"))
        print("after edit and delete:", [m.message for m in history.items])
        renamed = api.call(rest.update_dialog(dialog.id, name="REST tour (done)"))
        print(f"renamed to {renamed.name!r}")
        api.call(rest.delete_dialogs(dialog.id, force=True))
        left = [d.id for d in api.call(rest.list_dialogs()).items]
        print(f"dialog deleted: {dialog.id not in left}")


if __name__ == "__main__":
    tour((sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4]))
