"""The public API: everything in ``__all__`` exists, and the chat vocabulary is exported
from ``cubeproto`` itself as well as from ``cubeproto.chat``."""

from __future__ import annotations

import cubeproto
import cubeproto.chat
import cubeproto.rest


def test_every_exported_name_exists() -> None:
    for module in (cubeproto, cubeproto.chat, cubeproto.rest):
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert missing == [], module.__name__
        assert len(set(module.__all__)) == len(module.__all__), module.__name__


def test_chat_vocabulary_is_exported_from_cubeproto() -> None:
    for name in cubeproto.chat.__all__:
        assert getattr(cubeproto, name) is getattr(cubeproto.chat, name), name
    assert cubeproto.SendMessage is cubeproto.chat.SendMessage


def test_the_clients_connection_events_are_exported_from_cubeproto() -> None:
    import cubeproto.reconnect

    assert cubeproto.Disconnected is cubeproto.reconnect.Disconnected
    assert cubeproto.Reconnected is cubeproto.reconnect.Reconnected
    assert {"Disconnected", "Reconnected"} <= set(cubeproto.__all__)
