"""What the blocking and the anyio HTTP adapters share beyond the sans-IO exchange
(:mod:`cubeproto.rest.exchange`, re-exported here for older imports): their options,
the TLS context and the connection pool."""

from __future__ import annotations

import os
import random
import ssl
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

from cubeproto.rest import RestSession, RetryPolicy
from cubeproto.rest.exchange import (
    CHUNK_SIZE,
    MAX_REDIRECTS,
    ConnectionPool,
    FileUpload,
    Origin,
    PooledConnection,
    resolve_redirect,
    split_url,
)

C = TypeVar("C", bound=PooledConnection)

__all__ = [
    "CHUNK_SIZE",
    "MAX_REDIRECTS",
    "HttpClientOptions",
    "RestClientBase",
    "Origin",
    "make_ssl_context",
    "multipart_boundary",
    "resolve_redirect",
    "split_url",
]


def multipart_boundary() -> str:
    """A random multipart boundary for a blob upload (the sans-IO core has no randomness
    of its own: ``FileUpload`` takes it)."""
    return os.urandom(16).hex()


def make_ssl_context(
    ca_file: str | None = None, ssl_context: ssl.SSLContext | None = None
) -> ssl.SSLContext:
    """Verification on: the system trust store, or only ``ca_file`` when given."""
    if ssl_context is not None:
        return ssl_context
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class HttpClientOptions(Generic[C]):
    """The options and the pool of an HTTP client (both adapters take the same):
    verification on (the system store, or ``ca_file`` / ``ssl_context``), connect and
    read timeouts in seconds, and at most ``max_idle_per_origin`` idle keep-alive
    connections per origin."""

    def __init__(
        self,
        *,
        ca_file: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_idle_per_origin: int = 4,
    ) -> None:
        self._ssl = make_ssl_context(ca_file, ssl_context)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._pool: ConnectionPool[C] = ConnectionPool(max_idle_per_origin)
        #: TCP connections opened so far (for observing keep-alive reuse).
        self.connections_opened = 0

    @property
    def max_idle_per_origin(self) -> int:
        """Idle keep-alive connections kept per origin."""
        return self._pool.max_idle_per_origin

    @max_idle_per_origin.setter
    def max_idle_per_origin(self, value: int) -> None:
        self._pool.max_idle_per_origin = value


H = TypeVar("H")
R = TypeVar("R", bound="RestClientBase[Any]")


class RestClientBase(Generic[H]):
    """What the blocking and the async REST clients share: a
    :class:`~cubeproto.rest.RestSession` and an HTTP client of their kind
    (:attr:`http_client` makes the default one)."""

    #: The HTTP client class of the adapter (``BlockingHttpClient``/``AsyncHttpClient``).
    http_client: ClassVar[Callable[..., Any]]

    def __init__(self, session: RestSession, http: H | None = None) -> None:
        self.session = session
        self.http: H = http if http is not None else self.http_client()

    @staticmethod
    def _upload_steps(name: str, content_type: str, size: int, public: bool) -> FileUpload:
        """``upload_file``'s steps (the adapter runs them), with a random boundary."""
        return FileUpload(
            name=name,
            content_type=content_type,
            size=size,
            public=public,
            boundary=multipart_boundary(),
        )

    @classmethod
    def connect(
        cls: type[R],
        credentials: Any,
        *,
        base_url: str = "https://api.connectycube.com",
        retry: RetryPolicy | None = None,
        **http_options: Any,
    ) -> R:
        """A client with a fresh session for ``credentials`` and a default retry policy
        (``http_options`` go to the HTTP client)."""
        session = RestSession(
            credentials=credentials,
            base_url=base_url,
            retry=retry or RetryPolicy(),
            random=random.random,
        )
        return cls(session, cls.http_client(**http_options))
