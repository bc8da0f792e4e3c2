"""The public API: everything in ``__all__`` exists, and the chat vocabulary is exported
from ``cubeproto`` itself as well as from ``cubeproto.chat``."""

from __future__ import annotations

import cubeproto
import cubeproto.chat
import cubeproto.rest
import cubeproto.server


def test_every_exported_name_exists() -> None:
    for module in (cubeproto, cubeproto.chat, cubeproto.rest, cubeproto.server):
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert missing == [], module.__name__
        assert len(set(module.__all__)) == len(module.__all__), module.__name__


def test_chat_vocabulary_is_exported_from_cubeproto() -> None:
    for name in cubeproto.chat.__all__:
        assert getattr(cubeproto, name) is getattr(cubeproto.chat, name), name
    assert cubeproto.SendMessage is cubeproto.chat.SendMessage


def test_the_local_server_imports_only_public_modules() -> None:
    """The local server is built on the supported API (``cubeproto.server`` and the other
    public modules), so nothing it needs can change behind its back."""
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "transports" / "localserver"
    private: list[str] = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            private += [
                f"{path.name}: {name}"
                for name in names
                if name.startswith("cubeproto.")
                and any(part.startswith("_") for part in name.split("."))
            ]
    assert private == []


def test_the_clients_connection_events_are_exported_from_cubeproto() -> None:
    import cubeproto.reconnect

    assert cubeproto.Disconnected is cubeproto.reconnect.Disconnected
    assert cubeproto.Reconnected is cubeproto.reconnect.Reconnected
    assert {"Disconnected", "Reconnected"} <= set(cubeproto.__all__)
