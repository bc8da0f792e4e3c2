"""One open transport of the async client: a TCP stream with TLS over memory BIOs.

The TLS layer is ``ssl.SSLObject`` on two ``MemoryBIO``s rather than anyio's
``TLSStream`` because of how much each call moves: :meth:`Wire.receive` decrypts every
record that has arrived (``TLSStream`` returns one record per call, so a burst of small
stanzas cost one reader iteration each) and :meth:`Wire.send` encrypts a whole batch of
output and writes it in one transport send.  STARTTLS is :meth:`Wire.start_tls` on the
same stream.

Only one task may send at a time (the client holds a lock); receiving runs concurrently
with sending in another task, which is safe because every ``SSLObject`` call is
synchronous and the two directions use separate BIOs.
"""

from __future__ import annotations

import ssl
from contextlib import suppress

import anyio
from anyio.abc import ByteStream

__all__ = ["TRANSPORT_ERRORS", "Wire"]

#: What a failing transport raises; each means "the connection is gone".
TRANSPORT_ERRORS = (
    OSError,
    ssl.SSLError,
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
)

#: Largest plaintext taken from the TLS layer per ``read`` call.
_READ_SIZE = 1 << 16


class Wire:
    """A byte stream plus, once :meth:`start_tls` has run, TLS over it."""

    def __init__(self, stream: ByteStream) -> None:
        self._raw = stream
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls: ssl.SSLObject | None = None
        self._eof = False

    @property
    def tls_pending(self) -> bool:
        """TLS output is waiting to be sent (e.g. an answer the layer made while reading);
        :meth:`send` with ``b""`` sends it."""
        return self._outgoing.pending > 0

    async def start_tls(self, context: ssl.SSLContext, hostname: str) -> ssl.SSLObject:
        """Handshake (certificate and hostname checked by ``context``); raises a
        :data:`TRANSPORT_ERRORS` member on failure.  The caller holds the send lock."""
        tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=hostname)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                if self._outgoing.pending:
                    await self._raw.send(self._outgoing.read())
                self._incoming.write(await self._raw.receive())
            except ssl.SSLError:
                # The alert OpenSSL wrote (e.g. bad_certificate) goes out best-effort; what
                # stays in the BIO would otherwise count as pending output forever, for a
                # TLS layer that never came up.
                alert = self._outgoing.read()
                with suppress(*TRANSPORT_ERRORS):
                    await self._raw.send(alert)
                raise
        if self._outgoing.pending:
            await self._raw.send(self._outgoing.read())
        self._tls = tls
        return tls

    async def receive(self) -> bytes:
        """Everything readable now (waiting if nothing is); ``b""`` at the end of the
        stream or when the transport failed."""
        while True:
            if self._tls is None:
                return await self._receive_raw()
            data = self._decrypt()
            if data or self._eof:
                return data
            raw = await self._receive_raw()
            if raw:
                self._incoming.write(raw)
            else:
                self._incoming.write_eof()

    def _decrypt(self) -> bytes:
        assert self._tls is not None
        chunks: list[bytes] = []
        try:
            while chunk := self._tls.read(_READ_SIZE):
                chunks.append(chunk)
            self._eof = True  # close_notify
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError:  # a ragged end or a broken record: the stream is over
            self._eof = True
        return b"".join(chunks)

    async def _receive_raw(self) -> bytes:
        try:
            return await self._raw.receive(_READ_SIZE)
        except TRANSPORT_ERRORS:
            return b""

    async def send(self, data: bytes) -> None:
        """Write ``data`` (and pending TLS output) in one transport send; raises a
        :data:`TRANSPORT_ERRORS` member when the transport failed."""
        tls = self._tls
        if tls is not None:
            if data:
                tls.write(data)
            data = self._outgoing.read()
        if data:
            await self._raw.send(data)

    async def aclose(self) -> None:
        """Close the transport at once (no TLS close_notify: the stream close, if any,
        was the goodbye)."""
        with suppress(*TRANSPORT_ERRORS):
            await self._raw.aclose()
