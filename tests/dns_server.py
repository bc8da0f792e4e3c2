"""A real DNS server for the SRV lookup tests: dnsmasq on 127.0.0.1, on a free UDP port,
authoritative for the names it is given (``local=``: anything else under them is
NXDOMAIN), with no upstream (``no-resolv``) and no ``/etc/hosts`` (``no-hosts``).

``make test`` installs dnsmasq (``scripts/dns-deps.sh``, Debian's ``dnsmasq-base``: the
binary alone, no system service).  Without it the tests that need it skip, and under
``CI`` they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from cubeproto.config import Transport
from cubeproto.srv import SrvLookup

#: How long dnsmasq may take to answer its first query.
START_SECONDS = 10.0


def dnsmasq_binary() -> str:
    """The dnsmasq executable; skips (fails under CI) when it is not installed."""
    found = shutil.which("dnsmasq") or shutil.which("dnsmasq", path="/usr/sbin:/sbin")
    if found is None:
        reason = "dnsmasq is not installed (scripts/dns-deps.sh installs dnsmasq-base)"
        if os.environ.get("CI"):
            pytest.fail(f"required under CI: {reason}", pytrace=False)
        pytest.skip(reason)
    return found


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def dnsmasq(config_lines: Sequence[str], *, local: Sequence[str] = ()) -> Iterator[tuple[str, int]]:
    """Run dnsmasq with ``config_lines`` (dnsmasq.conf syntax: ``srv-host=...``) and
    ``local=/name/`` for each of ``local``; yields the ``(address, port)`` it answers on."""
    binary = dnsmasq_binary()
    with tempfile.TemporaryDirectory(prefix="dnsmasq-") as folder:
        conf = Path(folder) / "dnsmasq.conf"
        lines = [*config_lines, *(f"local=/{name}/" for name in local)]
        conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        conf.chmod(0o644)
        for _ in range(5):  # the free port may be taken between the probe and dnsmasq
            port = _free_udp_port()
            process = subprocess.Popen(
                [
                    binary,
                    "--keep-in-foreground",
                    "--no-resolv",
                    "--no-hosts",
                    "--bind-interfaces",
                    "--listen-address=127.0.0.1",
                    f"--port={port}",
                    f"--conf-file={conf}",
                    "--pid-file=",
                    "--log-facility=-",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            try:
                if _answers(("127.0.0.1", port), process):
                    yield ("127.0.0.1", port)
                    return
            finally:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        raise RuntimeError("dnsmasq did not start on a free port in 5 tries")


def _answers(server: tuple[str, int], process: subprocess.Popen[bytes]) -> bool:
    """Whether dnsmasq answers a query (any answer) before it exits or time runs out."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        lookup = SrvLookup("probe.invalid", Transport.TCP, [server], entropy=os.urandom, rounds=1)
        query = lookup.next_query()
        assert query is not None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.settimeout(0.2)
            try:
                udp.sendto(query.datagram, server)
                udp.recv(4096)
            except OSError:
                continue
            return True
    return False
