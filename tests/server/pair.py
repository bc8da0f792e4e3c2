"""An in-memory pair: our ClientConnection talking to our ServerConnection.

Both are the real objects; the harness only moves bytes between them and performs the
two protocol steps that belong to adapters (the STARTTLS handshake step, answering a
``<resume/>`` from a session registry).  No TLS really happens in memory: both sides are
told the handshake finished, which is exactly the call sequence an adapter makes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cubeproto import Event
from cubeproto._connection import ClientConnection
from cubeproto._server_connection import (
    DetachedSession,
    ResumeRequested,
    ServerConfig,
    ServerConnection,
    ServerTransport,
    TlsRequested,
    UserAuth,
    make_user_auth,
)
from cubeproto.config import ClientConfig, Transport
from cubeproto.events import TlsUpgradeRequired

APP = 105
USER = 777
PEER = 78
DOMAIN = "localhost"
PASSWORD = "s3cret!"

_AUTH_CACHE: dict[str, UserAuth] = {}


def user_auth(password: str = PASSWORD) -> UserAuth:
    """Credentials (4096 iterations, scramp's minimum), derived once per password."""
    if password not in _AUTH_CACHE:
        _AUTH_CACHE[password] = make_user_auth(password, salt=b"0123456789abcdef", iterations=4096)
    return _AUTH_CACHE[password]


def entropy(seed: int) -> Callable[[int], bytes]:
    return random.Random(seed).randbytes


def users(username: str) -> UserAuth | None:
    return user_auth() if username in (f"{USER}-{APP}", f"{PEER}-{APP}") else None


def server_config(**overrides: Any) -> ServerConfig:
    base: dict[str, Any] = dict(
        domain=DOMAIN,
        entropy=entropy(1),
        authenticate=users,
        transport=ServerTransport.TCP,
    )
    base.update(overrides)
    return ServerConfig(**base)


_SERVER_FOR = {
    Transport.TCP: ServerTransport.TCP,
    Transport.DIRECT_TLS: ServerTransport.DIRECT_TLS,
    Transport.WEBSOCKET: ServerTransport.WEBSOCKET,
    Transport.SECURE_WEBSOCKET: ServerTransport.SECURE_WEBSOCKET,
}


def client_config(**overrides: Any) -> ClientConfig:
    base: dict[str, Any] = dict(
        app_id=APP,
        user_id=USER,
        password=PASSWORD,
        chat_host=DOMAIN,
        entropy=entropy(2),
        wall_clock=lambda: 1_700_000_000.0,
        transport=Transport.TCP,
    )
    base.update(overrides)
    return ClientConfig(**base)


@dataclass
class Pair:
    client: ClientConnection
    server: ServerConnection
    client_events: list[Event] = field(default_factory=list)
    server_events: list[Event] = field(default_factory=list)
    #: Detached sessions by resume id (the application's registry).
    registry: dict[str, DetachedSession] = field(default_factory=dict)
    now: float = 0.0
    wire_to_server: list[bytes] = field(default_factory=list)

    def pump(self, rounds: int = 50) -> None:
        """Move bytes both ways until neither side has anything to say."""
        for _ in range(rounds):
            moved = False
            out = self.client.data_to_send()
            if out:
                moved = True
                self.wire_to_server.append(out)
                self.server.receive_data(out, now=self.now)
            self._server_events()
            back = self.server.data_to_send()
            if back:
                moved = True
                self.client.receive_data(back, now=self.now)
            self._client_events()
            if not moved:
                return
        raise AssertionError("the pair did not settle")

    def _server_events(self) -> None:
        while (event := self.server.next_event()) is not None:
            self.server_events.append(event)
            if isinstance(event, TlsRequested):
                self.server.tls_established(now=self.now)
            elif isinstance(event, ResumeRequested):
                session = self.registry.get(event.previd)
                if session is not None and session.username == event.username:
                    self.server.accept_resume(session, now=self.now)
                else:
                    self.server.refuse_resume(now=self.now)

    def _client_events(self) -> None:
        while (event := self.client.next_event()) is not None:
            self.client_events.append(event)
            if isinstance(event, TlsUpgradeRequired):
                self.client.tls_established(now=self.now)


def connect(
    client_cfg: ClientConfig | None = None,
    server_cfg: ServerConfig | None = None,
    *,
    resume: Any = None,
    registry: dict[str, DetachedSession] | None = None,
) -> Pair:
    """Start both sides and run the negotiation to its end."""
    ccfg = client_cfg or client_config()
    scfg = server_cfg or server_config(transport=_SERVER_FOR[ccfg.transport])
    pair = Pair(ClientConnection(ccfg, resume=resume), ServerConnection(scfg))
    if registry is not None:
        pair.registry = registry
    pair.server.start(now=0.0)
    pair.client.start(now=0.0)
    pair.pump()
    return pair


def of_type(events: list[Event], cls: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, cls)]
