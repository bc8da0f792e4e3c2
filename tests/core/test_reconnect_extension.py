"""The reconnect supervisor does not know the chat layer (issue 13 step 5): it imports
nothing from ``cubeproto.chat``, not even inside a function; the chat layer plugs its
rooms in through ``register_extension`` (what the rooms do across reconnections is
tested in test_reconnect.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import cubeproto.reconnect
from cubeproto.chat.rooms import DialogRooms
from cubeproto.reconnect import register_extension


def _imported_modules(path: Path) -> list[str]:
    """Every module an import statement in ``path`` names, wherever the statement is,
    relative ones with their leading dots."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.append(base)
            if node.module is None:
                names.extend(base + alias.name for alias in node.names)
    return names


def test_the_supervisor_imports_nothing_from_the_chat_layer() -> None:
    imported = _imported_modules(Path(cubeproto.reconnect.__file__))
    assert imported, "the walk found no imports at all"
    chat = [name for name in imported if name.lstrip(".").split(".")[0] == "chat"]
    chat += [name for name in imported if name.startswith("cubeproto.chat")]
    assert chat == []


def test_the_chat_layer_registers_its_rooms_once() -> None:
    factories = cubeproto.reconnect._EXTENSIONS
    assert factories.count(DialogRooms) == 1
    register_extension(DialogRooms)  # importing twice (or re-registering) adds nothing
    assert factories.count(DialogRooms) == 1
