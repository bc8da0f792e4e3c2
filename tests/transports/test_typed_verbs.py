"""The clients' verbs are typed (issue 14 B): every parameter is spelled, so a misspelt
keyword is refused by ``mypy --strict`` and raises ``TypeError`` at run time, and the
results have their types (``send_message`` -> ``str``, ``ping`` -> ``float``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest
from cubeproto.transports.anyio_chat import AsyncChatClient
from cubeproto.transports.blocking_chat import ChatClient

from cubeproto import ClientConfig

REPO = Path(__file__).resolve().parents[2]

#: A user's script that gets the verbs right: mypy --strict must accept it.
RIGHT = """
from transports.anyio_chat import AsyncChatClient
from transports.blocking_chat import ChatClient


async def use_async(chat: AsyncChatClient) -> None:
    mid: str = await chat.send_message(to_user=2, body="hi", save_to_history=True)
    await chat.edit_message(mid, "fixed", to_user=2, last=True)
    await chat.delete_message(mid, to_dialog="d1", dialog_id="d1")
    seconds: float = await chat.ping(timeout=1.0)


def use_blocking(chat: ChatClient) -> None:
    mid: str = chat.send_message(to_dialog="d1", body="hi", markable=True)
    chat.edit_message(mid, "fixed", to_dialog="d1")
    chat.delete_message(mid, to_user=2)
    seconds: int = chat.last_activity(2)
"""

#: The issue's three misspellings and a wrong result type, one error per line marked.
WRONG = """
from transports.anyio_chat import AsyncChatClient
from transports.blocking_chat import ChatClient


async def use_async(chat: AsyncChatClient) -> None:
    await chat.edit_message("m", "b", to_usr=2)  # error: to_usr
    await chat.send_message(to_user=2, savetohistory=True)  # error: savetohistory


def use_blocking(chat: ChatClient) -> None:
    chat.delete_message("m", dialog="x")  # error: dialog
    seconds: int = chat.ping()  # error: float
"""


def _mypy(*scripts: Path) -> subprocess.CompletedProcess[str]:
    """The venv's mypy --strict on ``scripts``, run from the checkout (where the
    adapters are the top-level ``transports`` package)."""
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", *map(str, scripts)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def test_mypy_strict_accepts_right_verbs_and_refuses_misspelt_keywords(tmp_path: Path) -> None:
    right = tmp_path / "right.py"
    right.write_text(textwrap.dedent(RIGHT))
    wrong = tmp_path / "wrong.py"
    wrong.write_text(textwrap.dedent(WRONG))

    result = _mypy(right, wrong)
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert result.returncode == 1, result.stdout + result.stderr
    assert not [line for line in errors if line.startswith(str(right))], result.stdout

    lines = wrong.read_text().splitlines()
    marked = {
        n + 1: line.split("# error: ")[1] for n, line in enumerate(lines) if "# error: " in line
    }
    reported = {int(line.split(":")[1]): line for line in errors}
    assert sorted(reported) == sorted(marked), result.stdout
    for number, word in marked.items():
        assert word in reported[number], reported[number]


def _config() -> ClientConfig:
    return ClientConfig(
        app_id=1,
        user_id=2,
        password="secret",
        entropy=os.urandom,
        wall_clock=time.time,
        chat_host="chat.invalid",
    )


def test_a_misspelt_keyword_raises_type_error_on_the_blocking_client() -> None:
    chat = ChatClient(_config())  # never connected: the call is refused before any I/O
    with pytest.raises(TypeError, match="to_usr"):
        chat.edit_message("m", "b", to_usr=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="dialog"):
        chat.delete_message("m", dialog="x")  # type: ignore[call-arg]


def test_a_misspelt_keyword_raises_type_error_on_the_async_client() -> None:
    async def main() -> None:
        chat = AsyncChatClient(_config())
        with pytest.raises(TypeError, match="savetohistory"):
            await chat.send_message(to_user=2, savetohistory=True)  # type: ignore[call-arg]

    anyio.run(main)
