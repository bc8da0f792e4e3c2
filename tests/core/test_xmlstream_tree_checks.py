"""The limit checks after lxml has built an element (``_check_tree``) and the pre-check
that decides whether a WebSocket message needs them (``_has_long_run``), issue 17: the
mutation run found their refusals' texts, the tail boundary and the pre-check's window
arithmetic unasserted.

Each refusal is checked for its condition and its exact text, through both parsers (the
stream parser and ``parse_frame``, which reach ``_check_tree`` by different paths), at
the limit (accepted) and one past it (refused).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lxml import etree

from cubeproto._xmllimits import run_threshold
from cubeproto._xmlstream import (
    XmlLimits,
    XmlStreamError,
    XmlStreamParser,
    _check_tree,
    _has_long_run,
    parse_frame,
)
from cubeproto.errors import StreamErrorCondition

HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
)
LIMITS = XmlLimits(max_text_length=10, max_attribute_length=10, max_attributes=3)


def via_stream(data: bytes) -> etree._Element:
    parser = XmlStreamParser(LIMITS)
    parser.feed(HEADER)
    (element,) = [i for i in parser.feed(data) if isinstance(i, etree._Element)]
    return element


def via_frame(data: bytes) -> etree._Element:
    return parse_frame(data, LIMITS)


PARSERS: list[Callable[[bytes], etree._Element]] = [via_stream, via_frame]


def refused(parse: Callable[[bytes], etree._Element], data: bytes) -> XmlStreamError:
    with pytest.raises(XmlStreamError) as info:
        parse(data)
    return info.value


def message(inner: bytes = b"", attrs: bytes = b"") -> bytes:
    return b"<message xmlns='jabber:client'" + attrs + b">" + inner + b"</message>"


@pytest.mark.parametrize("parse", PARSERS)
def test_text_at_the_limit_passes_one_past_is_refused(
    parse: Callable[[bytes], etree._Element],
) -> None:
    assert parse(message(b"<body>" + b"a" * 10 + b"</body>")) is not None
    error = refused(parse, message(b"<body>" + b"a" * 11 + b"</body>"))
    assert error.condition is StreamErrorCondition.POLICY_VIOLATION
    assert error.text == "text longer than 10 characters"


@pytest.mark.parametrize("parse", PARSERS)
def test_a_tail_at_the_limit_passes_one_past_is_refused(
    parse: Callable[[bytes], etree._Element],
) -> None:
    assert parse(message(b"<body/>" + b"a" * 10)) is not None
    error = refused(parse, message(b"<body/>" + b"a" * 11))
    assert error.condition is StreamErrorCondition.POLICY_VIOLATION
    assert error.text == "text longer than 10 characters"


@pytest.mark.parametrize("parse", PARSERS)
def test_attribute_count_and_length_refusals_say_which_limit(
    parse: Callable[[bytes], etree._Element],
) -> None:
    assert parse(message(attrs=b" a='1' b='2' c='3'")) is not None
    error = refused(parse, message(attrs=b" a='1' b='2' c='3' d='4'"))
    assert error.condition is StreamErrorCondition.POLICY_VIOLATION
    assert error.text == "more than 3 attributes on <{jabber:client}message>"
    assert parse(message(attrs=b" a='" + b"x" * 10 + b"'")) is not None
    error = refused(parse, message(attrs=b" a='" + b"x" * 11 + b"'"))
    assert error.condition is StreamErrorCondition.POLICY_VIOLATION
    assert error.text == "attribute value longer than 10 characters"


def test_a_text_over_the_limit_at_the_end_of_a_frame_is_found() -> None:
    """The pre-check's last window ends exactly at the end of the message: a run there is
    seen (the threshold is 11 here; windows of 6 bytes)."""
    assert run_threshold(LIMITS) == 11
    data = b"<a xmlns='jabber:client'>" + b"b" * 11  # not closed: the pre-check alone
    assert _has_long_run(data, 11)


# ---------------------------------------------------------------- defensive branches
#
# lxml refuses an undeclared prefix and the byte scan refuses comments before a tree is
# built, so no input to the parsers reaches these branches today; they guard against a
# tree built otherwise (a recovering parser keeps ``p:name`` and comments), and are
# checked on such trees.

RECOVERING = etree.XMLParser(recover=True)


def test_a_comment_in_the_tree_is_restricted_xml() -> None:
    top = etree.fromstring(b"<message><body>x<!-- c --></body></message>", RECOVERING)
    with pytest.raises(XmlStreamError) as info:
        _check_tree(top, LIMITS, False)
    assert info.value.condition is StreamErrorCondition.RESTRICTED_XML
    assert info.value.text == "comment or processing instruction"


def test_undeclared_prefixes_in_the_tree_are_bad_namespace_prefix() -> None:
    element = etree.fromstring(b"<message><p:body/></message>", RECOVERING)
    assert element[0].tag == "p:body"
    _check_tree(element, LIMITS, False)  # only checked when asked to
    with pytest.raises(XmlStreamError) as info:
        _check_tree(element, LIMITS, True)
    assert info.value.condition is StreamErrorCondition.BAD_NAMESPACE_PREFIX
    assert info.value.text == "undeclared namespace prefix: p:body"
    attribute = etree.fromstring(b"<message><body q:lang='en'/></message>", RECOVERING)
    assert dict(attribute[0].attrib) == {"q:lang": "en"}
    _check_tree(attribute, LIMITS, False)
    with pytest.raises(XmlStreamError) as info:
        _check_tree(attribute, LIMITS, True)
    assert info.value.condition is StreamErrorCondition.BAD_NAMESPACE_PREFIX
    assert info.value.text == "undeclared namespace prefix: 'q:lang'"
    declared = etree.fromstring(b"<message xmlns:p='urn:x'><p:body p:a='1'/></message>")
    _check_tree(declared, LIMITS, True)  # a declared prefix is a namespace: passes


# ---------------------------------------------------------------- _has_long_run


def model(buf: bytes, threshold: int) -> bool:
    """The documented algorithm written out: is any aligned window of
    ``ceil(threshold / 2)`` bytes that fits in ``buf`` free of ``<``?"""
    step = -(-threshold // 2)
    return any(
        b"<" not in buf[start : start + step] for start in range(0, len(buf) - step + 1, step)
    )


def longest_run(buf: bytes) -> int:
    return max(len(part) for part in buf.split(b"<"))


BUFFERS = [
    b"",
    b"<" * 40,
    (b"<" + b"a" * 4) * 8,  # runs of 4, '<' every 5 bytes
    (b"<" + b"a" * 9) * 4,  # runs of 9
    b"<" * 6 + b"a" * 9,  # a run of 9 that ends the buffer at a window's end
    b"<" * 5 + b"a" * 9 + b"<",
    b"a" * 10 + b"<",
    b"aaaaa<" + b"<" * 5,
    b"a" * 11,
    b"<a" * 20,
]


@pytest.mark.parametrize("threshold", [2, 3, 9, 10, 11])
@pytest.mark.parametrize("buf", BUFFERS)
def test_has_long_run_is_the_aligned_window_check(buf: bytes, threshold: int) -> None:
    found = _has_long_run(buf, threshold)
    assert found == model(buf, threshold)
    if longest_run(buf) >= threshold:
        assert found  # the guarantee the tree walk relies on


@pytest.mark.parametrize("threshold", [2, 3, 9, 10, 11])
def test_every_run_of_the_threshold_is_found_wherever_it_is(threshold: int) -> None:
    for before in range(0, 2 * threshold):
        for after in range(0, 3):
            buf = b"<" * before + b"x" * threshold + b"<" * after
            assert _has_long_run(buf, threshold), (before, after)
            shorter = b"<" * before + b"x" * (threshold // 2 - 1) + b"<" * after
            assert not _has_long_run(shorter, threshold) or threshold // 2 - 1 <= 0
