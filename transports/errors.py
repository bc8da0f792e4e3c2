"""Exceptions of the high-level chat clients (async and blocking), in one place.

An awaited request returns its answer or raises one of these; all derive from
:class:`cubeproto.errors.CubeProtoError`.
"""

from __future__ import annotations

import socket
import ssl

from cubeproto.diagnostics import describe
from cubeproto.errors import CubeProtoError, StanzaError
from cubeproto.events import ConnectionClosed, Event, IqFailed, IqTimedOut, PingTimedOut
from cubeproto.reconnect import CallSettled, Disconnected

__all__ = [
    "ConnectFailed",
    "IqError",
    "IqTimeout",
    "NotConnected",
    "error_for",
    "transport_failure",
]


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
    """``connect()`` could not establish the first session; the message says why in one
    sentence, ``event`` is what the client saw (a ``Disconnected``, usually)."""

    def __init__(self, message: str, event: Event | None = None) -> None:
        super().__init__(message)
        self.event = event

    @classmethod
    def of(cls, where: str, event: Event | None) -> ConnectFailed:
        """``could not connect to host:port: <why>``, the why from :func:`describe`."""
        if isinstance(event, Disconnected):
            why = describe(event.closed) if event.closed is not None else event.error
        else:
            why = describe(event) if event is not None else None
        return cls(f"could not connect to {where}: {why or 'unknown reason'}", event)


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


def transport_failure(exc: BaseException) -> str:
    """What a failed connect or TLS handshake means, in the words that help: the
    certificate problem as OpenSSL names it (``CERTIFICATE_VERIFY_FAILED``, with the
    verifier's reason such as a hostname mismatch), a refused connection, an unknown host,
    a timeout; anything else as the exception's type and text."""
    cause = exc.__cause__
    grouped = getattr(cause, "exceptions", None)  # an exception group (3.10: the backport)
    if grouped:
        cause = grouped[0]  # anyio: every address refused; the first says why
    if type(exc) is OSError and exc.errno is None and isinstance(cause, OSError):
        return transport_failure(cause)  # a wrapper (anyio's connect_tcp) adds nothing
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or exc.reason or "certificate verify failed"
        return f"[SSL: {exc.reason or 'CERTIFICATE_VERIFY_FAILED'}] {detail}"
    if isinstance(exc, ssl.SSLError):
        return f"[SSL: {exc.reason}] {exc.strerror or exc}" if exc.reason else str(exc)
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running, on that port?)"
    if isinstance(exc, socket.gaierror):
        return f"host name could not be resolved: {exc.strerror or exc}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text else name
