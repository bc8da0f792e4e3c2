"""Pieces shared by the blocking and the anyio HTTP adapters (no I/O here either)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from cubeproto.errors import LocalProtocolError

#: Bytes read from the socket per call, and the chunk size of streamed uploads.
CHUNK_SIZE = 64 * 1024
#: Redirects followed by a download (the blob URL answers 301 to storage).
MAX_REDIRECTS = 5


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a connection goes: the pool key."""

    scheme: str
    host: str
    port: int

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def split_url(url: str) -> tuple[Origin, str]:
    """``https://host:port/path?q`` -> (origin, ``/path?q``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LocalProtocolError(f"not an http(s) URL: {url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise LocalProtocolError(f"bad port in {url!r}") from exc
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return Origin(parts.scheme, parts.hostname, port), target


def make_ssl_context(
    ca_file: str | None = None, ssl_context: ssl.SSLContext | None = None
) -> ssl.SSLContext:
    """Verification on: the system trust store, or only ``ca_file`` when given."""
    if ssl_context is not None:
        return ssl_context
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def resolve_redirect(base: str, location: str) -> str:
    """An absolute URL for a Location header relative to ``base``."""
    from urllib.parse import urljoin

    return urljoin(base, location)
