"""Releasing lxml's parser context while a stream is idle (XmlStreamParser.release_idle)
changes nothing observable: the same elements, namespaces and errors, however the stream is
split and wherever releases happen."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cubeproto._xmlstream import XmlStreamError, XmlStreamParser, element_bytes

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import itertools

from stream_gen import generate_stream, stream_header

STREAM = generate_stream(300, seed=7)


def run(chunks: list[bytes], release_after: set[int]) -> tuple[list[object], object, int]:
    parser = XmlStreamParser()
    items: list[object] = []
    error = None
    released = 0
    try:
        for index, chunk in enumerate(chunks):
            for item in parser.feed(chunk):
                items.append(element_bytes(item) if hasattr(item, "tag") else item)
            if index in release_after:
                released += parser.release_idle()
    except XmlStreamError as exc:
        error = exc.condition
    return items, error, released


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=0), max_size=40),
    st.sets(st.integers(min_value=0, max_value=45)),
)
def test_release_anywhere_changes_nothing(cuts: list[int], release_after: set[int]) -> None:
    chunks = [stream_header(), *split(STREAM, cuts), b"</stream:stream>"]
    plain = run(chunks, set())
    released = run(chunks, release_after)
    assert released[:2] == plain[:2]


def test_release_only_between_elements() -> None:
    parser = XmlStreamParser()
    assert parser.release_idle() is False  # before the header
    parser.feed(stream_header())
    parser.feed(b"<message><body>half")
    assert parser.release_idle() is False  # inside an element
    (message,) = parser.feed(b"</body></message>")
    assert parser.release_idle() is True
    assert parser.release_idle() is False  # already released
    (again,) = parser.feed(b"<message type='chat'><body>next</body></message>")
    assert again.tag == message.tag == "{jabber:client}message"
    assert again.findtext("{jabber:client}body") == "next"


def test_errors_after_a_release_are_still_detected() -> None:
    parser = XmlStreamParser()
    parser.feed(stream_header())
    parser.feed(b"<presence/>")
    assert parser.release_idle()
    try:
        parser.feed(b"<a></b>")
    except XmlStreamError as exc:
        assert exc.condition.value == "not-well-formed"
    else:  # pragma: no cover
        raise AssertionError("a mismatched tag after a release was accepted")
