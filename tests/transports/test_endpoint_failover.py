"""Where a client connects.  A first connection over several endpoints (real sockets on
loopback, nothing listening): each endpoint is tried once, at once, before ``connect()``
raises; every log record and the final error name the endpoint that failed (before, they
named the next one: the client had already moved on when the failure was reported).  And
the arguments ``srv=True`` refuses before any byte is sent."""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time

import anyio
import pytest
from cubeproto.transports.anyio_chat import AsyncChatClient
from cubeproto.transports.blocking_chat import ChatClient
from cubeproto.transports.errors import ConnectFailed

from cubeproto import ClientConfig, Transport
from cubeproto.errors import LocalProtocolError
from cubeproto.reconnect import Endpoint


def closed_ports(count: int) -> list[int]:
    """Loopback ports nothing listens on (bound together, then released)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def config() -> ClientConfig:
    return ClientConfig(
        app_id=42,
        user_id=1001,
        password="pw",
        chat_host="localhost",
        entropy=os.urandom,
        wall_clock=time.time,
    )


def refused(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage().split(":", 2)[1]
        for r in caplog.records
        if r.name == "cubeproto.reconnect" and "could not connect" in r.getMessage()
    ]


def test_blocking_client_tries_every_endpoint_then_names_the_last(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ports = closed_ports(3)
    endpoints = [Endpoint("127.0.0.1", port) for port in ports]
    caplog.set_level(logging.INFO, logger="cubeproto")
    client = ChatClient(config(), endpoints=endpoints)
    with pytest.raises(ConnectFailed, match=r"could not connect to 127\.0\.0\.1:") as caught:
        client.connect()
    tried = [int(port) for port in refused(caplog)]
    first = ports.index(tried[0])  # the start is drawn at random; then in order
    assert tried == ports[first:] + ports[:first]
    assert f"127.0.0.1:{tried[-1]}: connection refused" in str(caught.value)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_client_tries_every_endpoint_then_names_the_last(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    ports = closed_ports(2)
    endpoints = [Endpoint("127.0.0.1", port) for port in ports]
    caplog.set_level(logging.INFO, logger="cubeproto")

    async def main() -> None:
        client = AsyncChatClient(config(), endpoints=endpoints)
        with pytest.raises(ConnectFailed, match=r"could not connect to 127\.0\.0\.1:") as caught:
            await client.connect()
        tried = [int(port) for port in refused(caplog)]
        assert sorted(tried) == sorted(ports)
        assert f"127.0.0.1:{tried[-1]}: connection refused" in str(caught.value)

    anyio.run(main, backend=backend)


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"chat_host": "a" * 64 + ".test"}, "is not a domain name"),
        ({"chat_host": "x." * 130 + "test"}, "longer than a domain name"),
    ],
)
def test_srv_for_a_name_no_query_can_carry_is_refused_at_once(
    changes: dict[str, str], why: str
) -> None:
    config_ = dataclasses.replace(config(), **changes)
    for client_type in (ChatClient, AsyncChatClient):
        with pytest.raises(LocalProtocolError, match=why):
            client_type(config_, srv=True)


def test_srv_excludes_host_port_endpoints_and_websocket() -> None:
    with pytest.raises(LocalProtocolError, match="give no host, port or endpoints"):
        ChatClient(config(), srv=True, host="127.0.0.1")
    with pytest.raises(LocalProtocolError, match="XEP-0156"):
        ChatClient(dataclasses.replace(config(), transport=Transport.WEBSOCKET), srv=True)
    with pytest.raises(LocalProtocolError, match="give srv=True"):
        ChatClient(config(), nameservers=[("127.0.0.1", 53)])
