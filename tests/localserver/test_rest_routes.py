"""The REST routes table: every row answers some request (none is shadowed by an earlier
row), no two rows claim the same request, and a request no row takes is a 404 -- or a 405
when rows take its path under other methods."""

from __future__ import annotations

import pytest
from cubeproto.transports.localserver.rest import ApiError
from cubeproto.transports.localserver.rest.routes import ROUTES, Route, find_route


def sample_path(route: Route) -> str:
    """A path the route's pattern fits: numbers for ``{x:int}``, hex for other names, the
    first spelling of each literal."""
    segments = []
    for part in route.pattern.split("/"):
        if part.startswith("{"):
            segments.append("12" if part.endswith(":int}") else "5f0c0ffee0ddba11deadbeef")
        else:
            segments.append(part.split("|")[0])
    return "/" + "/".join(segments) + ("" if route.json is False else ".json")


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.pattern} json={r.json}")
def test_every_route_answers_its_own_requests(route: Route) -> None:
    found, args = find_route(route.method, sample_path(route))
    assert found is route
    assert set(args) == {p[1:-1].partition(":")[0] for p in route.pattern.split("/") if "{" in p}


def test_no_two_routes_claim_the_same_request() -> None:
    keys = [(r.method, r.pattern, r.json) for r in ROUTES]
    assert len(keys) == len(set(keys))


def test_alternative_spellings_and_the_json_suffix() -> None:
    assert find_route("GET", "/chat/dialog.json")[0].handler.__name__ == "list_dialogs"
    assert find_route("GET", "/chat/Dialog.json")[0].handler.__name__ == "list_dialogs"
    uid = "0123abcd"
    assert find_route("GET", f"/blobs/{uid}")[0].handler.__name__ == "download"
    assert find_route("GET", f"/blobs/{uid}.json")[0].handler.__name__ == "blob_by_uid"
    assert find_route("GET", "/blobs/42.json")[0].handler.__name__ == "blob_by_id"
    assert find_route("DELETE", "/chat/Dialog/clearHistory/x.json")[0].handler.__name__ == (
        "clear_history"
    )
    assert find_route("DELETE", "/chat/Dialog/a,b.json")[1] == {"ids": "a,b"}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nowhere.json", 404),
        ("GET", "/chat/Dialog/x/y/z.json", 404),
        ("GET", "/users/abc.json", 404),  # a user id is a number
        ("PATCH", "/chat/Dialog.json", 405),
        ("PUT", "/session.json", 405),
        ("POST", "/chat/Message/x/reactions.json", 405),
    ],
)
def test_requests_no_route_takes(method: str, path: str, status: int) -> None:
    with pytest.raises(ApiError) as refused:
        find_route(method, path)
    assert refused.value.status == status
