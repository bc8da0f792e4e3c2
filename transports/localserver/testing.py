"""Test helpers around the local server: the objects the pytest plugin's fixtures give
(:mod:`.pytest_plugin`), importable for type hints.  Typical use, through the fixtures::

    from cubeproto.chat import MessageReceived

    def test_bob_gets_alices_message(cube_user, cube_chat_client):
        alice, bob = cube_user("alice"), cube_user("bob")
        alice_chat, bob_chat = cube_chat_client(alice), cube_chat_client(bob)
        alice_chat.send_message(to_user=bob.id, body="hi Bob")
        assert bob_chat.wait_for(MessageReceived).body == "hi Bob"

What the fixtures give:

* ``cube_server`` (session scope): one :class:`LocalServer` running in a background
  thread for the whole test session (so sync and async tests, on asyncio or trio, share
  it); :class:`RunningServer` forwards calls into the server's thread.
* ``cube_app``: a fresh application per test, so tests do not see each other's dialogs.
* ``cube_user``: a factory of users of ``cube_app`` (:class:`CubeUser`: id, login,
  password, and the :class:`~cubeproto.ClientConfig` / REST credentials to log in with).
* ``cube_chat_client``: a factory of connected blocking :class:`LocalChatClient` objects
  (disconnected after the test); ``transport=`` picks STARTTLS (default), direct TLS or
  WebSocket.
* ``async_cube_chat_client``: a factory of :class:`AsyncLocalChatClient` objects, to be
  used as ``async with`` (an async client must connect and disconnect in one task).
* ``cube_rest_client`` / ``async_cube_rest_client``: REST clients logged in as a user
  (the async one also as ``async with``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from cubeproto import ClientConfig, Transport
from cubeproto.chat import ChatSession
from cubeproto.events import Event
from cubeproto.rest.requests import LoginPassword
from cubeproto.rest.session import Credentials

from ..anyio_chat import AsyncChatClient
from ..blocking_chat import ChatClient
from ..errors import NotConnected
from .server import LocalServer, ServerInfo
from .store import App

__all__ = [
    "WAIT_SECONDS",
    "AsyncLocalChatClient",
    "CubeUser",
    "LocalChatClient",
    "RunningServer",
    "client_kwargs",
    "running_server",
    "split_options",
]

E = TypeVar("E", bound=Event)
T = TypeVar("T")

#: Seconds :meth:`LocalChatClient.wait_for` waits by default.
WAIT_SECONDS = 10.0


class RunningServer:
    """A :class:`LocalServer` running in its own event-loop thread.

    ``call(fn, *args)`` runs ``fn`` (sync or async) in the server's thread -- the store's
    SQLite connection and the hub belong to that thread -- and returns its result.
    """

    def __init__(self, portal: BlockingPortal, server: LocalServer) -> None:
        self.portal = portal
        self.server = server

    @property
    def info(self) -> ServerInfo:
        return self.server.info

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        result: T = self.portal.call(fn, *args)
        return result

    def add_app(self) -> App:
        return self.call(self.server.add_app)

    def add_user(self, app: App, login: str, password: str, full_name: str | None = None) -> int:
        user = self.call(lambda: self.server.add_user(app.id, login, password, full_name=full_name))
        return user.id

    def user(self, app: App, login: str, password: str, full_name: str | None = None) -> CubeUser:
        """A new user of ``app`` as a :class:`CubeUser`."""
        user_id = self.add_user(app, login, password, full_name)
        return CubeUser(
            id=user_id, login=login, password=password, full_name=full_name, app=app, server=self
        )

    def port_for(self, transport: Transport) -> int:
        """The listener of ``transport`` (secure WebSocket is not served)."""
        info = self.info
        if transport is Transport.TCP:
            return info.xmpp_port
        if transport is Transport.DIRECT_TLS and info.tls_port is not None:
            return info.tls_port
        if transport is Transport.WEBSOCKET:
            return info.ws_port
        raise ValueError(f"the local server does not serve {transport}")


@contextmanager
def running_server(**options: Any) -> Iterator[RunningServer]:
    """A :class:`LocalServer` (``options`` are its arguments) in a background thread."""
    with start_blocking_portal() as portal:
        server = LocalServer(**options)
        with portal.wrap_async_context_manager(server):
            yield RunningServer(portal, server)


@dataclass(frozen=True, slots=True, kw_only=True)
class CubeUser:
    """A user of the local server and what logging in needs."""

    id: int
    login: str
    password: str
    full_name: str | None
    app: App
    server: RunningServer

    @property
    def api_url(self) -> str:
        """The REST base URL (pass it as ``base_url=`` to request builders)."""
        return self.server.info.api_url

    @property
    def credentials(self) -> Credentials:
        return Credentials(
            application_id=self.app.id,
            auth_key=self.app.auth_key,
            user=LoginPassword(login=self.login, password=self.password),
        )

    def chat_config(self, transport: Transport = Transport.TCP, **overrides: Any) -> ClientConfig:
        """A :class:`ClientConfig` for this user (chat layer on; plain ws:// allowed on
        loopback for the WebSocket listener)."""
        info = self.server.info
        ws = transport is Transport.WEBSOCKET
        values: dict[str, Any] = {
            "app_id": self.app.id,
            "user_id": self.id,
            "password": self.password,
            "entropy": os.urandom,
            "wall_clock": time.time,
            "chat_host": info.domain,
            "transport": transport,
            "handler_factory": ChatSession,
            "websocket_host": f"{info.host}:{info.ws_port}",
            "require_tls": not ws,
            "allow_plain_unencrypted": ws,
        }
        values.update(overrides)
        return ClientConfig(**values)


class LocalChatClient(ChatClient):
    """The blocking :class:`ChatClient` as the tests use it: :meth:`wait_for` with a
    test-sized default timeout, and the events it passed over in :attr:`backlog`."""

    @property
    def backlog(self) -> list[Event]:
        """The events :meth:`wait_for` passed over, still to be handed out (a test may
        read or clear it)."""
        return self._held

    def wait_for(
        self,
        event_type: type[E],
        predicate: Callable[[E], bool] | None = None,
        *,
        timeout: float | None = WAIT_SECONDS,
        **match: object,
    ) -> E:
        """:meth:`ChatClient.wait_for`; ``TimeoutError`` also when the client stopped."""
        try:
            return super().wait_for(event_type, predicate, timeout=timeout, **match)
        except NotConnected as exc:
            raise TimeoutError(str(exc)) from exc


class AsyncLocalChatClient(AsyncChatClient):
    """The async :class:`AsyncChatClient` as the tests use it (see
    :class:`LocalChatClient`)."""

    @property
    def backlog(self) -> list[Event]:
        """As :attr:`LocalChatClient.backlog`."""
        return self._held

    async def wait_for(
        self,
        event_type: type[E],
        predicate: Callable[[E], bool] | None = None,
        *,
        timeout: float | None = WAIT_SECONDS,
        **match: object,
    ) -> E:
        """As :meth:`LocalChatClient.wait_for`."""
        try:
            return await super().wait_for(event_type, predicate, timeout=timeout, **match)
        except NotConnected as exc:
            raise TimeoutError(str(exc)) from exc


def client_kwargs(user: CubeUser, transport: Transport) -> dict[str, Any]:
    """Where a client of ``user`` connects over ``transport``: host, port and the CA file."""
    server = user.server
    return {
        "host": server.info.host,
        "port": server.port_for(transport),
        "ca_file": server.info.ca_file,
    }


#: Arguments of the chat clients themselves (the rest are ClientConfig fields).
_CLIENT_OPTIONS = frozenset(
    {"tls", "channel_binding", "policy", "connect_timeout", "call_timeout", "on_event"}
)


def split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(ClientConfig fields, client arguments)`` from one set of keyword arguments."""
    config = {k: v for k, v in options.items() if k not in _CLIENT_OPTIONS}
    client = {k: v for k, v in options.items() if k in _CLIENT_OPTIONS}
    return config, client
