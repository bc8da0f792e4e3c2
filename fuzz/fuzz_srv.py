"""Fuzz target: reading a nameserver's answer to our DNS SRV query (cubeproto.srv).

    python fuzz/fuzz_srv.py -max_total_time=60 fuzz/corpus/srv

A datagram from the network (any host can send one to the lookup's socket).  The query
id is taken from the input's first two bytes, so that the reader gets past the id check
and into the records.  Invariants: ``SrvQuery.answer`` raises nothing but
``DnsAnswerError``; what it accepts has ports of 16 bits and targets of at most 255
characters; the lookup (``SrvLookup.receive``) raises nothing, and a datagram it settles
on leaves an outcome whose endpoints come from the answer's records.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from cubeproto.config import Transport
    from cubeproto.srv import DnsAnswerError, SrvLookup, SrvQuery

NAME = "_xmpp-client._tcp.example.test"


def test_one_input(data: bytes) -> None:
    query_id = int.from_bytes(data[:2].ljust(2, b"\0"), "big")
    query = SrvQuery(NAME, query_id)
    try:
        answer = query.answer(data)
    except DnsAnswerError:
        answer = None
    if answer is not None:
        for record in answer.records:
            if not 0 <= record.port <= 0xFFFF or len(record.target) > 255:
                raise AssertionError(f"impossible record {record!r}")
    ids = iter([data[:2].ljust(2, b"\0")])
    lookup = SrvLookup(
        "example.test",
        Transport.TCP,
        [("127.0.0.1", 53)],
        entropy=lambda n: next(ids, bytes(n)),
        rounds=1,
    )
    if lookup.next_query() is None:
        raise AssertionError("no first query")
    if lookup.receive(data) and lookup.outcome is not None and lookup.outcome.endpoints:
        assert answer is not None
        targets = {(r.target, r.port) for r in answer.records}
        for endpoint in lookup.outcome.endpoints:
            if (endpoint.host, endpoint.port) not in targets:
                raise AssertionError(f"{endpoint} is not among the answer's records")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
