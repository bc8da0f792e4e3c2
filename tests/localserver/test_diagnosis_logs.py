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
from cubeproto.rest import ApiError
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
    # connect() gives up on a first failure: no record may promise a retry
    assert not any("reconnecting in" in line for line in logged), logged


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


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize(
    "transport", [Transport.TCP, Transport.WEBSOCKET], ids=["starttls", "websocket"]
)
def test_wire_trace_shows_the_stream_and_hides_the_password(
    adapter: str, transport: Transport, cube_user: NewUser, caplog: pytest.LogCaptureFixture
) -> None:
    """With ``cubeproto.wire`` at DEBUG, every frame is logged both ways (over WebSocket
    as XML, not frames); the PLAIN payload (user, password) appears in no record."""
    import base64

    caplog.set_level(logging.DEBUG, logger="cubeproto.wire")
    user = cube_user()
    config = user.chat_config(transport, mechanisms=("PLAIN",))
    kwargs: dict[str, Any] = {
        "host": user.server.info.host,
        "port": user.server.port_for(transport),
        "ca_file": user.server.info.ca_file,
    }
    if adapter == "blocking":
        with ChatClient(config, **kwargs) as client:
            client.ping()
    else:

        async def run() -> None:
            async with AsyncChatClient(config, **kwargs) as client:
                await client.ping()

        anyio.run(run, backend=adapter)
    wire = [r.getMessage() for r in caplog.records if r.name == "cubeproto.wire"]
    joined = "\n".join(wire)
    secret = base64.b64encode(f"\0{user.id}-{user.app.id}\0{user.password}".encode()).decode()
    assert secret not in joined and user.password not in joined
    assert any(">> <auth " in line and "[redacted]</auth>" in line for line in wire), joined
    assert any("<< " in line and "<success" in line for line in wire), joined
    assert any(">> " in line and "urn:xmpp:ping" in line for line in wire), joined
    if transport is Transport.WEBSOCKET:
        assert any(">> <open " in line for line in wire), joined


def test_rest_calls_are_logged_with_status_and_no_credentials(
    cube_user: NewUser,
    cube_rest_client: Callable[[CubeUser], BlockingRestClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``cubeproto.rest``: each exchange with its method, path, status and time; a refused
    one at WARNING; neither the password nor the session token in any record."""
    caplog.set_level(logging.DEBUG, logger="cubeproto.rest")
    alice = cube_user()
    rest = cube_rest_client(alice)
    rest.call(R.list_dialogs(base_url=alice.api_url))
    token = rest.session.token
    assert token is not None
    with pytest.raises(ApiError):
        rest.call(R.list_messages("0" * 24, base_url=alice.api_url))
    lines = [
        f"{r.levelname} {r.getMessage()}" for r in caplog.records if r.name == "cubeproto.rest"
    ]
    joined = "\n".join(lines)
    assert token not in joined and alice.password not in joined
    assert any(
        line.startswith("DEBUG POST ") and "/session.json -> 201 in " in line for line in lines
    ), joined
    assert any(
        line.startswith("DEBUG GET ") and "/chat/Dialog.json -> 200" in line for line in lines
    )
    assert any(line.startswith("WARNING GET ") and "-> 4" in line for line in lines), joined


def test_a_deliberate_disconnect_is_no_warning(
    cube_user: NewUser, cube_chat_client: NewChat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="cubeproto")
    client = cube_chat_client(cube_user())
    client.disconnect()
    assert records(caplog) == []
    infos = records(caplog, logging.INFO)
    assert any("cubeproto.connection INFO" in line and "connected as" in line for line in infos)
    assert any(
        "cubeproto.reconnect INFO" in line and "closed by this client" in line for line in infos
    )
