"""What the local server's listeners share about the sockets below them: how much one read
takes, what a peer's socket raises when the peer goes away or breaks TLS, and how such a
failure is described in a log record."""

from __future__ import annotations

import ssl

import anyio

__all__ = ["NETWORK_ERRORS", "READ_BYTES", "describe"]

#: Bytes asked of the socket per read.
READ_BYTES = 65536

#: What a peer's socket raises when the peer goes away or breaks TLS.
NETWORK_ERRORS = (
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    ssl.SSLError,
    OSError,
)


def describe(exc: BaseException) -> str:
    """A short description of a network failure (``EndOfStream`` has no message)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
