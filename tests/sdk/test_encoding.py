"""Our REST parameter encodings equal the official SDK's own serializer, run in Node.

For random parameter objects (hypothesis: nested objects, arrays, unicode and reserved
characters in keys and values, numbers of every magnitude, booleans, null, undefined) the
request our builder makes -- URL with query string for GET, form body for DELETE, JSON body
for POST/PUT, and the Content-Type -- is compared with what the SDK's request builder
(``ConnectyCube.service.buildRequestAndURL``, which calls its ``serializeQueryParams`` and
``JSON.stringify``) makes for the same object.  Each hypothesis example is a batch of
objects, so that one Node round trip checks many of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cubeproto.rest.query import UNDEFINED as OUR_UNDEFINED
from cubeproto.rest.request import build

from .sdkpeer import UNDEFINED as JS_UNDEFINED
from .sdkpeer import SdkPeer

BASE = "http://api.test"
SEGMENTS = ["chat", "Message"]

#: Objects per hypothesis example (one Node round trip each) and examples per test.
BATCH = 40
EXAMPLES = 25


@pytest.fixture(scope="module")
def sdk(node: None) -> Iterator[SdkPeer]:
    """An encoder-only SDK process (no chat connection)."""
    peer = SdkPeer()
    yield peer
    peer.close()


# Text without lone surrogates (neither side can encode them), rich in what encoders treat
# specially: URI-reserved and unreserved punctuation, brackets, spaces, %, quotes, non-ASCII
# (Latin, CJK, RTL) and astral characters (two UTF-16 code units: they sort differently by
# code unit than by code point).
SPECIAL = "[]&=?#+,/:;@$!~*'()%\" -_.\\<>{}|^`\t\n"
text = st.text(
    alphabet=st.one_of(
        st.sampled_from(SPECIAL),
        st.characters(codec="utf-8", exclude_categories=["Cs"]),
        st.sampled_from("éßж中文مرحبا\U0001f525\U0001f44d\ufb01\uff5e"),
    ),
    max_size=8,
)
#: JavaScript array-index keys ("0", "12"): a JS object iterates them first, in numeric order.
ARRAY_INDEX = re.compile(r"0|[1-9][0-9]{0,8}")
# Keys: anything above except what the harness uses as value tags and (see the known
# mismatches at the end) array-index strings; top-level keys are also never "".
key = text.filter(lambda k: not k.startswith("__") and not ARRAY_INDEX.fullmatch(k))
top_key = key.filter(bool)
number = st.one_of(
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)
scalar = st.one_of(text, number, st.booleans(), st.none())
# Arrays that are comma-joined (not expanded) must hold scalars the SDK can String().
joinable = st.lists(st.one_of(text, number, st.booleans()), max_size=4)


def objects(
    leaf: st.SearchStrategy[Any], keys: st.SearchStrategy[str] = key
) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(keys, leaf, max_size=4)


query_value = st.recursive(
    st.one_of(scalar, st.just(OUR_UNDEFINED), joinable),
    lambda inner: objects(inner),
    max_leaves=12,
)
query_params = objects(query_value, top_key)
json_value = st.recursive(
    scalar,
    lambda inner: st.one_of(objects(inner), st.lists(inner, max_size=4)),
    max_leaves=12,
)
# UNDEFINED may stand for an object member (it vanishes from the JSON text).
json_params = objects(st.one_of(json_value, st.just(OUR_UNDEFINED)), top_key)


def to_js(value: Any) -> Any:
    """Our parameter object as the JS value handed to the SDK (UNDEFINED -> undefined)."""
    if value is OUR_UNDEFINED:
        return JS_UNDEFINED
    if isinstance(value, dict):
        return {k: to_js(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_js(v) for v in value]
    return value


def ours(method: str, params: dict[str, Any] | None) -> dict[str, Any]:
    request = build(method, SEGMENTS, lambda *_: None, params=params, base_url=BASE)
    body = request.body.decode("utf-8") if request.body or params is not None else None
    if method in ("GET", "HEAD") or params is None:
        body = None
    return {"url": request.url, "body": body, "contentType": dict(request.headers)["Content-Type"]}


def sdk_requests(sdk: SdkPeer, method: str, batch: list[dict[str, Any] | None]) -> list[Any]:
    cases: list[dict[str, Any]] = []
    for params in batch:
        case: dict[str, Any] = {"method": method, "url": f"{BASE}/{'/'.join(SEGMENTS)}.json"}
        if params is not None:
            case["data"] = to_js(params)
        cases.append(case)
    return list(sdk.request("serialize", cases=cases))


def check(sdk: SdkPeer, method: str, batch: list[dict[str, Any] | None]) -> None:
    theirs = sdk_requests(sdk, method, batch)
    for params, expected in zip(batch, theirs, strict=True):
        assert ours(method, params) == expected, params


BATCHED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@BATCHED
@given(st.lists(query_params, min_size=BATCH, max_size=BATCH))
def test_get_query_string(sdk: SdkPeer, batch: list[dict[str, Any]]) -> None:
    check(sdk, "GET", list(batch))


@BATCHED
@given(st.lists(query_params, min_size=BATCH, max_size=BATCH))
def test_delete_form_body(sdk: SdkPeer, batch: list[dict[str, Any]]) -> None:
    check(sdk, "DELETE", list(batch))


@BATCHED
@given(st.lists(json_params, min_size=BATCH, max_size=BATCH), st.sampled_from(["POST", "PUT"]))
def test_post_put_json_body(sdk: SdkPeer, batch: list[dict[str, Any]], method: str) -> None:
    check(sdk, method, list(batch))


@pytest.mark.parametrize("method", ["GET", "DELETE", "POST", "PUT"])
def test_no_params_and_empty_params(sdk: SdkPeer, method: str) -> None:
    """Nothing passed: no ``?`` and no body; ``{}``: GET ends with a bare ``?``."""
    check(sdk, method, [None, {}])


# -- mismatches this harness found, fixed in cubeproto.rest.query ---------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_array_index_keys_come_first(sdk: SdkPeer, method: str) -> None:
    # SDK: GET ?1[]=x&1[]=y&b=p%2Cq and POST {"1":["x","y"],"b":["p","q"]}
    check(sdk, method, [{"b": ["p", "q"], "1": ["x", "y"]}])


def test_empty_top_level_key(sdk: SdkPeer) -> None:
    check(sdk, "GET", [{"": {"x": 1}}])
