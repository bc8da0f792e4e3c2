"""A sans-IO HTTP/1.1 client connection on h11, with typed errors and keep-alive decisions.

:class:`HttpConnection` wraps one ``h11.Connection`` (one TCP/TLS connection) for the client
role.  The adapter moves bytes; this object says what they mean:

* ``send_request(...)`` / ``send_body(data)`` / ``end_request()`` return bytes to write;
* ``receive_data(data)`` and ``receive_eof()`` feed what was read;
* ``next_event()`` returns :class:`ResponseHead`, :class:`BodyChunk`, :class:`ResponseEnd`
  or :data:`NEED_DATA`, and **raises** a typed :class:`~cubeproto.rest.errors.HttpError` when
  the response is broken: :class:`~cubeproto.rest.errors.MalformedResponse` for bytes that
  are not HTTP (a bad Content-Length included), :class:`~cubeproto.rest.errors.IncompleteResponse`
  when the peer closed or reset before the end.  No h11 exception escapes.
* after :class:`ResponseEnd`, :meth:`reusable` says whether the connection may carry the next
  request (both sides DONE, keep-alive, no stray bytes); :meth:`start_next_cycle` resets it.
  After any error :attr:`broken` is true and the adapter must close the connection.

:func:`read_response` is the common "whole body in memory" helper for REST calls, with a
size limit; downloads use ``next_event`` to stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import h11

from ..errors import LocalProtocolError
from .errors import IncompleteResponse, MalformedResponse

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_HEAD",
    "NEED_DATA",
    "BodyChunk",
    "HttpConnection",
    "HttpResponse",
    "NeedData",
    "ResponseEnd",
    "ResponseHead",
]

#: Largest response head accepted (h11's default is 16 KiB; we allow 64 KiB of headers).
DEFAULT_MAX_HEAD: Final = 64 * 1024
#: Largest body :meth:`HttpConnection.collect` keeps in memory (REST JSON is far smaller; blob
#: downloads stream instead).
DEFAULT_MAX_BODY: Final = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseHead:
    """Status line and headers (names lowercased, as h11 gives them)."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key == lowered:
                return value
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class BodyChunk:
    """A piece of the response body."""

    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseEnd:
    """The response is complete."""


class NeedData:
    """Sentinel type: read more bytes (or EOF) and call ``receive_*`` again."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = NeedData()


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpResponse:
    """A whole response: status, headers (lowercase names), body."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key == lowered:
                return value
        return None


class HttpConnection:
    """One client-side HTTP/1.1 connection (sans-IO)."""

    def __init__(self, *, max_head: int = DEFAULT_MAX_HEAD) -> None:
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=max_head)
        self._received = 0
        self._head: ResponseHead | None = None
        self._eof = False
        self.broken = False
        self.requests_sent = 0

    # -- sending -------------------------------------------------------------------------

    def _send(self, event: h11.Event) -> bytes:
        if self.broken:
            raise LocalProtocolError("this HTTP connection failed earlier; open a new one")
        try:
            data = self._h11.send(event)
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(f"HTTP request not sendable: {exc}") from exc
        return data or b""

    def send_request(
        self,
        *,
        method: str,
        target: str,
        host: str,
        headers: tuple[tuple[str, str], ...] | list[tuple[str, str]] = (),
        content_length: int | None,
    ) -> bytes:
        """The request head.  ``content_length=None`` means a chunked body (streaming of an
        unknown length); 0 means no body.  Host and Content-Length are added here."""
        all_headers: list[tuple[str, str]] = [("Host", host)]
        all_headers.extend(
            (k, v)
            for k, v in headers
            if k.lower() not in ("host", "content-length", "transfer-encoding")
        )
        if content_length is None:
            all_headers.append(("Transfer-Encoding", "chunked"))
        elif content_length or method in ("POST", "PUT", "PATCH"):
            all_headers.append(("Content-Length", str(content_length)))
        self._head = None
        self._received = 0
        self.requests_sent += 1
        return self._send(h11.Request(method=method, target=target, headers=all_headers))

    def send_body(self, data: bytes) -> bytes:
        """Bytes for a piece of the request body (empty input gives empty output)."""
        if not data:
            return b""
        return self._send(h11.Data(data=data))

    def end_request(self) -> bytes:
        """Bytes that end the request body (the last chunk, for a chunked body)."""
        return self._send(h11.EndOfMessage())

    # -- receiving -----------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the socket (non-empty)."""
        if data:
            self._feed(data)

    def receive_eof(self) -> None:
        """The peer closed its side (a reset is reported the same way)."""
        if not self._eof:
            self._eof = True
            self._feed(b"")

    def _feed(self, data: bytes) -> None:
        try:
            self._h11.receive_data(data)
        except RuntimeError as exc:  # h11 refuses data after EOF
            self.broken = True
            raise MalformedResponse(f"data after end of stream: {exc}") from exc

    def next_event(self) -> ResponseHead | BodyChunk | ResponseEnd | NeedData:
        """The next piece of the response; raises a typed HttpError if it is broken."""
        if self.broken:
            raise MalformedResponse("connection already failed")
        try:
            while True:
                event = self._h11.next_event()
                if event is h11.NEED_DATA:
                    return NEED_DATA
                if isinstance(event, h11.InformationalResponse):
                    continue  # 100 Continue and friends carry nothing for us
                if isinstance(event, h11.Response):
                    self._head = ResponseHead(
                        status=event.status_code,
                        reason=event.reason.decode("latin-1"),
                        headers=tuple(
                            (k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers
                        ),
                    )
                    return self._head
                if isinstance(event, h11.Data):
                    self._received += len(event.data)
                    return BodyChunk(data=bytes(event.data))
                if isinstance(event, h11.EndOfMessage):
                    return ResponseEnd()
                if isinstance(event, h11.ConnectionClosed):
                    self.broken = True
                    where = "in the body" if self._head is not None else "before the response head"
                    raise IncompleteResponse(
                        f"connection closed {where} after {self._received} body bytes",
                        received=self._received,
                    )
                # h11.PAUSED: a complete response followed by more bytes; report as malformed.
                self.broken = True
                raise MalformedResponse("unexpected bytes after the response")
        except h11.RemoteProtocolError as exc:
            self.broken = True
            if self._eof and ("closed" in str(exc) or "ConnectionClosed" in str(exc)):
                raise IncompleteResponse(
                    f"connection closed before the response was complete: {exc}",
                    received=self._received,
                ) from exc
            raise MalformedResponse(f"invalid HTTP response: {exc}") from exc

    # -- keep-alive ----------------------------------------------------------------------

    def reusable(self) -> bool:
        """True if the last exchange ended cleanly and the connection may carry another."""
        return (
            not self.broken
            and self._h11.our_state is h11.DONE
            and self._h11.their_state is h11.DONE
            and not self._h11.trailing_data[0]
        )

    def start_next_cycle(self) -> None:
        """Prepare for the next request on this connection (only when :meth:`reusable`)."""
        if not self.reusable():
            raise LocalProtocolError("connection is not reusable")
        self._h11.start_next_cycle()

    def abort(self) -> None:
        """Mark the connection broken (the adapter hit a timeout or I/O error)."""
        self.broken = True

    def collect(
        self,
        events: list[ResponseHead | BodyChunk | ResponseEnd],
        *,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> HttpResponse | None:
        """Fold drained events into a whole response once the end is among them, else None.

        Raises MalformedResponse when the body exceeds ``max_body``.
        """
        head: ResponseHead | None = None
        chunks: list[bytes] = []
        size = 0
        for event in events:
            if isinstance(event, ResponseHead):
                head = event
            elif isinstance(event, BodyChunk):
                size += len(event.data)
                if size > max_body:
                    self.broken = True
                    raise MalformedResponse(f"response body larger than {max_body} bytes")
                chunks.append(event.data)
            elif head is not None:
                return HttpResponse(
                    status=head.status,
                    reason=head.reason,
                    headers=head.headers,
                    body=b"".join(chunks),
                )
        return None
