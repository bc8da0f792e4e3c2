"""Every program in ``examples/`` runs against a local server, as a user would run it (its
own process, settings from the environment), and does what its docstring says."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cubeproto.transports.http_blocking import BlockingRestClient
from cubeproto.transports.localserver.testing import CubeUser, LocalChatClient

from cubeproto.chat import MessageReceived
from cubeproto.rest import DialogType
from cubeproto.rest import requests as rest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NewUser = Callable[..., CubeUser]
NewChat = Callable[..., LocalChatClient]
NewRest = Callable[[CubeUser], BlockingRestClient]
SECONDS = 60


def environment(user: CubeUser) -> dict[str, str]:
    """What ``cubeproto serve`` prints, as ``localsettings.py`` reads it."""
    info = user.server.info
    return {
        **os.environ,
        "CUBE_APP_ID": str(user.app.id),
        "CUBE_AUTH_KEY": user.app.auth_key,
        "CUBE_API_URL": user.api_url,
        "CUBE_HOST": info.host,
        "CUBE_DOMAIN": info.domain,
        "CUBE_XMPP_PORT": str(info.xmpp_port),
        "CUBE_CA_FILE": info.ca_file or "",
    }


def run(script: str, user: CubeUser, *args: str) -> str:
    """Run an example to its end; its output."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        env=environment(user),
        capture_output=True,
        text=True,
        timeout=SECONDS,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


class Running:
    """An example that runs until told to stop, read line by line."""

    def __init__(self, script: str, user: CubeUser, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(EXAMPLES / script), *args],
            env=environment(user),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def line_with(self, text: str) -> str:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if text in line:
                return line
        _, err = self.process.communicate(timeout=SECONDS)
        raise AssertionError(f"the example ended without printing {text!r}: {err}")

    def finish(self) -> str:
        out, err = self.process.communicate(timeout=SECONDS)
        assert self.process.returncode == 0, err
        return out

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


@pytest.fixture
def running() -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(script: str, user: CubeUser, *args: str) -> Running:
        started.append(Running(script, user, *args))
        return started[-1]

    yield start
    for example in started:
        example.kill()


@pytest.mark.parametrize(
    ("script", "extra"),
    [
        ("echo_bot_async.py", ["asyncio"]),
        ("echo_bot_async.py", ["trio"]),
        ("echo_bot_blocking.py", []),
    ],
)
def test_echo_bot(
    script: str,
    extra: list[str],
    cube_user: NewUser,
    cube_chat_client: NewChat,
    running: Callable[..., Running],
) -> None:
    bot, alice = cube_user("bot", "bot-pass"), cube_user("alice", "alice-pass")
    echo = running(script, bot, "bot", "bot-pass", *extra)
    echo.line_with("is online")
    chat = cube_chat_client(alice)
    for text in ("hello", "ünïcode & <xml>"):
        chat.send_message(to_user=bot.id, body=text, extension={"mood": "happy"})
        got = chat.wait_for(MessageReceived, sender_id=bot.id)
        assert (got.body, got.extension.get("mood")) == (text, "happy")
        assert f"echoed {text!r} to user {alice.id}" in echo.line_with("echoed")
    chat.send_message(to_user=bot.id, body="stop")
    assert f"stopped by user {alice.id}" in echo.finish()


def test_rest_tour(cube_user: NewUser) -> None:
    cube_user("bob", "bob-pass")
    out = run(
        "rest_tour.py", cube_user("alice", "alice-pass"), "alice", "alice-pass", "bob", "bob-pass"
    )
    assert "history: ['first words', 'second thoughts', 'third time lucky']" in out
    assert "bob's unread in the dialog: 3" in out
    assert "after mark read: 0" in out
    assert "search 'thoughts': ['second thoughts']" in out
    assert "after edit and delete: ['first, edited', 'second thoughts']" in out
    assert "renamed to 'REST tour (done)'" in out
    assert "dialog deleted: True" in out


def test_attachments(cube_user: NewUser) -> None:
    cube_user("bob", "bob-pass")
    alice = cube_user("alice", "alice-pass")
    out = run("attachments.py", alice, "alice", "alice-pass", "bob", "bob-pass")
    size = len(b"\x89PNG\r\n\x1a\n") + 256 * 64
    assert f"({size} bytes)" in out
    assert "bob got the message with attachment" in out and "(photo)" in out
    assert f"downloaded {size} bytes, identical: True" in out


def test_privacy_block(cube_user: NewUser) -> None:
    cube_user("bob", "bob-pass")
    alice = cube_user("alice", "alice-pass")
    out = run("privacy_block.py", alice, "alice", "alice-pass", "bob", "bob-pass")
    assert "alice's message bounced: service-unavailable" in out
    assert "bob's lists after the update: []" in out
    assert "bob received: 'hello again'" in out


def test_dialog_bridge(
    cube_user: NewUser,
    cube_chat_client: NewChat,
    cube_rest_client: NewRest,
    running: Callable[..., Running],
) -> None:
    bot, alice, carol = (cube_user(n, f"{n}-pass") for n in ("bot", "alice", "carol"))
    a = cube_rest_client(alice).call(
        rest.create_dialog(type=DialogType.GROUP, name="A", occupants_ids=[bot.id])
    )
    b = cube_rest_client(carol).call(
        rest.create_dialog(type=DialogType.GROUP, name="B", occupants_ids=[bot.id])
    )
    bridge = running("dialog_bridge.py", bot, "bot", "bot-pass", a.id, b.id)
    bridge.line_with("bridging")
    alice_chat, carol_chat = cube_chat_client(alice), cube_chat_client(carol)
    alice_chat.join_dialog(a.id)
    carol_chat.join_dialog(b.id)
    alice_chat.send_message(to_dialog=a.id, body="hello from A")
    relayed = carol_chat.wait_for(MessageReceived, dialog_id=b.id, sender_id=bot.id)
    assert relayed.body == f"[{a.id}] user {alice.id}: hello from A"
    carol_chat.send_message(to_dialog=b.id, body="hi back from B")
    relayed = alice_chat.wait_for(MessageReceived, dialog_id=a.id, sender_id=bot.id)
    assert relayed.body == f"[{b.id}] user {carol.id}: hi back from B"
    alice_chat.send_message(to_dialog=a.id, body="stop bridge")
    assert f"stopped by user {alice.id}" in bridge.finish()
