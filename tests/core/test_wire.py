"""parse_uint: the integer attributes peers send never raise."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cubeproto._stanza_error import parse_stanza_error
from cubeproto._wire import parse_uint


@given(st.text(max_size=30))
def test_parse_uint_never_raises_and_agrees_with_ascii_digits(text: str) -> None:
    value = parse_uint(text)
    if text and len(text) <= 10 and all("0" <= c <= "9" for c in text):
        assert value == int(text)
    else:
        assert value is None


def test_parse_uint_refuses_superscripts_and_huge_numbers() -> None:
    assert parse_uint("\u00b2") is None
    assert parse_uint("9" * 5000, max_digits=10_000) is None  # beyond int()'s limit
    assert parse_uint("9" * 11) is None
    assert parse_uint(None) is None


def test_stanza_error_with_a_weird_code_keeps_the_rest() -> None:
    from lxml import etree

    stanza = etree.fromstring(
        "<message type='error'><error code='\u00b2' type='cancel'>"
        "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
    )
    error = parse_stanza_error(stanza)
    assert error.code is None
    assert error.condition_name == "service-unavailable"
