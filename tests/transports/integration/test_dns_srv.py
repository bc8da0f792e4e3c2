"""DNS SRV lookup (``srv=True``), end to end: a real DNS server (dnsmasq on loopback,
:mod:`dns_server`) answers the client's lookup of ``_xmpp-client._tcp.localhost`` or
``_xmpps-client._tcp.localhost``, and the client logs in to the real ejabberd where the
answer sends it -- on every adapter, over STARTTLS and direct TLS.

What each outcome must do (RFC 6120 3.2.1, RFC 2782): targets are tried in priority order
(a dead first target costs one failed attempt, then the next serves); no record
(NXDOMAIN) and no usable answer fall back to the domain on the usual port; a ``.`` target
means no service, and ``connect()`` fails saying so.  Every outcome is logged on
``cubeproto.connection``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal
from conftest import Peer, make_config, port_for
from cubeproto.transports.anyio_chat import AsyncChatClient
from cubeproto.transports.blocking_chat import ChatClient
from cubeproto.transports.errors import ConnectFailed
from dns_server import dnsmasq
from ejabberd_server import CubeUser, Ejabberd
from faultproxy import FaultProxy

from cubeproto import Transport
from cubeproto.reconnect import Endpoint, Reconnected, ReconnectPolicy

NewUser = Callable[[], CubeUser]

SERVICES = {Transport.TCP: "_xmpp-client._tcp", Transport.DIRECT_TLS: "_xmpps-client._tcp"}


@pytest.fixture(params=["tcp-starttls", "direct-tls"])
def srv_transport(request: pytest.FixtureRequest) -> Transport:
    return Transport.TCP if request.param == "tcp-starttls" else Transport.DIRECT_TLS


def closed_port() -> int:
    """A loopback TCP port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def srv_client(
    adapter: str,
    ejabberd: Ejabberd,
    user: CubeUser,
    transport: Transport,
    nameserver: tuple[str, int],
) -> Iterator[Peer]:
    """A client of ``user`` that finds its server through SRV, asking ``nameserver``."""
    config = make_config(ejabberd, user, transport)
    kwargs: dict[str, Any] = {
        "srv": True,
        "nameservers": [nameserver],
        "ca_file": ejabberd.ca_file,
        "policy": ReconnectPolicy(floor=0.05, cap=0.5),
    }
    with contextlib.ExitStack() as stack:
        if adapter == "blocking":
            yield Peer(stack.enter_context(ChatClient(config, **kwargs)), None)
        else:
            portal = stack.enter_context(start_blocking_portal(adapter))
            client = stack.enter_context(
                portal.wrap_async_context_manager(AsyncChatClient(config, **kwargs))
            )
            yield Peer(client, portal)


def test_the_srv_targets_are_tried_in_priority_order(
    adapter: str,
    srv_transport: Transport,
    ejabberd: Ejabberd,
    ejabberd_user: NewUser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = f"{SERVICES[srv_transport]}.{ejabberd.domain}"
    dead, live = closed_port(), port_for(ejabberd, srv_transport)
    records = [f"srv-host={name},localhost,{dead},0,10", f"srv-host={name},localhost,{live},5,10"]
    caplog.set_level(logging.INFO, logger="cubeproto")
    with (
        dnsmasq(records) as dns,
        srv_client(adapter, ejabberd, ejabberd_user(), srv_transport, dns.address) as peer,
    ):
        peer.wait_connected(settled=True)
        assert peer.endpoint == Endpoint("localhost", live)
    found = [r.getMessage() for r in caplog.records if "SRV lookup" in r.getMessage()]
    assert found == [
        f"SRV lookup: {name} -> localhost:{dead}, localhost:{live} (from "
        f"{dns.address[0]}:{dns.address[1]})"
    ]
    # the dead target was tried first, and failed
    assert any(
        f"localhost:{dead}" in r.getMessage() and "refused" in r.getMessage().lower()
        for r in caplog.records
        if "SRV" not in r.getMessage()
    )


def test_without_a_record_the_client_falls_back_to_the_domain(
    adapter: str,
    srv_transport: Transport,
    ejabberd: Ejabberd,
    ejabberd_user: NewUser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # dnsmasq is authoritative for "localhost" and has no SRV record there: NXDOMAIN.
    # The fallback is localhost on the transport's usual port, where ejabberd listens.
    assert (ejabberd.c2s_port, ejabberd.c2s_tls_port) == (5222, 5223)
    caplog.set_level(logging.INFO, logger="cubeproto")
    with (
        dnsmasq([], local=[ejabberd.domain]) as dns,
        srv_client(adapter, ejabberd, ejabberd_user(), srv_transport, dns.address) as peer,
    ):
        peer.wait_connected(settled=True)
        assert peer.endpoint == Endpoint(ejabberd.domain, port_for(ejabberd, srv_transport))
    name = f"{SERVICES[srv_transport]}.{ejabberd.domain}"
    (record,) = [r for r in caplog.records if "SRV lookup" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        f"SRV lookup: {name} does not exist (NXDOMAIN from {dns.address[0]}:{dns.address[1]}); "
        f"connecting to {ejabberd.domain}:{port_for(ejabberd, srv_transport)}"
    )


def test_a_nameserver_that_does_not_answer_means_the_fallback(
    adapter: str, ejabberd: Ejabberd, ejabberd_user: NewUser, caplog: pytest.LogCaptureFixture
) -> None:
    silent = ("127.0.0.1", closed_port())  # nothing there: the query is refused (ICMP)
    caplog.set_level(logging.INFO, logger="cubeproto")
    with srv_client(adapter, ejabberd, ejabberd_user(), Transport.TCP, silent) as peer:
        peer.wait_connected(settled=True)
        assert peer.endpoint == Endpoint(ejabberd.domain, 5222)
    (record,) = [r for r in caplog.records if "SRV lookup" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(
        f"SRV lookup: no usable answer for _xmpp-client._tcp.{ejabberd.domain} "
        f"(127.0.0.1:{silent[1]}: "
    )


def test_a_dot_target_means_no_service_and_connect_fails_saying_so(
    adapter: str, ejabberd: Ejabberd, ejabberd_user: NewUser
) -> None:
    name = f"_xmpp-client._tcp.{ejabberd.domain}"
    with (
        dnsmasq([f"srv-host={name},."]) as dns,
        pytest.raises(ConnectFailed, match="offers no XMPP service here"),
        srv_client(adapter, ejabberd, ejabberd_user(), Transport.TCP, dns.address),
    ):
        pass


def test_after_failing_everywhere_the_client_looks_again_and_resumes_at_the_new_target(
    adapter: str, ejabberd: Ejabberd, ejabberd_user: NewUser, caplog: pytest.LogCaptureFixture
) -> None:
    # The zone first names a proxy A in front of ejabberd; the client connects through it.
    # Then the zone names proxy B instead, and A goes away: the client loses its session,
    # has failed at every target it knows, looks again, and resumes through B.
    name = f"_xmpp-client._tcp.{ejabberd.domain}"
    caplog.set_level(logging.INFO, logger="cubeproto")
    with (
        FaultProxy(ejabberd.c2s_port) as proxy_a,
        FaultProxy(ejabberd.c2s_port) as proxy_b,
        dnsmasq([f"srv-host={name},localhost,{proxy_a.port},0,0"]) as dns,
        srv_client(adapter, ejabberd, ejabberd_user(), Transport.TCP, dns.address) as peer,
    ):
        peer.wait_connected(settled=True)
        assert peer.endpoint == Endpoint("localhost", proxy_a.port)
        dns.reconfigure([f"srv-host={name},localhost,{proxy_b.port},0,0"])
        proxy_a.begin_outage(heal=True)  # A refuses new connections from now on
        assert proxy_a.cut_all() == 1  # and the client's is cut
        back = peer.wait_for(Reconnected)
        assert back.resumed
        assert peer.endpoint == Endpoint("localhost", proxy_b.port)
        assert proxy_b.connections == 1
    again = [r.getMessage() for r in caplog.records if "SRV lookup again" in r.getMessage()]
    assert again == [
        f"SRV lookup again: {name} -> localhost:{proxy_b.port} "
        f"(from {dns.address[0]}:{dns.address[1]})"
    ]
