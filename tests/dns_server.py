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


class Dnsmasq:
    """One dnsmasq on 127.0.0.1:``port`` (:func:`dnsmasq` makes it); :meth:`reconfigure`
    restarts it there with other records, as a zone's records change."""

    def __init__(self, binary: str, folder: Path, port: int) -> None:
        self.binary = binary
        self.folder = folder
        self.address = ("127.0.0.1", port)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, config_lines: Sequence[str], local: Sequence[str] = ()) -> bool:
        """Start with these records; whether it answers (False: the port was taken)."""
        conf = self.folder / "dnsmasq.conf"
        lines = [*config_lines, *(f"local=/{name}/" for name in local)]
        conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        conf.chmod(0o644)
        self.process = subprocess.Popen(
            [
                self.binary,
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                "--listen-address=127.0.0.1",
                f"--port={self.address[1]}",
                f"--conf-file={conf}",
                "--pid-file=",
                "--log-facility=-",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return _answers(self.address, self.process)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def reconfigure(self, config_lines: Sequence[str], local: Sequence[str] = ()) -> None:
        """The zone changed: the same server (address) answers with these records."""
        self.stop()
        for _ in range(50):  # the port is free again once the old process is gone
            if self.start(config_lines, local):
                return
            self.stop()
            time.sleep(0.1)
        raise RuntimeError(f"dnsmasq did not come back on port {self.address[1]}")


@contextmanager
def dnsmasq(config_lines: Sequence[str], *, local: Sequence[str] = ()) -> Iterator[Dnsmasq]:
    """Run dnsmasq with ``config_lines`` (dnsmasq.conf syntax: ``srv-host=...``) and
    ``local=/name/`` for each of ``local``; yields it (``.address`` is where it
    answers)."""
    binary = dnsmasq_binary()
    with tempfile.TemporaryDirectory(prefix="dnsmasq-") as folder:
        for _ in range(5):  # the free port may be taken between the probe and dnsmasq
            server = Dnsmasq(binary, Path(folder), _free_udp_port())
            try:
                if server.start(config_lines, local):
                    yield server
                    return
            finally:
                server.stop()
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
