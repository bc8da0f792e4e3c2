"""Issue 14 A: a user diagnoses a wrong CA, a wrong password, a server down and a message
refused from the log records alone (and from ConnectFailed's one-sentence message), on
every adapter, against the local server over real sockets and real TLS."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
import trustme
from cubeproto.transports.anyio_chat import AsyncChatClient
from cubeproto.transports.blocking_chat import ChatClient
from cubeproto.transports.errors import ConnectFailed
from cubeproto.transports.http_blocking import BlockingRestClient
from cubeproto.transports.localserver.testing import CubeUser, LocalChatClient

from cubeproto import Transport
from cubeproto.chat import MessageBounced
from cubeproto.reconnect import ReconnectPolicy
from cubeproto.rest import requests as R

NewUser = Callable[..., CubeUser]
NewChat = Callable[..., LocalChatClient]

ADAPTERS = ["blocking", "asyncio", "trio"]


def attempt(adapter: str, user: CubeUser, transport: Transport, **options: Any) -> ConnectFailed:
    """Connect once (no retry) with ``options``; return the ConnectFailed it must raise."""
    config_overrides = options.pop("config", {})
    config = user.chat_config(transport, **config_overrides)
    kwargs: dict[str, Any] = {
        "host": user.server.info.host,
        "port": user.server.port_for(transport),
        "ca_file": user.server.info.ca_file,
        "policy": ReconnectPolicy(enabled=False),
        "connect_timeout": 10.0,
    }
    kwargs.update(options)
    if adapter == "blocking":
        with pytest.raises(ConnectFailed) as caught:
            ChatClient(config, **kwargs).connect()
        return caught.value

    async def run() -> ConnectFailed:
        with pytest.raises(ConnectFailed) as caught:
            async with AsyncChatClient(config, **kwargs):
                pass
        return caught.value

    return anyio.run(run, backend=adapter)


def records(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[str]:
    return [
        f"{r.name} {r.levelname} {r.getMessage()}"
        for r in caplog.records
        if r.name.startswith("cubeproto.") and r.levelno >= level
    ]


@pytest.fixture
def other_ca(tmp_path: Path) -> Path:
    """A CA that did not sign the local server's certificate."""
    path = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return path


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize(
    "transport", [Transport.TCP, Transport.DIRECT_TLS], ids=["starttls", "direct-tls"]
)
def test_wrong_ca(
    adapter: str,
    transport: Transport,
    cube_user: NewUser,
    other_ca: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="cubeproto")
    failure = attempt(adapter, cube_user(), transport, ca_file=other_ca)
    assert "CERTIFICATE_VERIFY_FAILED" in str(failure), str(failure)
    assert "\n" not in str(failure) and "Disconnected(" not in str(failure)
    logged = records(caplog)
    assert any("CERTIFICATE_VERIFY_FAILED" in line for line in logged), logged
    if transport is Transport.TCP:  # over STARTTLS the close says negotiation failed
        assert "TLS handshake failed" in str(failure), str(failure)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_wrong_password(adapter: str, cube_user: NewUser, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cubeproto")
    failure = attempt(adapter, cube_user(), Transport.TCP, config={"password": "not-the-password"})
    assert "not-authorized" in str(failure), str(failure)
    logged = records(caplog, logging.ERROR)
    assert any(
        line.startswith("cubeproto.connection ERROR")
        and "not-authorized" in line
        and "not accepted" in line
        for line in logged
    ), logged


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_server_down(adapter: str, cube_user: NewUser, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cubeproto")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    failure = attempt(adapter, cube_user(), Transport.TCP, port=port)
    assert "connection refused" in str(failure) and f"127.0.0.1:{port}" in str(failure), str(
        failure
    )
    logged = records(caplog)
    assert any(
        "cubeproto.reconnect" in line and "connection refused" in line and f":{port}" in line
        for line in logged
    ), logged


def test_message_refused(
    cube_user: NewUser,
    cube_chat_client: NewChat,
    cube_rest_client: Callable[[CubeUser], BlockingRestClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A message to a group the sender is not in is refused: the warning says which
    message, who refused it and why."""
    caplog.set_level(logging.INFO, logger="cubeproto")
    alice, bob, mallory = cube_user(), cube_user(), cube_user()
    group = cube_rest_client(alice).call(
        R.create_dialog(type=2, name="club", occupants_ids=[bob.id], base_url=alice.api_url)
    )
    chat = cube_chat_client(mallory)
    mid = chat.send_message(to_dialog=group.id, body="let me in")
    chat.wait_for(MessageBounced, message_id=mid)
    logged = records(caplog)
    assert any(
        line.startswith("cubeproto.delivery WARNING") and mid in line and "forbidden" in line
        for line in logged
    ), logged
