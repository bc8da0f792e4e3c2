"""The request object every builder returns, and the rules that make one (the SDK's URLs,
headers and parameter encodings).

A :class:`RestRequest` is plain data -- method, URL, headers, body bytes -- plus the parser for
its response, so any HTTP client can send it::

    r = httpx.request(req.method, req.url, headers=req.headers, content=req.body)
    result = req.parse(r.status_code, r.headers, r.content)

It is frozen; :meth:`RestRequest.with_token` and :meth:`RestRequest.with_base_url` return
re-stamped copies (the session object uses them to renew a token and replay a request).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Generic, TypeVar
from urllib.parse import urlsplit

from ..errors import LocalProtocolError
from .query import encode_query, js_json
from .responses import Headers

__all__ = [
    "CONTENT_TYPE_FORM",
    "CONTENT_TYPE_JSON",
    "DEFAULT_BASE_URL",
    "RestRequest",
    "build",
    "check_segment",
]

T = TypeVar("T")

DEFAULT_BASE_URL: Final = "https://api.connectycube.com"
#: Content-Type for POST and PUT.
CONTENT_TYPE_JSON: Final = "application/json;charset=utf-8"
#: Content-Type for GET and DELETE, even without a body.
CONTENT_TYPE_FORM: Final = "application/x-www-form-urlencoded; charset=UTF-8"

_METHODS: Final = frozenset({"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"})
#: Methods whose repetition has no further effect (RFC 9110 section 9.2.2); the retry policy
#: re-sends only these after an ambiguous 5xx.
IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "PUT", "DELETE"})
_SEGMENT: Final = re.compile(r"[A-Za-z0-9._~-]+")
# RFC 9110 field-value: visible ASCII, spaces and tabs inside, nothing else.
_FIELD_VALUE: Final = re.compile(r"[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?|")
_FIELD_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def check_segment(value: str | int, what: str) -> str:
    """One path segment (an id, a class name): unreserved URL characters only."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise LocalProtocolError(f"{what} must be a str or int, not {type(value).__name__}")
    text = str(value)
    if not _SEGMENT.fullmatch(text):
        raise LocalProtocolError(f"{what} {text!r} is not a valid URL path segment")
    return text


def check_base_url(base_url: str) -> str:
    """``scheme://host[:port][/prefix]`` with http or https, no query or fragment."""
    if not isinstance(base_url, str):
        raise LocalProtocolError("base_url must be a str")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LocalProtocolError(f"base_url {base_url!r} must be an http(s) URL with a host")
    if parts.query or parts.fragment or any(c in base_url for c in " \t\r\n"):
        raise LocalProtocolError(f"base_url {base_url!r} must not carry a query or fragment")
    try:
        _ = parts.port
    except ValueError as exc:
        raise LocalProtocolError(f"base_url {base_url!r} has an invalid port") from exc
    return base_url.rstrip("/")


def check_header(name: str, value: str) -> None:
    """Header names are RFC 9110 tokens; values visible ASCII (no CR, LF or NUL)."""
    if not _FIELD_NAME.fullmatch(name):
        raise LocalProtocolError(f"invalid header name {name!r}")
    if not _FIELD_VALUE.fullmatch(value):
        raise LocalProtocolError(f"invalid value for header {name}: {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RestRequest(Generic[T]):
    """One REST call, ready to send, and the parser of its answer.

    ``headers`` is a tuple of ``(name, value)`` pairs in sending order (pass it as-is to httpx,
    or ``dict(req.headers)`` to requests).  Host and Content-Length are the HTTP client's to
    add.  ``parser`` turns ``(status, headers, body)`` into the typed result or raises a
    :class:`~cubeproto.rest.errors.RestError` (see :mod:`cubeproto.rest.responses`).
    """

    method: str
    base_url: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    parser: Callable[[int, Headers, bytes], T]

    def __post_init__(self) -> None:
        if self.method not in _METHODS:
            raise LocalProtocolError(f"unsupported method {self.method!r}")
        check_base_url(self.base_url)
        if not self.target.startswith("/") or any(
            ord(c) <= 0x20 or ord(c) >= 0x7F for c in self.target
        ):
            raise LocalProtocolError(f"invalid request target {self.target!r}")
        for name, value in self.headers:
            check_header(name, value)
        if not isinstance(self.body, bytes):
            raise LocalProtocolError("body must be bytes")

    @property
    def url(self) -> str:
        """The absolute URL."""
        return self.base_url + self.target

    @property
    def idempotent(self) -> bool:
        """Whether sending this twice is harmless (decides retries after a 5xx)."""
        return self.method in IDEMPOTENT_METHODS

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), or None."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def parse(self, status: int, headers: Headers, body: bytes) -> T:
        """Parse the response to this request (raises a RestError on failure)."""
        return self.parser(status, headers, body)

    def with_token(self, token: str | None) -> RestRequest[T]:
        """A copy carrying ``CB-Token: token`` (replacing any CB-Token/CB-AuthKey), or none."""
        kept = tuple((k, v) for k, v in self.headers if k.lower() not in ("cb-token", "cb-authkey"))
        if token is None:
            return replace(self, headers=kept)
        return replace(self, headers=(*kept, ("CB-Token", token)))

    def with_base_url(self, base_url: str) -> RestRequest[T]:
        """The same call addressed to another API host (``base_url`` like the default)."""
        return replace(self, base_url=check_base_url(base_url))


def build(
    method: str,
    segments: Sequence[str],
    parser: Callable[[int, Headers, bytes], T],
    *,
    params: Mapping[str, Any] | None = None,
    token: str | None = None,
    auth_key: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[T]:
    """Assemble a request by the SDK's rules.

    URL: ``{base}/{segments joined by /}.json``.  POST/PUT put ``params`` in a
    JSON body; GET/HEAD in the query (``{}`` still appends a bare ``?``); DELETE/PATCH in a
    form-encoded body.  ``params=None`` means "the SDK passed nothing": no ``?``
    and no body.  Headers: Content-Type by method, then ``CB-Token`` if a token is known,
    else ``CB-AuthKey`` if given.
    """
    base = check_base_url(base_url)
    target = "/" + "/".join(segments) + ".json"
    body = b""
    if method in ("POST", "PUT"):
        content_type = CONTENT_TYPE_JSON
        if params is not None:
            body = js_json(params).encode("utf-8")
    else:
        content_type = CONTENT_TYPE_FORM
        if params is not None:
            encoded = encode_query(params)
            if method in ("GET", "HEAD"):
                target += "?" + encoded
            else:
                body = encoded.encode("ascii")
    headers: list[tuple[str, str]] = [("Content-Type", content_type)]
    if token is not None:
        headers.append(("CB-Token", token))
    elif auth_key is not None:
        headers.append(("CB-AuthKey", auth_key))
    return RestRequest(
        method=method,
        base_url=base,
        target=target,
        headers=tuple(headers),
        body=body,
        parser=parser,
    )
