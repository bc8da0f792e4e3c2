"""A photo up and down: Alice uploads a file to storage, sends it as a chat attachment;
Bob's client receives the message, downloads the blob by its uid and checks the bytes.

    python examples/attachments.py ALICE ALICE_PASS BOB BOB_PASS

(server settings: ``localsettings.py``)
"""

from __future__ import annotations

import hashlib
import io
import sys

from localsettings import chat_client, rest_client, user_id

from cubeproto.chat import MessageReceived

PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64  # any bytes will do


def share(alice: tuple[str, str], bob: tuple[str, str]) -> None:
    alice_id, bob_id = user_id(*alice), user_id(*bob)
    with rest_client(*alice) as alice_api:
        blob = alice_api.upload_file(
            io.BytesIO(PHOTO), name="photo.png", content_type="image/png", size=len(PHOTO)
        )
    print(f"uploaded blob {blob.uid} ({blob.size} bytes)")
    with (
        chat_client(alice_id, alice[1]) as alice_chat,
        chat_client(bob_id, bob[1]) as bob_chat,
    ):
        attachment = {"uid": blob.uid, "type": "photo", "name": "photo.png", "size": len(PHOTO)}
        mid = alice_chat.send_message(
            to_user=bob_id, body="a photo", extension={"attachments": [attachment]}
        )
        for event in bob_chat.events():
            if isinstance(event, MessageReceived) and event.message_id == mid:
                attachments = event.extension["attachments"]
                assert isinstance(attachments, list)  # decoded as the SDK does: a list
                received = attachments[0]
                break
    print(f"bob got the message with attachment {received['uid']} ({received['type']})")
    sink = io.BytesIO()
    with rest_client(*bob) as bob_api:
        size = bob_api.download_blob(str(received["uid"]), sink)
    same = hashlib.sha256(sink.getvalue()).digest() == hashlib.sha256(PHOTO).digest()
    print(f"downloaded {size} bytes, identical: {same}")


if __name__ == "__main__":
    share((sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4]))
