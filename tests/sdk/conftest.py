"""Fixtures of the SDK conformance tests: the official JS SDK and our client as peers of the
real test ejabberd.

Tests skip only where Node (or its packages) cannot be had, and fail instead when the ``CI``
environment variable is set, so that CI can never go green by skipping them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
from ejabberd_server import APP_ID, CubeUser, Ejabberd

from .ourpeer import OurPeer
from .sdkpeer import SDK_VERSION, SdkPeer, node_unavailable_reason

#: The chat transports both peers are tested over.  (Direct TLS works too -- see
#: test_transports -- but every stanza kind is proven over these two.)
TRANSPORTS = ("websocket", "tcp")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything here talks to real servers and a real Node process."""
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def node() -> None:
    """Node and the pinned SDK are available (installed from the lockfile if needed)."""
    reason = node_unavailable_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the SDK conformance tests need Node under CI: {reason}", pytrace=False)
        pytest.skip(f"no Node for the SDK peer: {reason}")


def sdk_env(server: Ejabberd, transport: str) -> tuple[dict[str, str], str]:
    """Environment and chat URL that point the SDK at the test ejabberd over ``transport``."""
    ca = {"NODE_EXTRA_CA_CERTS": str(server.ca_file)}
    if transport == "websocket":
        ws = urlsplit(server.ws_url)
        # The SDK takes the XMPP domain from the URL host: use the domain, not an IP.
        return {}, f"ws://{server.domain}:{ws.port}{ws.path}"
    if transport == "tcp":
        return {"CUBE_TCP_ENABLE": "1", **ca}, f"xmpp://{server.domain}:{server.c2s_port}"
    if transport == "tls":
        return {"CUBE_TLS_ENABLE": "1", **ca}, f"xmpps://{server.domain}:{server.c2s_tls_port}"
    raise ValueError(transport)


@pytest.fixture
def make_sdk(node: None, ejabberd: Ejabberd) -> Iterator[Callable[[CubeUser, str], SdkPeer]]:
    """Factory: an SDK process logged in as ``user`` over ``transport``."""
    peers: list[SdkPeer] = []

    def make(user: CubeUser, transport: str) -> SdkPeer:
        env, chat_url = sdk_env(ejabberd, transport)
        peer = SdkPeer(env)
        peers.append(peer)
        assert peer.sdk_version == SDK_VERSION, f"the harness loaded SDK {peer.sdk_version}"
        peer.init_chat(
            appId=APP_ID,
            chatHost=ejabberd.domain,
            chatUrl=chat_url,
            streamManagement=transport == "websocket",
        )
        peer.connect(user.user_id, user.password)
        return peer

    yield make
    for peer in peers:
        peer.close()


@pytest.fixture
def make_ours(ejabberd: Ejabberd) -> Iterator[Callable[[CubeUser, str], OurPeer]]:
    """Factory: our client logged in as ``user`` over ``transport``."""
    peers: list[OurPeer] = []

    def make(user: CubeUser, transport: str) -> OurPeer:
        peer = OurPeer(ejabberd, user, transport)
        peers.append(peer)
        return peer.start()

    yield make
    for peer in peers:
        peer.close()


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """The chat transport of both peers."""
    return str(request.param)


class Pair:
    """The SDK user and our user of one test, with their accounts."""

    def __init__(self, sdk: SdkPeer, sdk_user: CubeUser, ours: OurPeer, transport: str) -> None:
        self.sdk = sdk
        self.sdk_user = sdk_user
        self.ours = ours
        self.transport = transport

    @property
    def sdk_id(self) -> int:
        return self.sdk_user.user_id

    @property
    def our_id(self) -> int:
        return self.ours.user_id


@pytest.fixture
def pair(
    transport: str,
    ejabberd_user: Callable[[], CubeUser],
    make_sdk: Callable[[CubeUser, str], SdkPeer],
    make_ours: Callable[[CubeUser, str], OurPeer],
) -> Pair:
    """An SDK user and our user, both logged in over ``transport``."""
    sdk_user, our_user = ejabberd_user(), ejabberd_user()
    ours = make_ours(our_user, transport)
    sdk = make_sdk(sdk_user, transport)
    return Pair(sdk, sdk_user, ours, transport)
