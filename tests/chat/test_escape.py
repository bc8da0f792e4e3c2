"""The outbound escaping fast path (cubeproto.chat._escape) is the general escaping
(cubeproto._xmlstream.escape_text/escape_attr) for every string, refusals included."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cubeproto._xmlstream import escape_attr, escape_text
from cubeproto.chat._escape import attr, plain, text
from cubeproto.chat.extension import _encode_mapping, encode_extension_children
from cubeproto.errors import LocalProtocolError

#: Characters where the paths could differ: markup, the whitespace escaped in attributes,
#: characters XML 1.0 forbids (controls, surrogates, U+FFFE/U+FFFF), and allowed but
#: non-printable ones (DEL, NEL, soft hyphen, line separator).
_EDGES = "&<>\"' \t\n\r\x00\x08\x0b\x1f\x7f\x85\xa0\xad\u2028\ud800\udfff\ufffe\uffff"
_ANY = st.characters(exclude_categories=())  # surrogates included
strings = st.text(st.one_of(st.sampled_from(_EDGES), _ANY))


def _outcome(escape: Callable[[str], str], value: str) -> tuple[str, str]:
    try:
        return "ok", escape(value)
    except LocalProtocolError as exc:
        return "refused", str(exc)


@given(strings)
@example("message number 1 with <markup> & 'quotes'")
@example("a\rb")
@example("\ud800")
def test_text_is_escape_text(value: str) -> None:
    assert _outcome(text, value) == _outcome(escape_text, value)


@given(strings)
@example('say "hi" & <wave>')
@example("tab\there")
def test_attr_is_escape_attr(value: str) -> None:
    assert _outcome(attr, value) == _outcome(escape_attr, value)


@given(strings)
def test_a_plain_value_is_unchanged_by_either_escape(value: str) -> None:
    if plain(value):
        assert escape_text(value) == value and escape_attr(value) == value


@given(strings, strings)
def test_plain_checks_a_concatenation_part_by_part(a: str, b: str) -> None:
    assert plain(a + b) == (plain(a) and plain(b))


@pytest.mark.parametrize("value", ["", "Bob", "6507f0a1c2b3d4e5f6a7b8ca", "It's π ≈ 3.14 😀"])
def test_ordinary_values_are_plain(value: str) -> None:
    assert plain(value)


@pytest.mark.parametrize("value", ["a&b", "<", ">", '"', "\t", "\n", "\r", "\x00", "\ud800"])
def test_values_needing_work_are_not_plain(value: str) -> None:
    assert not plain(value)


_KEYS = st.sampled_from(["a", "b", "user", "name", "x1"])
_SCALARS = st.one_of(strings, st.integers(), st.booleans(), st.none(), st.floats())
_ATTACHMENTS = st.lists(st.dictionaries(_KEYS, _SCALARS, max_size=4), max_size=3)
_EXTENSIONS = st.recursive(
    st.dictionaries(_KEYS, _SCALARS, max_size=4),
    lambda inner: st.dictionaries(_KEYS, st.one_of(_SCALARS, inner), max_size=4),
    max_leaves=12,
)


def _encoded(encode: Callable[[list[str]], None]) -> tuple[str, str]:
    out = ["<kept/>"]
    try:
        encode(out)
    except LocalProtocolError as exc:
        return "refused", str(exc)
    assert out[0] == "<kept/>"
    return "ok", "".join(out[1:])


@given(_EXTENSIONS, st.one_of(st.none(), _ATTACHMENTS))
def test_extension_checked_at_once_equals_escaping_each_value(
    extension: dict[str, Any], attachments: list[dict[str, Any]] | None
) -> None:
    """encode_extension_children writes values unescaped after one plainness check over all
    of them; the result (or refusal) is the escaping pass's, value by value."""
    if attachments is not None:
        extension = {**extension, "attachments": attachments}
    fast = _encoded(lambda out: encode_extension_children(extension, out))
    assert fast == _encoded(lambda out: _encode_mapping(extension, out, 0, None))
