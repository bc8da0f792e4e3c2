"""Fixtures of the SDK conformance tests: the official JS SDK and our client as peers of the
real test ejabberd, and of our local server (``cubeproto serve``, in its own process).

Tests skip only where Node (or its packages) cannot be had, and fail instead when the ``CI``
environment variable is set, so that CI can never go green by skipping them.
"""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from cubeproto.transports.http_blocking import (  # type: ignore[import-not-found,unused-ignore]
    BlockingRestClient,
)
from ejabberd_server import APP_ID, CubeUser, Ejabberd

from cubeproto.rest.requests import LoginPassword
from cubeproto.rest.session import Credentials

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


# -- our local server -----------------------------------------------------------------------

LOCAL_APP_ID = 42
LOCAL_AUTH_KEY = "sdk-conformance-key"
LOCAL_USERS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}


@dataclass(frozen=True)
class Local:
    """The running local server: endpoints (the ``ChatServer`` protocol of ourpeer) and users."""

    domain: str
    ws_url: str
    c2s_port: int
    c2s_tls_port: int
    api_url: str
    ca_file: str
    users: dict[str, CubeUser]

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def sdk_env(self, transport: str) -> tuple[dict[str, str], str]:
        """Environment and chat URL that point the SDK at this server over ``transport``."""
        ca = {"NODE_EXTRA_CA_CERTS": self.ca_file}
        if transport == "websocket":
            return {}, self.ws_url
        if transport == "tcp":
            return {"CUBE_TCP_ENABLE": "1", **ca}, f"xmpp://{self.domain}:{self.c2s_port}"
        if transport == "tls":
            return {"CUBE_TLS_ENABLE": "1", **ca}, f"xmpps://{self.domain}:{self.c2s_tls_port}"
        raise ValueError(transport)


@pytest.fixture(scope="session")
def local(node: None) -> Iterator[Local]:
    """``cubeproto serve`` as the console script runs it, on free loopback ports, with the
    accounts of :data:`LOCAL_USERS` (shared by every test: tests make their own dialogs)."""
    users = [arg for name, pw in LOCAL_USERS.items() for arg in ("--user", f"{name}:{pw}")]
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "cubeproto.transports.localserver.cli", "serve",
            "--xmpp-port", "0", "--tls-port", "0", "--ws-port", "0", "--http-port", "0",
            "--app-id", str(LOCAL_APP_ID), "--auth-key", LOCAL_AUTH_KEY, *users,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not any(line.startswith("chat domain") for line in lines):
            line = proc.stdout.readline()
            if not line:
                pytest.fail(f"cubeproto serve did not start: {''.join(lines)}", pytrace=False)
            lines.append(line)
        text = "".join(lines)
        ids = dict(re.findall(r"user (\w+): id (\d+)", text))
        xmpp, tls, ws, api = re.search(
            r"STARTTLS\) [\d.]+:(\d+), direct TLS :(\d+), WebSocket ws://[\d.]+:(\d+)/ws, "
            r"REST (http://\S+)",
            text,
        ).groups()  # type: ignore[union-attr]
        domain, ca = re.search(r"chat domain (\S+); CA certificate (\S+)", text).groups()  # type: ignore[union-attr]
        yield Local(
            domain=domain,
            ws_url=f"ws://{domain}:{ws}/ws",
            c2s_port=int(xmpp),
            c2s_tls_port=int(tls),
            api_url=api,
            ca_file=ca,
            users={
                name: CubeUser(
                    user_id=int(uid),
                    app_id=LOCAL_APP_ID,
                    password=LOCAL_USERS[name],
                    domain=domain,
                )
                for name, uid in ids.items()
            },
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def local_sdk(local: Local) -> Iterator[Callable[..., SdkPeer]]:
    """Factory: an SDK process with a REST user session as ``name`` and (unless
    ``chat=False``) a chat connection over ``transport``."""
    peers: list[SdkPeer] = []

    def make(name: str, transport: str = "websocket", *, chat: bool = True) -> SdkPeer:
        env, chat_url = local.sdk_env(transport)
        peer = SdkPeer(env)
        peers.append(peer)
        assert peer.sdk_version == SDK_VERSION, f"the harness loaded SDK {peer.sdk_version}"
        peer.init_chat(
            appId=LOCAL_APP_ID,
            authKey=LOCAL_AUTH_KEY,
            chatHost=local.domain,
            chatUrl=chat_url,
            apiUrl=local.api_url,
            streamManagement=transport == "websocket",
        )
        user = local.users[name]
        session = peer.call("createSession", {"login": name, "password": user.password})
        assert session["user_id"] == user.user_id
        if chat:
            peer.connect(user.user_id, user.password)
        return peer

    yield make
    for peer in peers:
        peer.close()


@pytest.fixture
def alice(local_sdk: Callable[..., SdkPeer]) -> SdkPeer:
    """The SDK as alice, with a REST session and a chat connection over WebSocket."""
    return local_sdk("alice")


@pytest.fixture
def bob(local: Local) -> Iterator[OurPeer]:
    """Our chat client as bob, over TCP with STARTTLS."""
    peer = OurPeer(local, local.users["bob"], "tcp").start()
    yield peer
    peer.close()


@pytest.fixture
def rest_as(local: Local) -> Iterator[Callable[[str], BlockingRestClient]]:
    """Factory: our blocking REST client (its own session) signed in as ``name``."""
    clients: list[BlockingRestClient] = []

    def make(name: str) -> BlockingRestClient:
        credentials = Credentials(
            application_id=LOCAL_APP_ID,
            auth_key=LOCAL_AUTH_KEY,
            user=LoginPassword(login=name, password=local.users[name].password),
        )
        client = BlockingRestClient.connect(credentials, base_url=local.api_url)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
