"""What every REST handler of the local server uses: the response, the ConnectyCube-shaped
error, one parsed call, and the parameter readers the SDK's encodings need."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from ..store import User

__all__ = [
    "NO_PERMISSION",
    "ApiError",
    "Call",
    "Response",
    "base_error",
    "int_list",
    "json_response",
    "obj",
    "paging",
    "parse_query",
    "read_params",
]

#: The text of ConnectyCube's 403 for a call the user may not make.
NO_PERMISSION = "You don't have appropriate permissions to perform this operation"


@dataclass
class Response:
    """One HTTP answer: status, body bytes, headers (Content-Length is the server's)."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    #: A file to stream as the body instead of ``body``.
    file: Path | None = None


class ApiError(Exception):
    """A refusal, answered as ``{"errors": errors}`` with ``status``."""

    def __init__(self, status: int, errors: Any) -> None:
        super().__init__(str(errors))
        self.status = status
        self.errors = errors


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """One request as a handler sees it: the path's named parts (``args``), the parameters
    (query string and body, merged), the headers (lower-case names), the raw body, and the
    caller when the route needs a user (:attr:`user`)."""

    method: str
    args: dict[str, str]
    params: dict[str, Any]
    headers: dict[str, str]
    body: bytes
    caller: User | None = None

    @property
    def user(self) -> User:
        """The logged-in user (the route declared it needs one, so the dispatcher found it)."""
        if self.caller is None:
            raise RuntimeError("this route does not resolve a user")
        return self.caller


def base_error(message: str, status: int = 422) -> ApiError:
    """The error without a field: ``{"errors": {"base": [message]}}``."""
    return ApiError(status, {"base": [message]})


def json_response(data: Any, status: int = 200) -> Response:
    """``data`` as a JSON answer (UTF-8, not ASCII-escaped, as ConnectyCube writes it)."""
    return Response(
        status,
        json.dumps(data, ensure_ascii=False).encode(),
        [("Content-Type", "application/json; charset=utf-8")],
    )


def parse_query(text: str) -> dict[str, Any]:
    """The SDK's bracket form back into nested values (``a[b]=1``, ``ids[]=x``)."""
    out: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        if "[" in key and key.endswith("]"):
            head, _, rest = key.partition("[")
            inner = rest[:-1]
            if inner == "":
                target = out.setdefault(head, [])
                if isinstance(target, list):
                    target.append(value)
            else:
                target = out.setdefault(head, {})
                if isinstance(target, dict):
                    target[inner] = value
        else:
            out[key] = value
    return out


def read_params(method: str, query: str, body: bytes) -> dict[str, Any]:
    """A call's parameters as the SDK sends them (the official SDK's encodings):
    the query string, plus a JSON object body for POST and PUT, or a form body for DELETE.
    A body that is not a JSON object is a 400."""
    params = parse_query(query)
    if method in ("POST", "PUT") and body:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise base_error("Malformed JSON body", 400) from None
        if not isinstance(data, dict):
            raise base_error("The JSON body must be an object", 400)
        params.update(data)
    elif method == "DELETE" and body:
        params.update(parse_query(body.decode("utf-8", "replace")))
    return params


def int_list(value: Any, what: str) -> list[int]:
    """Ids as the SDK sends them: a JSON array or one ``"1, 2"`` string."""
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    out = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        if not text.isdigit():
            raise ApiError(422, {what: ["must be a list of integers"]})
        out.append(int(text))
    return out


def obj(value: Any) -> dict[str, Any]:
    """``value`` when it is an object, else an empty one (``push_all`` and the like)."""
    return value if isinstance(value, dict) else {}


def paging(p: dict[str, Any]) -> tuple[int, int]:
    """``skip`` (default 0) and ``limit`` (default 100, at most 1000) of a list call."""
    skip = int(p["skip"]) if str(p.get("skip", "")).isdigit() else 0
    limit = int(p["limit"]) if str(p.get("limit", "")).isdigit() else 100
    return skip, max(1, min(limit, 1000))
