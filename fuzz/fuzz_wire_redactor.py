"""Fuzz target: the wire trace's credential redactor (cubeproto.diagnostics.WireRedactor).

    python fuzz/fuzz_wire_redactor.py -max_total_time=60 fuzz/corpus/wire_redactor

The redactor reads every byte a peer sends when the wire trace is on.  Invariants: it
raises nothing on any input; the trace does not depend on how the stream is cut (the
input's first byte chooses the cut points); the content of a credential element we
planted after the input (terminated by its end tag) never appears in the trace.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from cubeproto.diagnostics import WireRedactor

SECRET = b"S3cr3t-P4ss"
PLANTED = b"><auth mechanism='PLAIN'>" + SECRET + b"</auth>"


def trace(pieces: list[bytes]) -> str:
    redactor = WireRedactor()
    return "".join(redactor.feed(piece) for piece in pieces) + redactor.flush()


def test_one_input(data: bytes) -> None:
    if not data:
        return
    step = data[0] % 7 + 1
    body = data[1:]
    whole = trace([body])
    assert trace([body[i : i + step] for i in range(0, len(body), step)]) == whole
    # After whatever came before, a complete start tag restarts the recognition:
    # "><auth ...>" ends any open tag, but not a credential element left open before it
    # (its content is hidden anyway), nor a comment or CDATA section (not tracked).
    if b"<!" in body or b"<?" in body:
        return
    planted = trace([body + PLANTED])
    if SECRET.decode() in planted:
        assert SECRET.decode() in body.decode("utf-8", "replace")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
