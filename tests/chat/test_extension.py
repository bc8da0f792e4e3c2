"""extraParams encoding/decoding exactly as the official JS SDK 6.1.2 does."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cubeproto.chat import decode_extension, encode_extension
from cubeproto.chat.extension import js_number
from cubeproto.errors import LocalProtocolError

from .helpers import parse

SDK_EXAMPLE = (
    '<extraParams xmlns="jabber:client">'
    "<save_to_history>1</save_to_history>"
    "<dialog_id>6507f0a1c2b3d4e5f6a7b8ca</dialog_id>"
    "<user><name>Bob</name><meta><age>3</age></meta></user>"
    '<attachment uid="7cafb6030d3e4348ba49cab24c0cf10800" id="421517" type="photo" size="11"/>'
    '<attachment latitude="64.7964274" longitude="-23.7391878" type="place"/>'
    "</extraParams>"
)


def test_decodes_the_reference_example() -> None:
    params = decode_extension(parse(SDK_EXAMPLE))
    assert params.dialog_id == "6507f0a1c2b3d4e5f6a7b8ca"
    assert params.extension == {
        "save_to_history": "1",
        "dialog_id": "6507f0a1c2b3d4e5f6a7b8ca",
        "user": {"name": "Bob", "meta": {"age": "3"}},
        "attachments": [
            {
                "uid": "7cafb6030d3e4348ba49cab24c0cf10800",
                "id": "421517",
                "type": "photo",
                "size": 11,
            },
            {"latitude": "64.7964274", "longitude": "-23.7391878", "type": "place"},
        ],
    }


def test_encodes_the_reference_example() -> None:
    extension = {
        "save_to_history": 1,
        "dialog_id": "6507f0a1c2b3d4e5f6a7b8ca",
        "user": {"name": "Bob", "meta": {"age": 3}},
        "attachments": [
            {
                "uid": "7cafb6030d3e4348ba49cab24c0cf10800",
                "id": 421517,
                "type": "photo",
                "size": 11,
            },
            {"latitude": "64.7964274", "longitude": "-23.7391878", "type": "place"},
        ],
    }
    assert encode_extension(extension) == SDK_EXAMPLE


def test_sdk_quirks_on_decode() -> None:
    params = decode_extension(
        parse(
            '<extraParams xmlns="jabber:client"><moduleIdentifier>SystemNotifications'
            "</moduleIdentifier><empty/><empty2></empty2><outer><inner/></outer>"
            '<attachment size="x" type="file"/>'
            "\n  <pretty>\n    <a>1</a>\n  </pretty></extraParams>"
        )
    )
    assert params.module_identifier == "SystemNotifications"
    assert params.extension == {
        "outer": {"inner": None},  # nested empties are the SDK's null; top-level ones vanish
        "pretty": {"a": "1"},
        "attachments": [{"size": "x", "type": "file"}],
    }


def test_sdk_scalars_on_encode() -> None:
    xml = encode_extension({"t": True, "f": False, "n": None, "i": 42, "x": 1.0, "y": 1.5e-7})
    assert xml == (
        '<extraParams xmlns="jabber:client"><t>true</t><f>false</f><n></n><i>42</i><x>1</x>'
        "<y>1.5e-7</y></extraParams>"
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"0": "a"},
        {"a b": "x"},
        {"a:b": "x"},
        {"xmlfoo": "x"},
        {"tags": ["a", "b"]},
        {"attachments": [{"nested": {"a": 1}}]},
        {"attachments": ["x"]},
        {"o": {"attachments": [{"a": "1"}]}},
        {"s": "\x00"},
        {"s": object()},
    ],
)
def test_unsendable_extensions_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(LocalProtocolError):
        encode_extension(bad)


def test_js_number() -> None:
    assert [js_number(v) for v in (0, -3, 2.5, 1e21, 1e16, float("nan"), float("inf"), 1e-7)] == [
        "0",
        "-3",
        "2.5",
        "1e+21",
        "10000000000000000",
        "NaN",
        "Infinity",
        "1e-7",
    ]


# --- round trip -------------------------------------------------------------------------

_START = st.sampled_from("abcdefghijklmnopqrstuvwyzABCDEFGHIJKLMNOPQRSTUVWXYZ_éΩ中")
_NAME = st.builds(
    lambda a, b: a + b, _START, st.text(alphabet="abcxyz0123456789-._éΩ", max_size=8)
).filter(lambda n: not n.lower().startswith("xml"))
_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=40,
).filter(
    lambda s: (
        all(c in "\t\n\r" or ord(c) >= 0x20 for c in s) and "\ufffe" not in s and "\uffff" not in s
    )
)
_SCALAR = st.one_of(
    _TEXT,
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
)
_VALUE = st.recursive(
    _SCALAR, lambda inner: st.dictionaries(_NAME, inner, max_size=4), max_leaves=12
)
_ATTACHMENT = st.dictionaries(
    _NAME, st.one_of(_TEXT, st.integers(min_value=0, max_value=10**12), st.none()), max_size=4
)
_EXTENSION = st.dictionaries(
    _NAME.filter(lambda n: n not in ("attachment", "attachments", "moduleIdentifier")),
    _VALUE,
    max_size=6,
)


def _sdk_view(value: Any, *, top: bool = True) -> Any:
    """What the SDK's decoder returns for an encoded value.

    ``None`` is the SDK's null.  An element without content is null; at the top level of
    ``extraParams`` it vanishes instead (parseExtraParams skips childless nodes), while
    inside an object it stays as null (assignXmlToObject stores ``getText() || null``).
    """
    if isinstance(value, dict):
        if not value:
            return None
        members = {k: _sdk_view(v, top=False) for k, v in value.items()}
        return {k: v for k, v in members.items() if v is not None} if top else members
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = js_number(value) if isinstance(value, (int, float)) else value
    return text or None


def _attachment_view(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in item.items():
        if v is None:
            continue
        text = str(v)
        out[k] = int(text) if k == "size" and text.lstrip("+-").isdigit() else text
    return out


@given(_EXTENSION, st.lists(_ATTACHMENT, max_size=3))
def test_round_trip_is_the_sdk_view(extension: dict[str, Any], attachments: list[Any]) -> None:
    full = dict(extension)
    if attachments:
        full["attachments"] = attachments
    params = decode_extension(parse(encode_extension(full)))
    expected = _sdk_view(extension) or {}
    if attachments:
        expected["attachments"] = [_attachment_view(a) for a in attachments]
    assert params.extension == expected


@given(st.text(max_size=200))
def test_decode_never_raises_on_text(text: str) -> None:
    from lxml import etree

    try:
        element = parse(f'<extraParams xmlns="jabber:client">{text}</extraParams>')
    except etree.XMLSyntaxError:
        return
    decode_extension(element)
