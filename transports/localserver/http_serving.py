"""The local server's REST listener: HTTP/1.1 (h11) on one accepted connection.

Requests are read and answered one after another (keep-alive) until the client closes or
asks to; :class:`~.rest.RestApi` gives each answer.  Every wait has a deadline
(``ServerLimits.http_timeout``): for a request's first byte, for its whole head, for each
read of its body and for each slice of a response written, so a silent or stalled client
costs one task until then and nothing more.  A body is refused with 413 as soon as it is
known to be too large for its target (a declared length, or a chunked body growing past
the limit), before the rest is read; a head over ``MAX_HEAD_BYTES`` is a 431 and a
malformed one a 400.  A bug met while answering one request is a 500 and a log record, not
the end of the listener.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import anyio
import h11
from anyio.abc import ByteStream

from ._network import NETWORK_ERRORS, READ_BYTES, describe
from .rest import MAX_HEAD_BYTES, Response, RestApi

__all__ = ["serve_http"]

#: Bytes of a response body written under one ``http_timeout``.
_HTTP_SLICE = 256 * 1024

log = logging.getLogger("cubeproto.localserver")

_INTERNAL_ERROR = Response(
    500,
    b'{"errors":{"base":["Internal server error"]}}',
    [("Content-Type", "application/json"), ("Connection", "close")],
)


async def serve_http(
    api: RestApi, stream: ByteStream, peer: str, timeout: float, flush: Callable[[], None]
) -> None:
    """Answer the requests of one connection from ``peer`` with ``api``, each wait
    within ``timeout`` seconds; ``flush`` runs after each response (the server writes
    what the request made the chat side send)."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
    try:
        while True:
            request, body, error = await _read_request(api, conn, stream, timeout)
            if error is not None:
                response = error
            elif request is None:
                return
            else:
                response = _answer(api, request, body, peer)
            await _send_response(conn, stream, response, timeout)
            flush()
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()
    except TimeoutError:
        log.info("deadline: HTTP connection from %s silent or stalled for %s s", peer, timeout)
    except (*NETWORK_ERRORS, h11.ProtocolError) as exc:
        log.debug("HTTP connection from %s ended: %s", peer, describe(exc))


def _answer(api: RestApi, request: h11.Request, body: bytes, peer: str) -> Response:
    headers = {k.decode().lower(): v.decode("latin-1") for k, v in request.headers}
    method = request.method.decode()
    target = request.target.decode("latin-1")
    try:
        response = api.handle(method, target, headers, body)
    except Exception:  # a bug in one request: answered 500, logged
        log.exception("REST %s %s from %s failed", method, target, peer)
        response = _INTERNAL_ERROR
    log.debug("REST %s %s from %s: %d", method, target, peer, response.status)
    return response


async def _read_request(
    api: RestApi, conn: h11.Connection, stream: ByteStream, timeout: float
) -> tuple[h11.Request | None, bytes, Response | None]:
    """The next request, within the deadlines: ``timeout`` for the wait for its first
    byte, for its whole head, and for each read of its body."""
    request: h11.Request | None = None
    chunks: list[bytes] = []
    size = limit = 0
    head_deadline = math.inf
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:  # a head over 64 KiB (431) or malformed
            return None, b"", api.bad_head(exc.error_status_hint, str(exc))
        if event is h11.NEED_DATA:
            deadline = anyio.current_time() + timeout
            if request is None:
                deadline = min(deadline, head_deadline)
            with anyio.fail_after(max(0.0, deadline - anyio.current_time())):
                try:
                    data = await stream.receive(READ_BYTES)
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    data = b""
            if request is None and head_deadline == math.inf:
                head_deadline = anyio.current_time() + timeout
            conn.receive_data(data)
            continue
        if isinstance(event, h11.Request):
            # The body's limit depends on the target (rest/limits.py's MAX_* constants): a
            # declared length over it, or a chunked body growing past it, is refused
            # with 413 before the rest is read.
            request = event
            target = event.target.decode("latin-1")
            limit = api.body_limit(target)
            length = dict(event.headers).get(b"content-length", b"0")
            if length.isdigit() and int(length) > limit:
                return request, b"", api.too_large(target)
        elif isinstance(event, h11.Data):
            size += len(event.data)
            if size > limit and request is not None:
                return request, b"", api.too_large(request.target.decode("latin-1"))
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            return request, b"".join(chunks), None
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None, b"", None


async def _send_response(
    conn: h11.Connection, stream: ByteStream, response: Response, timeout: float
) -> None:
    body = response.body
    if response.file is not None:
        body = await anyio.Path(response.file).read_bytes()
    headers = [*response.headers, ("Content-Length", str(len(body)))]
    # Each piece within the deadline: a slow download is fine, a stalled one is not.
    with anyio.fail_after(timeout):
        await stream.send(conn.send(h11.Response(status_code=response.status, headers=headers)))
    for start in range(0, len(body), _HTTP_SLICE):
        with anyio.fail_after(timeout):
            await stream.send(conn.send(h11.Data(data=body[start : start + _HTTP_SLICE])))
    with anyio.fail_after(timeout):
        await stream.send(conn.send(h11.EndOfMessage()))
