"""Query strings and JSON bodies at their edges (issue 17, from the mutation run): the
exact refusals (with the path into the value, which is what a caller reads to find the
bad field), lone surrogates, and non-ASCII JSON keys.  Expected texts written by hand."""

from __future__ import annotations

from typing import Any

import pytest

from cubeproto.errors import LocalProtocolError
from cubeproto.rest.query import UNDEFINED, encode_query, js_json, js_number


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"a": [1, {"b": float("nan")}]}, "body.a[1].b: non-finite number nan in a JSON body"),
        ({"a": {"x": float("-inf")}}, "body.a.x: non-finite number -inf in a JSON body"),
        ({"a": {1: 2}}, "body.a: JSON keys must be str, not 1"),
        ({"a": [UNDEFINED, object()]}, "body.a[1]: a object cannot go in a JSON body"),
        ({"k": {"l": [b"x"]}}, "body.k.l[0]: a bytes cannot go in a JSON body"),
        ({"k": "\ud800"}, "JSON body holds a lone surrogate"),
        ({"\udfff": 1}, "JSON body holds a lone surrogate"),
    ],
)
def test_json_refusals_name_the_path(body: Any, message: str) -> None:
    with pytest.raises(LocalProtocolError) as info:
        js_json(body)
    assert str(info.value) == message


def test_json_keys_and_values_stay_utf8() -> None:
    # JSON.stringify writes non-ASCII as it is (no \\u escapes), keys too.
    assert js_json({"ключ": "é", "a": ["ü"]}) == '{"ключ":"é","a":["ü"]}'


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"a": object()}, "cannot put a object in a query string"),
        ({"first": {}, "a": [1, None]}, "cannot comma-join a NoneType array element"),
        ({"first": {}, "a": [1, UNDEFINED]}, "cannot comma-join a Undefined array element"),
        ({"first": {}, "a": [1, {"b": 2}]}, "cannot comma-join a dict array element"),
        ({"first": {}, "a": ["x", [1]]}, "cannot comma-join a list array element"),
        ({"first": {}, "a": [b"x"]}, "cannot put a bytes in a query string"),
    ],
)
def test_query_refusals(params: dict[str, Any], message: str) -> None:
    with pytest.raises(LocalProtocolError) as info:
        encode_query(params)
    assert str(info.value) == message


def test_a_lone_surrogate_in_a_joined_array_is_refused_after_sorting() -> None:
    # The JavaScript sort (UTF-16 code units) must order a lone surrogate too; the
    # percent-encoding then refuses it, as encodeURIComponent throws URIError.
    with pytest.raises(LocalProtocolError, match="lone surrogate"):
        encode_query({"first": {}, "a": ["x", "\ud800", "y"]})
    # Astral characters sort by their surrogates (before U+FFFF), as in JavaScript.
    assert encode_query({"first": {}, "a": ["\U0001f600", "\uffff", "b"]}) == (
        "&a=b%2C%F0%9F%98%80%2C%EF%BF%BF"
    )


def test_numbers_at_the_switch_to_exponents() -> None:
    # Number.prototype.toString: fixed up to 21 digits, exponent from 1e21 on.
    assert js_number(1e20) == "100000000000000000000"
    assert js_number(1e21) == "1e+21"
    assert js_number(-1e21) == "-1e+21"
    assert js_number(1.5e-7) == "1.5e-7"
    assert js_number(0.0) == js_number(-0.0) == "0"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "a bool is not a number"),
        (2**53, "integer 9007199254740992 is outside JavaScript's safe range"),
        (-(2**53), "integer -9007199254740992 is outside JavaScript's safe range"),
    ],
)
def test_number_refusals(value: Any, message: str) -> None:
    with pytest.raises(LocalProtocolError) as info:
        js_number(value)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({1: "a"}, "query keys must be str, not int"),
        ({"a": "\ud800"}, "cannot percent-encode '\\ud800': lone surrogate"),
        ([("a", 1)], "query parameters must be a mapping"),
    ],
)
def test_more_query_refusals(params: Any, message: str) -> None:
    with pytest.raises(LocalProtocolError) as info:
        encode_query(params)
    assert str(info.value) == message


def test_undefined_says_what_it_is() -> None:
    assert repr(UNDEFINED) == "UNDEFINED"
