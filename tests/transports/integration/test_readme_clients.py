"""The README's client examples run as written (asyncio, trio and blocking) against the real
ejabberd, with the README's configuration block replaced by fresh users."""

from __future__ import annotations

import contextlib
import io
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ejabberd_server import CubeUser, Ejabberd

from cubeproto import ClientConfig
from cubeproto.chat import ChatSession

README = Path(__file__).resolve().parents[3] / "README.md"


def block(marker: str) -> str:
    after = README.read_text().split(f"<!-- {marker}", 1)[1]
    match = re.search(r"```python\n(.*?)```", after, re.S)
    assert match is not None, marker
    return match.group(1)


def namespace(ejabberd: Ejabberd, alice: CubeUser, bob: CubeUser) -> dict[str, Any]:
    passwords = {alice.user_id: alice.password, bob.user_id: bob.password}

    def config(user_id: int) -> ClientConfig:
        return ClientConfig(
            app_id=42,
            user_id=user_id,
            password=passwords[user_id],
            chat_host=ejabberd.domain,
            entropy=os.urandom,
            wall_clock=time.time,
            handler_factory=ChatSession,
        )

    return {
        "ALICE": alice.user_id,
        "BOB": bob.user_id,
        "CA": str(ejabberd.ca_file),
        "config": config,
    }


def run(code: str, ns: dict[str, Any]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), ns)
    return out.getvalue()


def test_readme_config_block_is_what_the_examples_expect() -> None:
    ns: dict[str, Any] = {}
    exec(compile(block("readme-client-config"), "README.md", "exec"), ns)
    config = ns["config"](ns["ALICE"])
    assert isinstance(config, ClientConfig) and config.handler_factory is ChatSession


@pytest.mark.watchdog(120)  # a second at most when it works
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_readme_async_example(
    ejabberd: Ejabberd, ejabberd_user: Callable[[], CubeUser], backend: str
) -> None:
    alice, bob = ejabberd_user(), ejabberd_user()
    code = block("readme-async-example")
    if backend == "trio":
        code = code.replace("anyio.run(main)", 'anyio.run(main, backend="trio")')
    out = run(code, namespace(ejabberd, alice, bob))
    assert "round trip" in out
    assert f"{alice.user_id} hi Bob {{'save_to_history': '1', 'mood': 'happy'}}" in out


@pytest.mark.watchdog(120)  # a second at most when it works
def test_readme_blocking_example(ejabberd: Ejabberd, ejabberd_user: Callable[[], CubeUser]) -> None:
    alice, bob = ejabberd_user(), ejabberd_user()
    out = run(block("readme-blocking-example"), namespace(ejabberd, alice, bob))
    assert out.strip() == f"{alice.user_id} hi Bob"
