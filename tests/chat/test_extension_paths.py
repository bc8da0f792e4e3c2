"""The extension codec's less travelled paths (issue 17, the chat-extension mutation run):
names seen for the first time (the name caches are emptied before each test, so the
checking and caching code runs rather than a cache hit), each markup character alone,
the exact refusal texts, JavaScript number texts at their edges, attachments given as a
tuple or a read-only mapping, and on the way in: namespaced names, comments, a
``dialog_id`` with comments, a ``moduleIdentifier`` that is not text.
"""

from __future__ import annotations

import types
from collections.abc import Iterator

import pytest
from lxml import etree

from cubeproto.chat import _escape, extension
from cubeproto.chat.extension import decode_extension, encode_extension, js_number
from cubeproto.errors import LocalProtocolError

OPEN = '<extraParams xmlns="jabber:client">'
CLOSE = "</extraParams>"


@pytest.fixture(autouse=True)
def empty_name_caches() -> Iterator[None]:
    """Every name in these tests is met for the first time."""
    for cache in (extension._TAGS, extension._ATTRIBUTES, extension._LOCALS):
        cache.clear()
    yield


def decode(xml: str) -> extension.DecodedParams:
    return decode_extension(etree.fromstring(xml))


# ---------------------------------------------------------------- encoding


def test_new_names_are_checked_and_give_their_tags() -> None:
    encoded = encode_extension({"photo_id": "7", "attachments": [{"type": "image", "uid": "u"}]})
    assert encoded == f'{OPEN}<photo_id>7</photo_id><attachment type="image" uid="u"/>{CLOSE}'
    assert extension._TAGS["photo_id"] == ("<photo_id>", "</photo_id>")
    assert extension._ATTRIBUTES["uid"] == ' uid="'
    # a second message with the same names takes them from the caches: same text
    assert encode_extension({"photo_id": "7"}) == f"{OPEN}<photo_id>7</photo_id>{CLOSE}"


@pytest.mark.parametrize(
    ("char", "as_text", "as_attr"),
    [("&", "&amp;", "&amp;"), ("<", "&lt;", "&lt;"), (">", "&gt;", "&gt;"), ('"', '"', "&quot;")],
)
def test_each_markup_character_alone_is_escaped(char: str, as_text: str, as_attr: str) -> None:
    value = f"a{char}b"
    assert _escape.text(value) == f"a{as_text}b"
    assert _escape.attr(value) == f"a{as_attr}b"
    encoded = encode_extension({"note": value, "attachments": [{"name": value}]})
    assert encoded == f'{OPEN}<note>a{as_text}b</note><attachment name="a{as_attr}b"/>{CLOSE}'


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"0": "x"}, "an extension key must be an XML name, not '0'"),
        ({"xmlfoo": "x"}, "names starting with 'xml' are reserved: 'xmlfoo'"),
        ({"attachments": ["x"]}, "an attachment is a mapping of attributes, not 'x'"),
        (
            {"attachments": [{"a": {"b": 1}}]},
            "attachment attribute 'a' must be a scalar, not dict",
        ),
        (
            {"attachments": [{"0": "x"}]},
            "an extension key must be an XML name, not '0'",
        ),
        (
            {"a": {"attachments": [{"id": "1"}]}},
            "extension value for 'attachments' must be a scalar or a mapping (only the "
            "top-level 'attachments' may be a list), not list",
        ),
        (
            {"items": ({"id": "1"},)},
            "extension value for 'items' must be a scalar or a mapping (only the "
            "top-level 'attachments' may be a list), not tuple",
        ),
    ],
)
def test_refusals_name_the_fault(value: dict[str, object], message: str) -> None:
    with pytest.raises(LocalProtocolError) as info:
        encode_extension(value)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_a_key_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="must be an XML name, not 1"):
        encode_extension({1: "x"})  # type: ignore[dict-item]


def test_attachments_as_a_tuple_and_mappings_that_are_not_dicts() -> None:
    item = types.MappingProxyType({"id": "1", "name": 'say "hi"'})
    encoded = encode_extension(
        {"attachments": (item, {"id": "2"}), "meta": types.MappingProxyType({"k": "v"})}
    )
    assert encoded == (
        f'{OPEN}<attachment id="1" name="say &quot;hi&quot;"/><attachment id="2"/>'
        f"<meta><k>v</k></meta>{CLOSE}"
    )


class Text(str):
    """A str subclass (an enum's value, say): written as its text."""


def test_scalars_of_every_kind() -> None:
    encoded = encode_extension(
        {
            "yes": True,
            "no": False,
            "none": None,
            "text": Text("t"),
            "nested": {"yes": True, "no": False, "n": 1.5},
            "attachments": [{"flag": True, "off": False, "sub": Text("s"), "skip": None}],
        }
    )
    assert encoded == (
        f"{OPEN}<yes>true</yes><no>false</no><none></none><text>t</text>"
        "<nested><yes>true</yes><no>false</no><n>1.5</n></nested>"
        f'<attachment flag="true" off="false" sub="s"/>{CLOSE}'
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (float("-inf"), "-Infinity"),
        (float("inf"), "Infinity"),
        (float("nan"), "NaN"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (-2e-7, "-2e-7"),
        (1.5e-7, "1.5e-7"),
        (1.5e300, "1.5e+300"),
        (-0.0, "0"),
    ],
)
def test_js_number_edges(value: float, text: str) -> None:
    assert js_number(value) == text


# ---------------------------------------------------------------- decoding


def test_names_are_matched_by_local_name() -> None:
    decoded = decode(
        "<extraParams xmlns='jabber:client' xmlns:x='urn:x'>"
        "<x:photo_id>7</x:photo_id><x:meta><x:k>v</x:k></x:meta>"
        "<attachment xmlns:p='urn:p' p:size='12' id='1'/></extraParams>"
    )
    assert decoded.extension == {
        "photo_id": "7",
        "meta": {"k": "v"},
        "attachments": [{"size": 12, "id": "1"}],
    }
    assert extension._LOCALS["{urn:x}photo_id"] == "photo_id"


def test_comments_are_skipped_and_a_dialog_id_with_comments_is_its_text() -> None:
    decoded = decode(
        "<extraParams><!-- c --><a>1</a><dialog_id>abc<!-- c --></dialog_id>"
        "<b>2<!-- c --></b><c><!-- c --><d>3</d></c></extraParams>"
    )
    assert decoded.extension == {"a": "1", "dialog_id": "abc", "b": "2", "c": {"d": "3"}}
    assert decoded.dialog_id == "abc"


def test_without_a_dialog_id_or_module_identifier_both_are_none() -> None:
    decoded = decode("<extraParams><a>1</a><b><c>2</c></b></extraParams>")
    assert decoded.dialog_id is None and decoded.module_identifier is None


def test_a_module_identifier_that_is_not_text_is_dropped_and_not_reported() -> None:
    decoded = decode("<extraParams><moduleIdentifier><x>1</x></moduleIdentifier></extraParams>")
    assert decoded.extension == {} and decoded.module_identifier is None
    decoded = decode("<extraParams><moduleIdentifier>M</moduleIdentifier></extraParams>")
    assert decoded.extension == {} and decoded.module_identifier == "M"


def test_an_empty_nested_member_is_none_and_text_beside_comments_is_kept() -> None:
    decoded = decode("<extraParams><o><e/><t>x<!-- c --></t></o></extraParams>")
    assert decoded.extension == {"o": {"e": None, "t": "x"}}


def test_an_element_holding_only_comments_is_dropped_and_decoding_goes_on() -> None:
    decoded = decode("<extraParams><a><!-- c --></a><b>1</b></extraParams>")
    assert decoded.extension == {"b": "1"}
