"""UnhandledStanza built from an element is the same event as one built from its bytes."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from cubeproto._xmlstream import element_bytes
from cubeproto.events import MalformedStanza, UnhandledStanza

_NAMES = st.sampled_from(["message", "presence", "iq", "x", "query"])
_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xD7FF, exclude_characters="\r"),
    max_size=20,
)


@st.composite
def stanzas(draw: st.DrawFn) -> etree._Element:
    root = etree.Element(f"{{jabber:client}}{draw(_NAMES)}", nsmap={None: "jabber:client"})  # type: ignore[dict-item]
    root.set("id", draw(_TEXT))
    for name in draw(st.lists(_NAMES, max_size=3)):
        child = etree.SubElement(root, f"{{urn:x:{name}}}{name}")
        child.text = draw(_TEXT)
    parsed: etree._Element = etree.fromstring(etree.tostring(root))
    return parsed


@given(stanzas())
def test_lazy_raw_is_element_bytes(element: etree._Element) -> None:
    expected = element_bytes(element)
    lazy = UnhandledStanza.of_element(element)
    eager = UnhandledStanza(raw=expected)
    assert lazy == eager and hash(lazy) == hash(eager) and repr(lazy) == repr(eager)
    assert lazy.raw == expected and lazy.raw is lazy.raw  # serialized once, kept
    assert pickle.loads(pickle.dumps(lazy)) == eager
    assert copy.copy(lazy) == eager


def test_frozen_and_compared_by_value_only() -> None:
    event = UnhandledStanza(raw=b"<a/>")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.raw = b"<b/>"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del event.raw
    assert event != UnhandledStanza(raw=b"<b/>")
    assert event != MalformedStanza(raw=b"<a/>", reason="")
    assert event != b"<a/>"
    assert len({event, UnhandledStanza(raw=b"<a/>")}) == 1
    match event:
        case UnhandledStanza(raw=raw):
            assert raw == b"<a/>"
