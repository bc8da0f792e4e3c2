"""The official JS SDK 6.1.2's parameter encodings, reproduced exactly.

Three encoders live here because the server is known to accept exactly what the JavaScript
SDK sends:

* :func:`encode_query` -- the query serializer used for GET query strings and for the form
  bodies of DELETE requests, with its sorting, its literal brackets and its depth quirk;
* :func:`js_json` -- ``JSON.stringify`` for POST/PUT bodies (JS number text, keys whose value
  is :data:`UNDEFINED` vanish, non-ASCII characters written as UTF-8);
* :func:`js_number` -- JavaScript's ``Number.prototype.toString`` (``1.0`` -> ``1``,
  ``1e21`` -> ``1e+21``), which both of the above use.

Values the SDK could not have produced meaningfully (integers beyond 2**53, strings holding
lone surrogates, objects that are not JSON data) are refused with
:class:`~cubeproto.errors.LocalProtocolError`: they are our caller's mistake, not wire text.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final
from urllib.parse import quote

from ..errors import LocalProtocolError

__all__ = ["UNDEFINED", "Undefined", "encode_query", "encode_uri_component", "js_json", "js_number"]

#: Integers JavaScript can hold exactly (Number.MAX_SAFE_INTEGER).  Larger ones would be
#: rounded by the SDK, so we refuse them rather than send digits it never could.
MAX_SAFE_INTEGER: Final = 2**53 - 1

_URI_SAFE: Final = "-_.!~*'()"


class Undefined:
    """JavaScript's ``undefined``: ``"undefined"`` in a query, absent in a JSON body."""

    __slots__ = ()
    _instance: Undefined | None = None

    def __new__(cls) -> Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"


#: The one :class:`Undefined` value.
UNDEFINED: Final = Undefined()


def encode_uri_component(text: str) -> str:
    """JavaScript ``encodeURIComponent``: UTF-8 bytes, uppercase hex, ``-_.!~*'()`` kept."""
    try:
        return quote(text, safe=_URI_SAFE, encoding="utf-8", errors="strict")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(f"cannot percent-encode {text!r}: lone surrogate") from exc


def js_number(value: int | float) -> str:
    """The text JavaScript's ``String(number)`` gives (ECMA-262 Number::toString).

    ``bool`` is refused (JavaScript booleans are not numbers; callers handle them first).
    Integers must be within +-(2**53 - 1), the range a JavaScript number holds exactly.
    """
    if isinstance(value, bool):
        raise LocalProtocolError("a bool is not a number")
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise LocalProtocolError(f"integer {value} is outside JavaScript's safe range")
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"  # also -0.0, as in JavaScript
    sign = "-" if value < 0 else ""
    # repr() gives the shortest digit string that round-trips, as ECMA-262 requires.
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    assert isinstance(exponent, int)
    # value = 0.d1d2...dk * 10**n  with k = len(digits)
    k = len(digits)
    n = exponent + len(digit_tuple)
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
        text = f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + text


def _utf16_key(text: str) -> bytes:
    """Sort key giving JavaScript's string order (UTF-16 code units, not code points)."""
    return text.encode("utf-16-be", errors="surrogatepass")


def _scalar_text(value: object) -> str:
    """``String(value)`` for the scalars a query may hold."""
    if value is None:
        return "null"
    if value is UNDEFINED:
        return "undefined"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return js_number(value)
    if isinstance(value, str):
        return value
    raise LocalProtocolError(f"cannot put a {type(value).__name__} in a query string")


def _joined_array(values: Sequence[Any]) -> str:
    """An array that is not expanded: ``String()`` of each element, JS-sorted, ``,``-joined.

    Only scalar elements (str, number, bool) are accepted: ``null``, nested arrays and objects
    would produce JavaScript artefacts (``""``, ``"[object Object]"``) no server understands.
    """
    texts = []
    for item in values:
        if item is None or item is UNDEFINED or isinstance(item, (Mapping, list, tuple)):
            raise LocalProtocolError(f"cannot comma-join a {type(item).__name__} array element")
        texts.append(_scalar_text(item))
    return ",".join(sorted(texts, key=_utf16_key))


_MAX_ARRAY_INDEX = 2**32 - 2


def _is_array_index(key: str) -> bool:
    """ECMAScript's "array index": the canonical decimal text of 0 .. 2**32 - 2."""
    return (
        key.isascii()
        and key.isdigit()
        and (key == "0" or key[0] != "0")
        and len(key) <= 10
        and int(key) <= _MAX_ARRAY_INDEX
    )


def js_items(value: Mapping[Any, Any]) -> list[tuple[Any, Any]]:
    """A mapping's items in JavaScript's property order (ES2015 OrdinaryOwnPropertyKeys):
    array-index keys first, in ascending numeric order, then the other keys in insertion
    order.  ``for...in``, ``Object.keys`` and ``JSON.stringify`` all walk this order."""
    indexed = []
    others = []
    for key, item in value.items():
        if isinstance(key, str) and _is_array_index(key):
            indexed.append((key, item))
        else:
            others.append((key, item))
    if not indexed:
        return others
    indexed.sort(key=lambda pair: int(pair[0]))
    return indexed + others


def _serialize(value: Mapping[str, Any] | Sequence[Any], prefix: str | None, depth: int) -> str:
    is_array = not isinstance(value, Mapping)
    items: Iterable[tuple[Any, Any]] = (
        js_items(value) if isinstance(value, Mapping) else enumerate(value)
    )
    parts: list[str] = []
    for name, item in items:
        if not is_array and not isinstance(name, str):
            raise LocalProtocolError(f"query keys must be str, not {type(name).__name__}")
        label = "" if is_array else encode_uri_component(str(name))
        # The SDK tests the prefix for truthiness: under an empty key, no brackets.
        key = f"{prefix}[{label}]" if prefix else label
        is_list = isinstance(item, (list, tuple))
        if isinstance(item, Mapping) or (is_list and depth == 0):
            # The SDK increments the counter of *this* loop, so later siblings see it too.
            depth += 1
            parts.append(_serialize(item, key, depth))
        elif is_list:
            parts.append(f"{key}={encode_uri_component(_joined_array(item))}")
        else:
            parts.append(f"{key}={encode_uri_component(_scalar_text(item))}")
    return "&".join(sorted(parts))


def encode_query(params: Mapping[str, Any]) -> str:
    """Serialize ``params`` exactly as the official SDK does.

    Dict insertion order matters (the depth quirk: only the *first* array or object met at
    the top level lets a later top-level array expand into ``key[]=`` pairs; later ones are
    comma-joined).  Keys are percent-encoded, brackets stay literal, each level's parts are
    sorted.  Array-query mode (only used by ``GET /users/v2``) is not offered.
    """
    if not isinstance(params, Mapping):
        raise LocalProtocolError("query parameters must be a mapping")
    return _serialize(params, None, 0)


def _json_text(value: Any, path: str) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        # Same escapes as JSON.stringify: quote, backslash, \b\f\n\r\t, other C0 as \u00XX.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise LocalProtocolError(f"{path}: non-finite number {value!r} in a JSON body")
        return js_number(value)
    if isinstance(value, Mapping):
        members = []
        for key, item in js_items(value):
            if not isinstance(key, str):
                raise LocalProtocolError(f"{path}: JSON keys must be str, not {key!r}")
            if item is UNDEFINED:
                continue
            members.append(
                json.dumps(key, ensure_ascii=False) + ":" + _json_text(item, f"{path}.{key}")
            )
        return "{" + ",".join(members) + "}"
    if isinstance(value, (list, tuple)):
        return (
            "["
            + ",".join(
                "null" if v is UNDEFINED else _json_text(v, f"{path}[{i}]")
                for i, v in enumerate(value)
            )
            + "]"
        )
    raise LocalProtocolError(f"{path}: a {type(value).__name__} cannot go in a JSON body")


def js_json(value: Any) -> str:
    """``JSON.stringify(value)``: compact, UTF-8 text, JS numbers, UNDEFINED keys dropped.

    Non-finite floats are refused (JSON.stringify would silently write ``null``).
    """
    text = _json_text(value, "body")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError("JSON body holds a lone surrogate") from exc
    return text
