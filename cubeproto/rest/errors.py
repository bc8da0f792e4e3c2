"""The REST error vocabulary.

Convention (one for the whole REST package): parsers and the HTTP exchange **raise** typed
exceptions, all deriving from :class:`RestError` (itself a
:class:`~cubeproto.errors.CubeProtoError`).  Nothing else escapes them: a body that is not
JSON, JSON of the wrong shape, a truncated HTTP response -- each becomes one of the classes
below, with a message naming what was wrong.  Caller misuse (an invalid argument to a
builder) is :class:`~cubeproto.errors.LocalProtocolError`, as everywhere in cubeproto.

::

    RestError
    +-- ApiError                 the server answered with a non-2xx status
    |   +-- SessionExpired       401 "Required session does not exist"
    +-- ResponseFormatError      a 2xx body that is not the JSON the endpoint promises
    +-- HttpError                the HTTP exchange itself failed
        +-- MalformedResponse    bytes that are not HTTP/1.1 (bad framing, bad Content-Length)
        +-- IncompleteResponse   the connection ended (EOF or reset) before the response did
        +-- HttpConnectError     could not connect (DNS, refused, TLS handshake/verification)
        +-- HttpTimeout          connect or read timeout (raised by the adapters)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..errors import CubeProtoError

__all__ = [
    "SESSION_EXPIRED_MESSAGE",
    "ApiError",
    "HttpConnectError",
    "HttpError",
    "HttpTimeout",
    "IncompleteResponse",
    "MalformedResponse",
    "ResponseFormatError",
    "RestError",
    "SessionExpired",
    "api_error_from",
]

#: The ``errors.base[0]`` text the server uses for an expired or unknown token.
SESSION_EXPIRED_MESSAGE = "Required session does not exist"

#: How much of a body an error message quotes.
_QUOTE_LIMIT = 200


def _quote(body: bytes) -> str:
    text = body[:_QUOTE_LIMIT].decode("utf-8", errors="replace")
    return repr(text) + ("..." if len(body) > _QUOTE_LIMIT else "")


class RestError(CubeProtoError):
    """Base class of every REST and HTTP failure."""


class ApiError(RestError):
    """The server answered with a non-2xx status.

    ``errors`` is the value of the body's ``"errors"`` key when the body is a JSON object that
    has one (documented shape ``{"base": ["message"]}``, others possible), else the whole
    parsed JSON body, else ``None``; ``body`` always holds the raw bytes.  ``messages`` flattens
    every string found in ``errors`` (``["Required session does not exist"]``).
    """

    def __init__(self, *, status: int, errors: Any, body: bytes) -> None:
        self.status = status
        self.errors = errors
        self.body = body
        self.messages: tuple[str, ...] = tuple(_strings(errors))
        detail = "; ".join(self.messages) if self.messages else _quote(body)
        super().__init__(f"HTTP {status}: {detail}")


class SessionExpired(ApiError):
    """401 with ``Required session does not exist``: the REST token must be renewed."""


def _strings(value: Any) -> list[str]:
    """Every string inside ``value`` (dict values in key order, prefixed ``key: ``)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        out: list[str] = []
        for key, item in value.items():
            prefix = "" if key == "base" else f"{key}: "
            out.extend(prefix + s for s in _strings(item))
        return out
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def api_error_from(status: int, body: bytes) -> ApiError:
    """The typed error for a non-2xx response; never raises."""
    parsed: Any
    try:
        parsed = json.loads(body.decode("utf-8")) if body.strip() else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        parsed = None
    errors = parsed["errors"] if isinstance(parsed, dict) and "errors" in parsed else parsed
    base = errors.get("base") if isinstance(errors, dict) else errors
    first = base[0] if isinstance(base, list) and base else base
    if status == 401 and first == SESSION_EXPIRED_MESSAGE:
        return SessionExpired(status=status, errors=errors, body=body)
    return ApiError(status=status, errors=errors, body=body)


class ResponseFormatError(RestError):
    """A successful response whose body is not what the endpoint returns.

    ``path`` locates the offending value (``"items[3].date_sent"``), ``problem`` says what was
    wrong with it; ``status`` and ``body`` are the response's.
    """

    def __init__(self, *, path: str, problem: str, status: int, body: bytes) -> None:
        self.path = path
        self.problem = problem
        self.status = status
        self.body = body
        where = f" at {path}" if path else ""
        super().__init__(
            f"unexpected response body{where}: {problem} (HTTP {status}, body {_quote(body)})"
        )


class HttpError(RestError):
    """The HTTP exchange failed; the connection it happened on must not be reused."""


class MalformedResponse(HttpError):
    """The peer sent bytes that are not a valid HTTP/1.1 response (e.g. a bad Content-Length)."""


class IncompleteResponse(HttpError):
    """The connection ended (EOF or reset) before the response was complete.

    ``received`` is how many body bytes had arrived (0 when the head itself was cut).
    """

    def __init__(self, message: str, *, received: int = 0) -> None:
        super().__init__(message)
        self.received = received


class HttpConnectError(HttpError):
    """Connecting failed: name resolution, refusal, or the TLS handshake / certificate check."""


class HttpTimeout(HttpError):
    """A connect or read timeout expired (``phase`` says which: ``"connect"`` or ``"read"``)."""

    def __init__(self, message: str, *, phase: str) -> None:
        super().__init__(message)
        self.phase = phase


def format_path(path: Sequence[str | int]) -> str:
    """``["items", 3, "_id"]`` -> ``"items[3]._id"``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out
