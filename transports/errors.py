"""Exceptions of the high-level chat clients (async and blocking), in one place.

An awaited request returns its answer or raises one of these; all derive from
:class:`cubeproto.errors.CubeProtoError`.  The request outcomes' exceptions are defined
next to the outcomes themselves (:mod:`cubeproto.reconnect`), because the verbs that
interpret answers (:mod:`cubeproto.chat.verbs`) raise them too; they are the same
classes here.
"""

from __future__ import annotations

import socket
import ssl

from cubeproto.diagnostics import describe
from cubeproto.errors import CubeProtoError
from cubeproto.events import Event
from cubeproto.reconnect import Disconnected, IqError, IqTimeout, NotConnected, error_for

__all__ = [
    "ConnectFailed",
    "IqError",
    "IqTimeout",
    "NotConnected",
    "error_for",
    "transport_failure",
]


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
