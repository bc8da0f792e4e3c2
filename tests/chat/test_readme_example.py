"""The README's chat example runs as written against a logged-in connection, and puts the
SDK's wire shapes on the stream."""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
sys.path.insert(0, str(README.parent / "tests" / "core"))

from scripted import drain, logged_in  # noqa: E402

from cubeproto.chat import ChatSession, DeliveryStatus, DeliveryStatusChanged  # noqa: E402


def readme_chat_example() -> str:
    text = README.read_text()
    after = text.split("<!-- readme-chat-example", 1)[1]
    match = re.search(r"```python\n(.*?)```", after, re.S)
    assert match is not None
    return match.group(1)


def test_readme_chat_example_runs() -> None:
    conn, server = logged_in(handler_factory=ChatSession)
    namespace = {"conn": conn, "now": 1.0}
    exec(compile(readme_chat_example(), "README.md", "exec"), namespace)
    sent = server.client_sent().decode()
    mid = namespace["mid"]
    assert f'id="{mid}"' in sent and 'to="78-42@localhost"' in sent
    assert "<extraParams" in sent and '<attachment uid="7cafb603" type="photo"/>' in sent
    assert "<user><name>Bob</name></user>" in sent
    assert '<composing xmlns="http://jabber.org/protocol/chatstates"/>' in sent
    assert f'<displayed xmlns="urn:xmpp:chat-markers:0" id="{mid}"/>' in sent
    assert f'<replace xmlns="urn:xmpp:message-correct:0" id="{mid}" last="true"/>' in sent
    assert f'<remove xmlns="urn:xmpp:message-delete:0" id="{mid}"/>' in sent
    assert 'to="42_6507f0a1c2b3d4e5f6a7b8c9@muc.localhost/1001"' in sent
    queued = [e for e in drain(conn) if isinstance(e, DeliveryStatusChanged)]
    assert [(e.message_id, e.status) for e in queued] == [(mid, DeliveryStatus.QUEUED)]
