"""The official SDK's query serializer and JS number/JSON text.

The property test does not re-run the implementation's algorithm: a hypothesis strategy
*generates* each parameter object together with the query string the SDK's rules give
for it (a recursive-descent generator of expected parts, deciding expansion as it goes),
with its own percent-encoder and its own UTF-16 ordering.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cubeproto.errors import LocalProtocolError
from cubeproto.rest.query import UNDEFINED, encode_query, encode_uri_component, js_json, js_number

# -- outputs verified against the SDK's serializer ------------------------------------------

VERIFIED = [
    (
        {"chat_dialog_id": "X", "sort_desc": "date_sent", "limit": 100, "skip": 0},
        "chat_dialog_id=X&limit=100&skip=0&sort_desc=date_sent",
    ),
    ({"date_sent": {"lt": 1544111751}}, "date_sent[lt]=1544111751"),
    ({"type": {"in": [10, 9, 2]}}, "type[in]=10%2C2%2C9"),
    ({"updated_at[gt]": 123}, "updated_at%5Bgt%5D=123"),
    ({"chat_dialog_ids": ["b", "a"]}, "chat_dialog_ids[]=a&chat_dialog_ids[]=b"),
    ({"a": ["x", "y"], "b": ["p", "q"]}, "a[]=x&a[]=y&b=p%2Cq"),
    ({"b": ["p", "q"], "a": ["x", "y"]}, "a=x%2Cy&b[]=p&b[]=q"),
    ({"extensions": {"location": "Sun bar"}}, "extensions[location]=Sun%20bar"),
    ({"n": None, "u": UNDEFINED, "t": True}, "n=null&t=true&u=undefined"),
]


@pytest.mark.parametrize(("params", "expected"), VERIFIED)
def test_reference_vectors(params: dict[str, Any], expected: str) -> None:
    assert encode_query(params) == expected


def test_empty_nested_object_leaves_a_stray_ampersand() -> None:
    assert encode_query({"a": {}, "b": 1}) == "&b=1"
    assert encode_query({}) == ""


def test_object_after_array_still_expands_and_raises_depth() -> None:
    # the object expands (objects always do); the array after it is comma-joined
    assert encode_query({"o": {"k": [2, 1]}, "z": [3, 1]}) == "o[k]=1%2C2&z=1%2C3"


def test_js_sort_is_by_utf16_code_units() -> None:
    # By code point U+FFFD < U+1F600, but JavaScript compares UTF-16 units and the emoji's
    # high surrogate 0xD83D is below 0xFFFD, so JS puts the emoji first.
    assert encode_query({"x": {"y": ["\ufffd", "\U0001f600"]}}) == (
        "x[y]=" + encode_uri_component("\U0001f600,\ufffd")
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.1, "0.1"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (1e-6, "0.000001"),
        (123456789012345680000.0, "123456789012345680000"),
        (-0.0, "0"),
        (-2.5, "-2.5"),
        (2.5e300, "2.5e+300"),
        (5e-324, "5e-324"),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (100, "100"),
        (-7, "-7"),
        (2**53 - 1, "9007199254740991"),
        (0.000001234, "0.000001234"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (123e-20, "1.23e-18"),
    ],
)
def test_js_number(value: float, text: str) -> None:
    assert js_number(value) == text


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_js_number_round_trips_and_chooses_notation_like_js(x: float) -> None:
    text = js_number(x)
    assert float(text) == x
    if x != 0 and (abs(x) < 1e-6 or abs(x) >= 1e21):
        assert "e" in text
    else:
        assert "e" not in text


def test_js_number_refuses_bools_and_unsafe_ints() -> None:
    for bad in (True, 2**53, -(2**53)):
        with pytest.raises(LocalProtocolError):
            js_number(bad)


def test_js_json() -> None:
    assert js_json(
        {"a": 1.0, "b": [UNDEFINED, None, "\u00e9\n\x01"], "c": UNDEFINED, "d": {"x": True}}
    ) == ('{"a":1,"b":[null,null,"\u00e9\\n\\u0001"],"d":{"x":true}}')
    with pytest.raises(LocalProtocolError):
        js_json({"x": float("inf")})
    with pytest.raises(LocalProtocolError):
        js_json({"x": object()})
    with pytest.raises(LocalProtocolError):
        js_json({1: "x"})


@pytest.mark.parametrize(
    "bad",
    [
        {"x": {"y": [{"z": 1}]}},
        {"x": {"y": [None]}},
        {"x": {"y": [[1]]}},
        {"x": object()},
        {1: 2},
        {"a": "\udc00"},
    ],
)
def test_query_refuses_what_js_would_mangle(bad: dict[Any, Any]) -> None:
    with pytest.raises(LocalProtocolError):
        encode_query(bad)


# -- the independent model ------------------------------------------------------------------

UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()")


def model_encode(text: str) -> str:
    """encodeURIComponent, byte by byte."""
    return "".join(chr(b) if b in UNRESERVED else f"%{b:02X}" for b in text.encode("utf-8"))


def utf16_units(text: str) -> list[int]:
    units = []
    for ch in text:
        cp = ord(ch)
        if cp > 0xFFFF:
            cp -= 0x10000
            units += [0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF)]
        else:
            units.append(cp)
    return units


FLOATS_AS_JS = [
    (1.0, "1"),
    (0.5, "0.5"),
    (1e21, "1e+21"),
    (2.5e-7, "2.5e-7"),
    (-3.25, "-3.25"),
    (1e-6, "0.000001"),
]
text_chars = st.characters(blacklist_categories=("Cs",))  # no lone surrogates
scalar = st.one_of(
    st.integers(-(2**53) + 1, 2**53 - 1).map(lambda i: (i, str(i))),
    st.sampled_from(FLOATS_AS_JS),
    st.sampled_from([(True, "true"), (False, "false")]),
    st.text(text_chars, max_size=8).map(lambda s: (s, s)),
)
nullish = st.sampled_from([(None, "null"), (UNDEFINED, "undefined")])
key = st.one_of(
    st.text(text_chars, min_size=1, max_size=6),
    st.integers(0, 20).map(str),  # array-index keys, which JS walks first
    st.sampled_from(["", "01", "4294967295", "4294967294"]),
)
ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")


@st.composite
def level(
    draw: st.DrawFn, prefix: str | None, depth: int, budget: int
) -> tuple[dict[str, Any], str]:
    """(params, expected query) for one object level at ``depth`` under ``prefix``.

    ``params`` keeps the drawn insertion order; the expected query follows the order in
    which JavaScript walks an object: canonical array-index keys ascending, then the rest
    in insertion order (that order decides which array the depth quirk expands).
    """
    names = draw(st.lists(key, max_size=4, unique=True))
    params: dict[str, Any] = dict.fromkeys(names)
    walk = sorted((n for n in names if ARRAY_INDEX.fullmatch(n) and int(n) < 2**32 - 1), key=int)
    walk += [n for n in names if n not in walk]
    expected: list[str] = []
    for name in walk:
        # The SDK tests the prefix for truthiness: an empty parent key adds no brackets.
        full = f"{prefix}[{model_encode(name)}]" if prefix else model_encode(name)
        kinds = ["scalar", "nullish", "list"] + (["object"] if budget > 0 else [])
        kind = draw(st.sampled_from(kinds))
        if kind in ("scalar", "nullish"):
            value, text = draw(scalar if kind == "scalar" else nullish)
            params[name] = value
            expected.append(f"{full}={model_encode(text)}")
        elif kind == "object":
            depth += 1  # the walking loop's own counter goes up
            sub, sub_expected = draw(level(full, depth, budget - 1))
            params[name] = sub
            expected.append(sub_expected)
        else:
            items = draw(st.lists(scalar, max_size=4))
            params[name] = [v for v, _ in items]
            if depth == 0:
                depth += 1
                element_key = f"{full}[]" if full else ""  # no brackets under an empty key
                expected.append(
                    "&".join(sorted(f"{element_key}={model_encode(t)}" for _, t in items))
                )
            else:
                joined = ",".join(sorted((t for _, t in items), key=utf16_units))
                expected.append(f"{full}={model_encode(joined)}")
    return params, "&".join(sorted(expected))


@settings(max_examples=400)
@given(level(None, 0, 3))
def test_serializer_matches_independent_model(case: tuple[dict[str, Any], str]) -> None:
    params, expected = case
    assert encode_query(params) == expected


@given(st.text(max_size=20))
def test_encode_uri_component_matches_model(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(LocalProtocolError):
            encode_uri_component(text)
        return
    assert encode_uri_component(text) == model_encode(text)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text(text_chars)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(text_chars, max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@given(json_values)
def test_js_json_is_json_with_the_same_value(value: Any) -> None:
    # JavaScript writes 1.0 as "1" and 3.846322367866299e16 as "38463223678662990": digits
    # beyond the safe integer range are a float's text, so read them back as floats.
    def number(text: str) -> int | float:
        return int(text) if abs(int(text)) <= 2**53 else float(text)

    assert json.loads(js_json(value), parse_int=number) == value
