"""Fuzz the REST response path: the h11 response reader and every body parser.

Invariant: whatever bytes arrive, only typed errors (``CubeProtoError`` subclasses) come out
of ``HttpConnection.receive_*``/``next_event`` and of the ``parse_*`` functions; after an
error the connection reports itself broken and not reusable.

Run: ``python fuzz/fuzz_rest_responses.py -max_total_time=60 fuzz/corpus/rest_responses``.
Input layout: byte 0 picks the parser, byte 1 the feed step size, the rest is an HTTP response.
"""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports():
    from cubeproto.errors import CubeProtoError
    from cubeproto.rest import responses
    from cubeproto.rest.http import NEED_DATA, HttpConnection, ResponseEnd

PARSERS = [getattr(responses, n) for n in responses.__all__ if n.startswith("parse_")]


def one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    parser = PARSERS[data[0] % len(PARSERS)]
    step = 1 + data[1] % 64
    raw = data[2:]
    conn = HttpConnection(max_head=4096)
    conn.send_request(method="GET", target="/x.json", host="api", content_length=0)
    conn.end_request()
    events = []
    try:
        for i in range(0, len(raw), step):
            conn.receive_data(raw[i : i + step])
            while (event := conn.next_event()) is not NEED_DATA:
                events.append(event)
                if isinstance(event, ResponseEnd):
                    break
            if events and isinstance(events[-1], ResponseEnd):
                break
        else:
            conn.receive_eof()
            while (event := conn.next_event()) is not NEED_DATA:
                events.append(event)
                if isinstance(event, ResponseEnd):
                    break
        response = conn.collect(events)
    except CubeProtoError:
        assert conn.broken and not conn.reusable()
        response = None
    if response is not None:
        with contextlib.suppress(CubeProtoError):
            parser(response.status, response.headers, response.body)
    # the body parser alone, on the raw bytes, with a status from the input
    with contextlib.suppress(CubeProtoError):
        parser(200 + data[1] % 300, [], raw)


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
