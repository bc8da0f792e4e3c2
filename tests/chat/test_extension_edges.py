"""The extension codec at its edges (issue 17): attribute escaping of the characters a
random strategy rarely draws (``"``, tab, newline, carriage return), and
``MAX_EXTENSION_DEPTH`` at the limit and one past it, in both directions.

The expected wire text is written out by hand: an attachment attribute escaped as text
(``"`` left raw) is broken XML, and a tab or newline left raw is turned into a space by
the receiver's attribute-value normalization (XML 1.0 section 3.3.3), so the value would
not survive.  The escaped forms are also parsed back with lxml to show that they do.
"""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from cubeproto.chat import decode_extension, encode_extension
from cubeproto.chat._fault import StanzaFault
from cubeproto.chat.extension import MAX_EXTENSION_DEPTH
from cubeproto.errors import LocalProtocolError

OPEN = '<extraParams xmlns="jabber:client">'
CLOSE = "</extraParams>"

ATTRIBUTE_CASES = [
    ('say "hi"', "say &quot;hi&quot;"),
    ("a\tb", "a&#9;b"),
    ("line\nnext", "line&#10;next"),
    ("cr\rlf\n", "cr&#13;lf&#10;"),
    ('<&>"\t\n', "&lt;&amp;&gt;&quot;&#9;&#10;"),
    ("plain", "plain"),
]


@pytest.mark.parametrize(("value", "wire"), ATTRIBUTE_CASES)
def test_attachment_attributes_are_escaped_as_attributes(value: str, wire: str) -> None:
    encoded = encode_extension({"attachments": [{"type": "photo", "name": value}]})
    assert encoded == f'{OPEN}<attachment type="photo" name="{wire}"/>{CLOSE}'
    decoded = decode_extension(etree.fromstring(encoded))
    assert decoded.extension == {"attachments": [{"type": "photo", "name": value}]}


@pytest.mark.parametrize(("value", "wire"), ATTRIBUTE_CASES)
def test_an_escaped_value_next_to_plain_ones(value: str, wire: str) -> None:
    # The encoder's fast path checks all values at once; one value needing escaping must
    # send the whole extension through the escaping path, plain values unchanged.
    encoded = encode_extension(
        {"a": "1", "attachments": [{"id": "x", "name": value, "size": 3}], "b": "2"}
    )
    assert encoded == (f'{OPEN}<a>1</a><attachment id="x" name="{wire}" size="3"/><b>2</b>{CLOSE}')


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ('say "hi"', 'say "hi"'),
        ("a\tb\nc", "a\tb\nc"),
        ("x<&>y", "x&lt;&amp;&gt;y"),
        ("cr\r", "cr&#13;"),
    ],
)
def test_text_values_keep_quotes_and_whitespace(value: str, wire: str) -> None:
    encoded = encode_extension({"note": value, "nested": {"deeper": value}})
    assert encoded == (f"{OPEN}<note>{wire}</note><nested><deeper>{wire}</deeper></nested>{CLOSE}")
    decoded = decode_extension(etree.fromstring(encoded))
    assert decoded.extension == {"note": value, "nested": {"deeper": value}}


def nested(objects: int) -> dict[str, Any]:
    """An extension with ``objects`` objects inside one another, a leaf in the last."""
    value: dict[str, Any] = {"leaf": "x"}
    for _ in range(objects - 1):
        value = {"k": value}
    return {"k": value}


def nested_wire(objects: int) -> str:
    return OPEN + "<k>" * objects + "<leaf>x</leaf>" + "</k>" * objects + CLOSE


def test_the_depth_limit_is_the_same_both_ways() -> None:
    at_limit = nested(MAX_EXTENSION_DEPTH)
    encoded = encode_extension(at_limit)
    assert encoded == nested_wire(MAX_EXTENSION_DEPTH)
    assert decode_extension(etree.fromstring(encoded)).extension == at_limit


def test_one_past_the_depth_limit_is_refused_both_ways() -> None:
    with pytest.raises(LocalProtocolError, match="nested deeper"):
        encode_extension(nested(MAX_EXTENSION_DEPTH + 1))
    with pytest.raises(StanzaFault, match="nested deeper"):
        decode_extension(etree.fromstring(nested_wire(MAX_EXTENSION_DEPTH + 1)))


def test_leaves_at_the_last_level_do_not_count_as_depth() -> None:
    # Empty and text leaves in the deepest allowed object are values, not objects.
    inner = OPEN + "<k>" * MAX_EXTENSION_DEPTH + "<a/><b>t</b>" + "</k>" * MAX_EXTENSION_DEPTH
    decoded = decode_extension(etree.fromstring(inner + CLOSE)).extension
    for _ in range(MAX_EXTENSION_DEPTH):
        assert isinstance(decoded, dict)
        decoded = decoded["k"]
    assert decoded == {"a": None, "b": "t"}
