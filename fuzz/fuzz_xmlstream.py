"""Fuzz target: the XML stream parser and RFC 7395 frames fed arbitrary bytes.

    python fuzz/fuzz_xmlstream.py -max_total_time=60 fuzz/corpus/xmlstream

The first input byte picks the chunk size (1-64 bytes), the second picks default or tiny
limits; the rest follows a valid stream header.  Invariants:

* only XmlStreamError escapes ``feed`` and ``parse_frame`` (anything else crashes);
* a parser that raised raises again on the next feed;
* chunking does not change content: the chunked run and a single ``feed`` of the same
  bytes never give different items (one list is a prefix of the other), and when neither
  fails they give the same items.  When a fault is *reported* may depend on chunking for
  malformed input: libxml2 reports some faults only once it has seen more bytes (and names
  a different one of two faults), and the byte budget of an element whose bytes are not
  well-formed may be exceeded by up to one slice before it is noticed.  For well-formed
  input chunking never matters (tests/core/test_xmlstream.py checks that, limits included).
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from lxml import etree

    from cubeproto._xmlstream import (
        XmlLimits,
        XmlStreamError,
        XmlStreamParser,
        element_bytes,
        parse_frame,
    )

HEADER = (
    b"<?xml version='1.0'?>"
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
    b" from='chat.connectycube.com' id='f' version='1.0'>"
)
TINY = XmlLimits(
    max_stanza_bytes=300,
    max_depth=4,
    max_attributes=3,
    max_attribute_length=20,
    max_text_length=30,
    max_header_bytes=200,
)


def run(chunks: list[bytes], limits: XmlLimits) -> tuple[list[object], object]:
    parser = XmlStreamParser(limits)
    items: list[object] = []
    try:
        for chunk in chunks:
            items += parser.feed(chunk)
    except XmlStreamError as exc:
        items += exc.items
        try:
            parser.feed(b" ")
        except XmlStreamError:
            pass
        else:
            raise AssertionError("a dead parser accepted more data") from None
        return [_show(i) for i in items], exc.condition
    return [_show(i) for i in items], None


def _show(item: object) -> object:
    return element_bytes(item) if isinstance(item, etree._Element) else item


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    size = 1 + data[0] % 64
    limits = TINY if data[1] & 1 else XmlLimits()
    payload = data[2:]
    stream = HEADER + payload
    chunked = run([stream[i : i + size] for i in range(0, len(stream), size)], limits)
    whole = run([stream], limits)
    shorter = min(len(chunked[0]), len(whole[0]))
    if chunked[0][:shorter] != whole[0][:shorter] or (
        chunked[1] is None and whole[1] is None and chunked[0] != whole[0]
    ):
        raise AssertionError(f"chunking changed the outcome:\n{chunked}\n{whole}")
    try:
        element = parse_frame(payload, limits)
    except XmlStreamError:
        return
    element_bytes(element)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
