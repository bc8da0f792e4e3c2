"""Fuzz target: the DER reader behind tls-server-end-point channel binding.

    python fuzz/fuzz_tls_cert.py -max_total_time=60 fuzz/corpus/tls_cert

``signature_hash_name`` reads the server's certificate (peer bytes) just far enough to
find its signature algorithm.  Invariants: it never raises, it answers one of the hash
names RFC 5929 allows or ``None``, and ``server_end_point`` agrees with it.
"""

from __future__ import annotations

import hashlib
import sys

import atheris

with atheris.instrument_imports():
    from cubeproto.transports._tls import server_end_point, signature_hash_name

ALLOWED = {None, "sha224", "sha256", "sha384", "sha512"}


def test_one_input(data: bytes) -> None:
    name = signature_hash_name(data)
    if name not in ALLOWED:
        raise AssertionError(f"unexpected hash {name!r}")
    binding = server_end_point(data)
    if name is None:
        if binding is not None:
            raise AssertionError("a binding without a hash")
    elif binding != ("tls-server-end-point", hashlib.new(name, data).digest()):
        raise AssertionError("binding does not match the hash name")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
