"""Exceptions of the high-level chat clients (async and blocking), in one place.

An awaited request returns its answer or raises one of these; all derive from
:class:`cubeproto.errors.CubeProtoError`.
"""

from __future__ import annotations

from cubeproto.errors import CubeProtoError, StanzaError
from cubeproto.events import ConnectionClosed, Event, IqFailed, IqTimedOut, PingTimedOut
from cubeproto.reconnect import CallSettled

__all__ = ["ConnectFailed", "IqError", "IqTimeout", "NotConnected", "error_for"]


class IqError(CubeProtoError):
    """The server (or peer) answered a request with an error.

    ``error`` is the stanza error as it arrived; it is ``None`` when the answer was a
    result we could not parse (``reason`` says why).
    """

    def __init__(self, error: StanzaError | None, reason: str = "") -> None:
        name = error.condition_name if error is not None else "malformed answer"
        text = error.text if error is not None and error.text else reason
        super().__init__(f"{name}: {text}" if text else name)
        self.error = error
        self.reason = reason


class IqTimeout(CubeProtoError):
    """No answer arrived in time."""


class NotConnected(CubeProtoError):
    """The client has no ready session (connecting, reconnecting or closed)."""


class ConnectFailed(CubeProtoError):
    """``connect()`` could not establish the first session (the event says why)."""

    def __init__(self, message: str, event: Event | None = None) -> None:
        super().__init__(message)
        self.event = event


def error_for(settled: CallSettled) -> CubeProtoError:
    """The exception for a failed request outcome."""
    event = settled.event
    if isinstance(event, IqFailed):
        return IqError(event.error, event.reason)
    if isinstance(event, (IqTimedOut, PingTimedOut)):
        return IqTimeout(f"no answer to {settled.call_id}")
    if isinstance(event, ConnectionClosed):
        return NotConnected(f"the client stopped before {settled.call_id} was answered")
    error = getattr(event, "error", None)
    if isinstance(error, StanzaError):
        return IqError(error)
    return CubeProtoError(f"{settled.call_id} failed: {event!r}")
