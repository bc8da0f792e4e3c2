"""The official SDK against our local server (``cubeproto serve``), next to our client.

The server runs as the console script would run it, in its own process on free loopback
ports.  The SDK logs in over REST and chat (WebSocket) as alice; our client is bob, over
TCP with STARTTLS for chat and our blocking HTTP client for REST.  What one side does, the
other sees with the same values.
"""

from __future__ import annotations

import re
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cubeproto.transports.http_blocking import (  # type: ignore[import-not-found,unused-ignore]
    BlockingHttpClient,
)
from ejabberd_server import CubeUser

from cubeproto.chat import ChatStateChanged, MessageRead, MessageReceived, SendMessage
from cubeproto.rest import requests as rest
from cubeproto.rest.requests import LoginPassword

from .cases import dialog_id
from .expect import sdk_decoded, sdk_message_args, sdk_typing_args
from .ourpeer import OurPeer
from .sdkpeer import SdkPeer

APP_ID = 42
AUTH_KEY = "sdk-conformance-key"
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Local:
    """The running local server: endpoints (the ``ChatServer`` protocol of ourpeer) and users."""

    domain: str
    ws_url: str
    c2s_port: int
    c2s_tls_port: int
    api_url: str
    ca_file: str
    users: dict[str, CubeUser]

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)


@pytest.fixture(scope="module")
def local(node: None) -> Iterator[Local]:
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "cubeproto.transports.localserver.cli", "serve",
            "--xmpp-port", "0", "--tls-port", "0", "--ws-port", "0", "--http-port", "0",
            "--app-id", str(APP_ID), "--auth-key", AUTH_KEY,
            "--user", "alice:alice-pw", "--user", "bob:bob-pw",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not any(line.startswith("chat domain") for line in lines):
            line = proc.stdout.readline()
            if not line:
                pytest.fail(f"cubeproto serve did not start: {''.join(lines)}", pytrace=False)
            lines.append(line)
        text = "".join(lines)
        ids = dict(re.findall(r"user (\w+): id (\d+)", text))
        xmpp, tls, ws, api = re.search(
            r"STARTTLS\) [\d.]+:(\d+), direct TLS :(\d+), WebSocket ws://[\d.]+:(\d+)/ws, "
            r"REST (http://\S+)",
            text,
        ).groups()  # type: ignore[union-attr]
        domain, ca = re.search(r"chat domain (\S+); CA certificate (\S+)", text).groups()  # type: ignore[union-attr]
        passwords = {"alice": "alice-pw", "bob": "bob-pw"}
        yield Local(
            domain=domain,
            ws_url=f"ws://{domain}:{ws}/ws",
            c2s_port=int(xmpp),
            c2s_tls_port=int(tls),
            api_url=api,
            ca_file=ca,
            users={
                name: CubeUser(
                    user_id=int(uid), app_id=APP_ID, password=passwords[name], domain=domain
                )
                for name, uid in ids.items()
            },
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def alice(local: Local) -> Iterator[SdkPeer]:
    """The SDK, with a REST user session and a chat connection over WebSocket."""
    peer = SdkPeer()
    try:
        peer.init_chat(
            appId=APP_ID,
            authKey=AUTH_KEY,
            chatHost=local.domain,
            chatUrl=local.ws_url,
            apiUrl=local.api_url,
            streamManagement=True,
        )
        session = peer.call("createSession", {"login": "alice", "password": "alice-pw"})
        assert session["user_id"] == local.users["alice"].user_id
        peer.connect(local.users["alice"].user_id, "alice-pw")
        yield peer
    finally:
        peer.close()


@pytest.fixture
def bob(local: Local) -> Iterator[OurPeer]:
    """Our client over TCP with STARTTLS."""
    peer = OurPeer(local, local.users["bob"], "tcp").start()
    yield peer
    peer.close()


@pytest.fixture
def bob_rest(local: Local) -> Iterator[tuple[BlockingHttpClient, str]]:
    """Our blocking HTTP client and bob's session token."""
    http = BlockingHttpClient()
    session = http.send(
        rest.create_session(
            application_id=APP_ID,
            auth_key=AUTH_KEY,
            user=LoginPassword(login="bob", password="bob-pw"),
            base_url=local.api_url,
        )
    )
    yield http, session.token
    http.close()


def test_chat_both_ways(local: Local, alice: SdkPeer, bob: OurPeer) -> None:
    alice_id, bob_id = local.users["alice"].user_id, local.users["bob"].user_id
    dialog = dialog_id()
    ext: dict[str, Any] = {"save_to_history": 1, "dialog_id": dialog, "meta": {"k": "v <&>"}}
    mid = alice.call("chat.send", bob_id, {"type": "chat", "body": "hi bob", "extension": ext})
    got = bob.wait_for(MessageReceived, lambda e: e.message_id == mid)
    assert sdk_message_args(got)[0] == alice_id
    assert sdk_message_args(got)[1]["body"] == "hi bob"
    # The server stamps date_sent into the extension, as ConnectyCube's does (reference 12.3).
    extension = dict(sdk_message_args(got)[1]["extension"])
    assert extension.pop("date_sent").isdigit()
    assert extension == sdk_decoded(ext)
    # Our automatic delivered marker reaches the SDK.
    assert alice.wait_event("onDeliveredStatusListener") == [mid, dialog, bob_id]

    mid2 = bob.send(SendMessage(to_user=alice_id, body="hi alice", dialog_id=dialog))
    args = alice.wait_event("onMessageListener", lambda a: a[1]["id"] == mid2)
    assert args[0] == bob_id
    assert args[1]["body"] == "hi alice"
    extension = dict(args[1]["extension"])
    assert extension.pop("date_sent").isdigit()
    assert extension == {"save_to_history": "1", "dialog_id": dialog}
    alice.call("chat.sendReadStatus", {"messageId": mid2, "dialogId": dialog, "userId": bob_id})
    read = bob.wait_for(MessageRead, lambda e: e.message_id == mid2)
    assert (read.dialog_id, read.user_id) == (dialog, alice_id)

    alice.call("chat.sendIsTypingStatus", bob_id, wait=False)
    typing = bob.wait_for(ChatStateChanged, lambda e: e.user_id == alice_id)
    assert sdk_typing_args(typing) == [True, alice_id, None]


def test_rest_dialog_and_history_seen_alike(
    local: Local, alice: SdkPeer, bob: OurPeer, bob_rest: tuple[BlockingHttpClient, str]
) -> None:
    http, token = bob_rest
    alice_id, bob_id = local.users["alice"].user_id, local.users["bob"].user_id
    created = alice.call(
        "chat.dialog.create", {"type": 2, "name": "Friday party", "occupants_ids": [bob_id]}
    )
    dialog = created["_id"]
    assert sorted(created["occupants_ids"]) == sorted([alice_id, bob_id])

    ours = http.send(rest.list_dialogs(token=token, base_url=local.api_url))
    mine = [d for d in ours.items if d.id == dialog]
    assert len(mine) == 1
    assert (mine[0].name, int(mine[0].type), sorted(mine[0].occupants_ids)) == (
        "Friday party",
        2,
        sorted([alice_id, bob_id]),
    )

    ext = {"save_to_history": 1, "dialog_id": dialog}
    mid = alice.call("chat.send", dialog, {"type": "groupchat", "body": "stored", "extension": ext})
    theirs = alice.call("chat.message.list", {"chat_dialog_id": dialog, "mark_as_read": 0})
    seen = http.send(
        rest.list_messages(dialog, mark_as_read=False, token=token, base_url=local.api_url)
    )
    assert [m["_id"] for m in theirs["items"]] == [m.id for m in seen.items] == [mid]
    assert [m["message"] for m in theirs["items"]] == [m.message for m in seen.items] == ["stored"]
    assert [m["sender_id"] for m in theirs["items"]] == [m.sender_id for m in seen.items]

    updated = alice.call("chat.dialog.update", dialog, {"name": "Saturday party"})
    assert updated["name"] == "Saturday party"
    ours = http.send(rest.list_dialogs(token=token, base_url=local.api_url))
    assert [d.name for d in ours.items if d.id == dialog] == ["Saturday party"]
