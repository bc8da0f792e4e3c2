"""Exceptions of the high-level chat clients (async and blocking), in one place.

An awaited request returns its answer or raises one of these; all derive from
:class:`cubeproto.errors.CubeProtoError`.  The request outcomes' exceptions are defined
next to the outcomes themselves (:mod:`cubeproto.reconnect`), because the verbs that
interpret answers (:mod:`cubeproto.chat.verbs`) raise them too; they are the same
classes here.
"""

from __future__ import annotations

from cubeproto.errors import CubeProtoError
from cubeproto.events import Event
from cubeproto.reconnect import IqError, IqTimeout, NotConnected, error_for

__all__ = ["ConnectFailed", "IqError", "IqTimeout", "NotConnected", "error_for"]


class ConnectFailed(CubeProtoError):
    """``connect()`` could not establish the first session (the event says why)."""

    def __init__(self, message: str, event: Event | None = None) -> None:
        super().__init__(message)
        self.event = event
