"""XmlLimits' own validation (issue 17, mutation survivors): every limit must be a
positive int (not a bool, not a float), the two byte limits at least 64; the smallest
allowed values are accepted; the refusals name the limit and the value."""

from __future__ import annotations

import pytest

from cubeproto._xmlstream import XmlLimits
from cubeproto.errors import LocalProtocolError

LIMITS = (
    "max_stanza_bytes",
    "max_depth",
    "max_attributes",
    "max_attribute_length",
    "max_text_length",
    "max_header_bytes",
    "max_elements",
)


@pytest.mark.parametrize("name", LIMITS)
@pytest.mark.parametrize("value", [0, -1, True, 1.5, "8"])
def test_every_limit_must_be_a_positive_int(name: str, value: object) -> None:
    with pytest.raises(LocalProtocolError) as info:
        XmlLimits(**{name: value})  # type: ignore[arg-type]
    assert str(info.value) == f"XmlLimits.{name} must be a positive int: {value!r}"


@pytest.mark.parametrize("name", ["max_stanza_bytes", "max_header_bytes"])
def test_the_byte_limits_are_at_least_64(name: str) -> None:
    with pytest.raises(LocalProtocolError) as info:
        XmlLimits(**{name: 63})  # type: ignore[arg-type]
    assert str(info.value) == f"XmlLimits.{name} must be at least 64"
    assert getattr(XmlLimits(**{name: 64}), name) == 64  # type: ignore[arg-type]


def test_the_smallest_limits_are_accepted() -> None:
    limits = XmlLimits(
        max_stanza_bytes=64,
        max_depth=1,
        max_attributes=1,
        max_attribute_length=1,
        max_text_length=1,
        max_header_bytes=64,
        max_elements=1,
    )
    assert (limits.max_depth, limits.max_elements, limits.max_attributes) == (1, 1, 1)
