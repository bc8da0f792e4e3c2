"""The README's core-only example (examples/blocking_login.py) logs in to the real ejabberd
over plain blocking sockets, on STARTTLS and direct TLS, pings and closes cleanly."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from ejabberd_server import CubeUser, Ejabberd

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "blocking_login.py"


@pytest.mark.parametrize("port_name", ["c2s_port", "c2s_tls_port"])
def test_blocking_example_logs_in(
    ejabberd: Ejabberd, ejabberd_user: Callable[[], CubeUser], port_name: str
) -> None:
    user = ejabberd_user()
    port = getattr(ejabberd, port_name)
    out = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE),
            ejabberd.domain,
            str(port),
            str(user.user_id),
            str(user.app_id),
            user.password,
            str(ejabberd.ca_file),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    names = [line.split(" ", 1)[0] for line in lines]
    assert "Authenticated" in names and "Connected" in names and "PongReceived" in names
    assert names[-1] == "ConnectionClosed"
    assert "clean=True" in lines[-1]
    if port_name == "c2s_port":
        assert "TlsUpgradeRequired" in names


def test_wrong_password_is_a_typed_failure(
    ejabberd: Ejabberd, ejabberd_user: Callable[[], CubeUser]
) -> None:
    user = ejabberd_user()
    out = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE),
            ejabberd.domain,
            str(ejabberd.c2s_tls_port),
            str(user.user_id),
            str(user.app_id),
            "wrong-password",
            str(ejabberd.ca_file),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "AuthenticationFailed" in out.stdout and "not-authorized" in out.stdout
