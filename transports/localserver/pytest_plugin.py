"""The pytest plugin: a running local ConnectyCube server, users and ready clients for
users' own tests.  Installed with cubeproto (entry point ``pytest11``); nothing to import::

    from cubeproto.chat import MessageReceived

    def test_bob_gets_alices_message(cube_user, cube_chat_client):
        alice, bob = cube_user("alice"), cube_user("bob")
        alice_chat, bob_chat = cube_chat_client(alice), cube_chat_client(bob)
        alice_chat.send_message(to_user=bob.id, body="hi Bob")
        assert bob_chat.wait_for(MessageReceived).body == "hi Bob"

Fixtures (names start with ``cube_`` or ``async_cube_`` so they do not clash with a
project's own):

* ``cube_server`` (session scope): one local server, in a background thread, shared by sync
  and async tests (:class:`~.testing.RunningServer`).
* ``cube_app``: a fresh application per test, so tests do not see each other's dialogs.
* ``cube_user``: ``cube_user(login=None, password=None, full_name=None)`` makes a
  :class:`~.testing.CubeUser` of ``cube_app``.
* ``cube_chat_client``: ``cube_chat_client(user, transport=Transport.TCP, **options)``, a
  connected blocking :class:`~.testing.LocalChatClient`, disconnected after the test;
  ``options`` are :class:`~cubeproto.ClientConfig` fields or the client's own arguments
  (``policy=``, ``call_timeout=``...).
* ``async_cube_chat_client``: the same arguments, an :class:`~.testing.AsyncLocalChatClient`
  to use as ``async with`` (an async client connects and disconnects in one task).
* ``cube_rest_client`` / ``async_cube_rest_client``: ``(user)``, REST clients logged in as
  the user (the async one used as ``async with``).

Importing this module needs only pytest: the server and the clients (anyio, trustme: the
``server`` extra) are imported when a fixture is first used.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from . import MissingExtraError, require_server_extra

if TYPE_CHECKING:
    from cubeproto import Transport

    from ..http_anyio import AsyncRestClient
    from ..http_blocking import BlockingRestClient
    from .store import App
    from .testing import AsyncLocalChatClient, CubeUser, LocalChatClient, RunningServer

__all__ = [
    "async_cube_chat_client",
    "async_cube_rest_client",
    "cube_app",
    "cube_chat_client",
    "cube_rest_client",
    "cube_server",
    "cube_user",
]


def _need_server_extra(fixture: str) -> None:
    """Fail the test that asked for ``fixture`` with the extra to install, not an
    ImportError traceback from deep inside the server."""
    try:
        require_server_extra(f"the {fixture} fixture")
    except MissingExtraError as missing:
        pytest.fail(str(missing), pytrace=False)


@pytest.fixture(scope="session")
def cube_server() -> Iterator[RunningServer]:
    """One local server (in-memory store, trustme certificate) for the test session."""
    _need_server_extra("cube_server")
    from .testing import running_server

    with running_server() as server:
        yield server


@pytest.fixture
def cube_app(cube_server: RunningServer) -> App:
    """A new application for this test."""
    return cube_server.add_app()


@pytest.fixture
def cube_user(cube_server: RunningServer, cube_app: App) -> Callable[..., CubeUser]:
    """``cube_user(login=None, password=None, full_name=None)`` makes a user of ``cube_app``."""
    numbers = itertools.count(1)

    def make(
        login: str | None = None, password: str | None = None, full_name: str | None = None
    ) -> CubeUser:
        login = login or f"user{next(numbers)}"
        password = password or f"{login}-password"
        return cube_server.user(cube_app, login, password, full_name)

    return make


@pytest.fixture
def cube_chat_client() -> Iterator[Callable[..., LocalChatClient]]:
    """``cube_chat_client(user, transport=Transport.TCP, **config)``: a connected blocking
    client, disconnected after the test."""
    _need_server_extra("cube_chat_client")
    from cubeproto import Transport

    from .testing import LocalChatClient, client_kwargs, split_options

    clients: list[LocalChatClient] = []

    def make(
        user: CubeUser, transport: Transport = Transport.TCP, **overrides: Any
    ) -> LocalChatClient:
        config, options = split_options(overrides)
        client = LocalChatClient(
            user.chat_config(transport, **config), **client_kwargs(user, transport), **options
        )
        client.connect()
        clients.append(client)
        return client

    yield make
    for client in reversed(clients):
        client.disconnect()


@pytest.fixture
def async_cube_chat_client() -> Callable[..., AsyncLocalChatClient]:
    """``async_cube_chat_client(user, transport=Transport.TCP, **config)``: an async client
    for ``async with`` (it connects on entry and disconnects on exit)."""
    _need_server_extra("async_cube_chat_client")
    from cubeproto import Transport

    from .testing import AsyncLocalChatClient, client_kwargs, split_options

    def make(
        user: CubeUser, transport: Transport = Transport.TCP, **overrides: Any
    ) -> AsyncLocalChatClient:
        config, options = split_options(overrides)
        return AsyncLocalChatClient(
            user.chat_config(transport, **config), **client_kwargs(user, transport), **options
        )

    return make


@pytest.fixture
def cube_rest_client() -> Iterator[Callable[[CubeUser], BlockingRestClient]]:
    """``cube_rest_client(user)``: a blocking REST client logged in as ``user`` (its
    session exists before the first call)."""
    from ..http_blocking import BlockingRestClient

    clients: list[BlockingRestClient] = []

    def make(user: CubeUser) -> BlockingRestClient:
        client = BlockingRestClient.connect(user.credentials, base_url=user.api_url)
        clients.append(client)
        client.session.adopt(client.call(client.session.create_session_request()))
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def async_cube_rest_client() -> Callable[[CubeUser], AsyncRestClient]:
    """``async_cube_rest_client(user)``: an async REST client for ``async with``."""
    _need_server_extra("async_cube_rest_client")
    from ..http_anyio import AsyncRestClient

    def make(user: CubeUser) -> AsyncRestClient:
        return AsyncRestClient.connect(user.credentials, base_url=user.api_url)

    return make
