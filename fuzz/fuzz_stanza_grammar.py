"""Structure-aware fuzz target: ConnectyCube stanzas from a grammar, then mutated, fed to
both roles.

    python fuzz/fuzz_stanza_grammar.py -max_total_time=60 fuzz/corpus/stanza_grammar

The input drives the choices of fuzz/stanza_grammar.py (which shape, which children,
which mutation) and, when it runs out of choices, supplies the raw bytes spliced in by
the byte-level mutation; the first byte picks the chunk size.  Each input builds one
to three top-level elements, which arrive at a logged-in ClientConnection (from its
server) and a logged-in ServerConnection (from its client).  Invariants: no exception
escapes either role, and both give the same verdict (accept, or which XML-layer stream
error condition) -- the differential property of tests/core/test_role_verdicts.py, explored
by coverage instead of by hypothesis.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))

with atheris.instrument_imports():
    from role_verdicts import verdicts
    from stanza_grammar import mutate, stanza


def test_one_input(data: bytes) -> None:
    if not data:
        return
    fdp = atheris.FuzzedDataProvider(data)
    chunk = 1 + fdp.ConsumeIntInRange(0, 255) if fdp.ConsumeBool() else 1 << 16

    def pick(n: int) -> int:
        return fdp.ConsumeIntInRange(0, n - 1) if n > 1 else 0

    def raw() -> bytes:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 16))

    wire = b"".join(mutate(pick, stanza(pick), raw) for _ in range(1 + pick(3)))
    client, server = verdicts(wire, chunk)
    if client != server:
        raise AssertionError(f"client {client!r} but server {server!r} for {wire!r}")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
