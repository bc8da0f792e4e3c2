"""Fixtures of the local-server tests: clients of every adapter (asyncio, trio, blocking)
over every transport the local server serves (TCP + STARTTLS, direct TLS, WebSocket),
driven synchronously so that a scenario is written once.

The async client runs in its own event-loop thread behind an anyio blocking portal; the
portal only forwards calls (``wrap_async_context_manager`` keeps connect and disconnect in
one task, as the client requires).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from cubeproto.transports.localserver.testing import (
    AsyncLocalChatClient,
    CubeUser,
    LocalChatClient,
    client_kwargs,
)

from cubeproto import Transport
from cubeproto.reconnect import ReconnectPolicy

ADAPTERS = ["asyncio", "trio", "blocking"]
TRANSPORTS = {
    "starttls": Transport.TCP,
    "direct-tls": Transport.DIRECT_TLS,
    "websocket": Transport.WEBSOCKET,
}


class Peer:
    """A connected client; ``peer.verb(...)`` calls the real client's method (through the
    portal for the async client), ``peer.wait_for(Kind, **match)`` included."""

    def __init__(
        self, client: Any, portal: BlockingPortal | None, closer: Callable[[], object]
    ) -> None:
        self.client = client
        self.portal = portal
        self._closer: Callable[[], object] | None = closer

    def disconnect(self) -> None:
        """Close gracefully (the async client in the task that connected it)."""
        closer, self._closer = self._closer, None
        if closer is not None:
            closer()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if self.portal is None or not callable(attr):
            return attr
        portal = self.portal
        return lambda *a, **k: portal.call(lambda: attr(*a, **k))


class Connector:
    """``connect(user, **config_overrides)`` -> a connected :class:`Peer`."""

    def __init__(self, adapter: str, transport: Transport, stack: contextlib.ExitStack) -> None:
        self.adapter = adapter
        self.transport = transport
        self.stack = stack

    def __call__(self, user: CubeUser, **overrides: Any) -> Peer:
        config = user.chat_config(self.transport, **overrides)
        kwargs = client_kwargs(user, self.transport)
        kwargs["policy"] = ReconnectPolicy(floor=0.05, cap=0.5)
        if self.adapter == "blocking":
            client = LocalChatClient(config, **kwargs)
            client.connect()
            peer = Peer(client, None, client.disconnect)
        else:
            portal = self.stack.enter_context(start_blocking_portal(self.adapter))
            manager = portal.wrap_async_context_manager(AsyncLocalChatClient(config, **kwargs))
            aclient = manager.__enter__()
            peer = Peer(aclient, portal, lambda: manager.__exit__(None, None, None))
        self.stack.callback(peer.disconnect)
        return peer


@pytest.fixture(params=ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=list(TRANSPORTS))
def transport(request: pytest.FixtureRequest) -> Transport:
    return TRANSPORTS[str(request.param)]


@pytest.fixture
def connect(adapter: str, transport: Transport) -> Iterator[Connector]:
    with contextlib.ExitStack() as stack:
        yield Connector(adapter, transport, stack)
