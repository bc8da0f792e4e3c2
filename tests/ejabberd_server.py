"""The real ejabberd of the integration tests: where it listens and how to change its state.

``scripts/ejabberd/start-ejabberd.sh`` owns the server: it installs the Debian package
when missing, makes a throw-away CA and server certificate, renders the config and starts a
loopback-only instance whose endpoints it writes to ``$EJABBERD_STATE_DIR/env``.
:func:`running_or_started` finds that server or runs the script; where ejabberd cannot be
had (not root, no apt-get) it *skips* the requesting tests with the script's reason, and
when the environment variable ``CI`` is set it *fails* them instead, so that CI can never go
green by skipping the real-server tests.

Accounts, roster items and rooms are made through ejabberd's HTTP admin API on the
loopback listener (``/api``, mod_http_api): one local HTTP request each (~10 ms), where an
``ejabberdctl`` call boots an Erlang VM (~0.3 s).

The fixtures themselves live in tests/conftest.py; this module holds the types, so that
tests can import them for annotations (``from ejabberd_server import Ejabberd, CubeUser``;
tests/ is on sys.path through its conftest).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import ssl
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
START_SCRIPT = REPO_ROOT / "scripts" / "ejabberd" / "start-ejabberd.sh"

#: ConnectyCube application id of every test account (JID local part ``{userId}-42``).
APP_ID = 42

#: Bound on the start script: a first run installs ejabberd (~15 s measured; apt mirrors vary).
START_TIMEOUT_S = 900.0

#: Bound on one admin API request to the local server.
API_TIMEOUT_S = 10.0
#: The Erlang cookie of the ejabberd user, with which a test reaches the node by RPC.
ERLANG_COOKIE = "/var/lib/ejabberd/.erlang.cookie"


class EjabberdError(Exception):
    """An admin command was refused by the test server (its JSON error is the message)."""


class AccountExists(EjabberdError):
    """``register`` was asked for a user name that is already taken."""


def _state_dir() -> Path:
    # The same default as start-ejabberd.sh: ${EJABBERD_STATE_DIR:-${TMPDIR:-/tmp}/ejabberd-test}
    explicit = os.environ.get("EJABBERD_STATE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("TMPDIR") or "/tmp") / "ejabberd-test"


def _reach_without_epmd(settings: dict[str, str]) -> tuple[str, ...]:
    """``erl`` options that reach a node listening on the fixed distribution port of its
    ``ejabberdctl.cfg`` (``ERL_DIST_PORT``: such a node registers with no epmd, so asking
    epmd finds nothing: ``{badrpc,nodedown}``), and that neither start an epmd (it would
    listen on every address) nor listen themselves (the port is the server's).  Empty
    without ``ERL_DIST_PORT`` (a cluster node's settings, whose epmd is found by the
    ``ERL_EPMD_PORT`` of the environment instead)."""
    port = settings.get("ERL_DIST_PORT")
    if not port:
        return ()
    return ("-erl_epmd_port", port, "-start_epmd", "false", "-dist_listen", "false")


def _read_env_file(path: Path) -> dict[str, str]:
    """Parse the ``KEY=VALUE`` lines the start script writes (no quoting is used there)."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and key and not key.startswith("#"):
            values[key.strip()] = value.strip()
    return values


@dataclass(frozen=True, slots=True, kw_only=True)
class CubeUser:
    """A registered test account: ConnectyCube user ``user_id`` of application ``app_id``."""

    user_id: int
    app_id: int
    password: str
    domain: str

    @property
    def username(self) -> str:
        """The JID local part, ``{userId}-{appId}`` as on ConnectyCube."""
        return f"{self.user_id}-{self.app_id}"

    @property
    def jid(self) -> str:
        """The bare JID, ``{userId}-{appId}@{domain}``."""
        return f"{self.username}@{self.domain}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Ejabberd:
    """Where the running test ejabberd listens, and fixture helpers that change its state.

    Connect to ``host`` (every listener binds loopback only) and verify TLS against
    ``ca_file`` with the server name ``domain``.
    """

    host: str
    domain: str
    muc_domain: str
    c2s_port: int
    """Plain TCP c2s; STARTTLS offered, not required."""
    c2s_tls_port: int
    """Direct TLS c2s (XEP-0368 style)."""
    http_port: int
    ws_url: str
    """RFC 7395 XMPP over WebSocket, subprotocol ``xmpp``."""
    api_url: str
    ca_file: Path
    """PEM of the throw-away CA that signed the server certificate."""
    ejabberdctl: Path
    """``ejabberdctl`` bound to this instance (run it as root)."""
    state_dir: Path

    @classmethod
    def from_env_file(cls, path: Path) -> Ejabberd:
        """Build from the endpoint file that start-ejabberd.sh writes."""
        env = _read_env_file(path)
        domain = env["XMPP_DOMAIN"]
        return cls(
            host=domain,
            domain=domain,
            muc_domain=env["XMPP_MUC_DOMAIN"],
            c2s_port=int(env["XMPP_C2S_PORT"]),
            c2s_tls_port=int(env["XMPP_C2S_TLS_PORT"]),
            http_port=int(env["XMPP_HTTP_PORT"]),
            ws_url=env["XMPP_WS_URL"],
            api_url=env["XMPP_API_URL"],
            ca_file=Path(env["XMPP_CA_FILE"]),
            ejabberdctl=Path(env["EJABBERDCTL"]),
            state_dir=path.parent,
        )

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts only the test CA (hostname checking on)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def api(self, command: str, **args: Any) -> Any:
        """Run one ejabberd admin command through the loopback HTTP API; return its JSON result.

        Raises :class:`EjabberdError` (``AccountExists`` for a taken user name) when the
        server refuses the command.
        """
        url = urlsplit(self.api_url)
        conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=API_TIMEOUT_S)
        try:
            conn.request(
                "POST",
                f"{url.path}/{command}",
                body=json.dumps(args),
                headers={"Content-Type": "application/json"},
            )
            response = conn.getresponse()
            body = response.read().decode("utf-8")
        finally:
            conn.close()
        result = json.loads(body) if body else None
        if response.status != 200:
            message = f"ejabberd {command}{args!r}: HTTP {response.status} {body}"
            if response.status == 409 and command == "register":
                raise AccountExists(message)
            raise EjabberdError(message)
        return result

    def ctl(self, *args: str) -> str:
        """Run the instance's ``ejabberdctl`` (for commands the HTTP API lacks); return stdout."""
        done = subprocess.run(
            [str(self.ejabberdctl), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise EjabberdError(f"ejabberdctl {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    def register(self, user: str, password: str) -> str:
        """Create account ``user@domain``; return its bare JID.

        Raises :class:`AccountExists` when the name is taken -- tests should take fresh
        names from the ``ejabberd_user`` factory instead of fixed ones.
        """
        self.api("register", user=user, host=self.domain, password=password)
        return f"{user}@{self.domain}"

    def add_roster_both(self, a: str | CubeUser, b: str | CubeUser) -> None:
        """Give users ``a`` and ``b`` (local parts or users) a mutual presence subscription.

        XEP-0012 last activity of another user needs it (``<subscription-required/>``
        otherwise).  Each appears in the other's roster with subscription ``both``.
        """
        local_a, local_b = _local_part(a), _local_part(b)
        for owner, contact in ((local_a, local_b), (local_b, local_a)):
            self.api(
                "add_rosteritem",
                localuser=owner,
                localhost=self.domain,
                user=contact,
                host=self.domain,
                nick=contact,
                group="",
                subs="both",
            )

    def create_room(self, name: str) -> str:
        """Create an unlocked, persistent MUC room ``name@muc_domain``; return its JID.

        Rooms joined before they exist stay locked until their owner configures them;
        pre-creating avoids that.  Persistent so that it outlives its occupants.
        """
        self.api("create_room", name=name, service=self.muc_domain, host=self.domain)
        self.api(
            "change_room_option",
            name=name,
            service=self.muc_domain,
            option="persistent",
            value="true",
        )
        return f"{name}@{self.muc_domain}"

    def forget_room_occupants(self, name: str) -> None:
        """Make the room ``name@muc_domain`` forget its occupants without telling them:
        its Erlang process is killed (``exit(Pid, kill)``: no terminate, no presence), as
        a node's SIGKILL does to the rooms it hosts.  A persistent room is restored empty
        from the database on the next stanza for it (its occupants' next groupchat bounces
        ``not-acceptable``); a non-persistent one is gone.  Through an Erlang RPC from a
        hidden node with the server's cookie (the admin API has no such command); the
        cookie goes to ``erl`` as a file in a private HOME, never on a command line."""
        settings = _read_env_file(self.state_dir / "ejabberdctl.cfg")
        node = settings["ERLANG_NODE"]
        home = Path(tempfile.mkdtemp(prefix="roomkill-"))
        (home / ".erlang.cookie").write_text(Path(ERLANG_COOKIE).read_text().strip())
        (home / ".erlang.cookie").chmod(0o400)
        script = (
            f"case rpc:call('{node}', mod_muc, find_online_room, "
            f'[<<"{name}">>, <<"{self.muc_domain}">>]) of '
            f"{{ok, Pid}} -> rpc:call('{node}', erlang, exit, [Pid, kill]), "
            'io:format("killed~n"); Other -> io:format("~p~n", [Other]) end, halt().'
        )
        try:
            done = subprocess.run(
                [
                    *("erl", "-sname", f"roomkill{os.getpid()}", "-hidden"),
                    *_reach_without_epmd(settings),
                    *("-noshell", "-eval", script),
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                env={**os.environ, "HOME": str(home)},
            )
        finally:
            shutil.rmtree(home, ignore_errors=True)
        if done.stdout.strip() != "killed":
            raise EjabberdError(f"room {name} not killed: {done.stdout}{done.stderr}")


def _local_part(user: str | CubeUser) -> str:
    return user.username if isinstance(user, CubeUser) else user.partition("@")[0]


def _answers(server: Ejabberd) -> bool:
    try:
        server.api("status")
    except (OSError, EjabberdError, ValueError):
        return False
    return True


def _unavailable(reason: str) -> NoReturn:
    """Skip the requesting tests, or fail them when running under CI."""
    if os.environ.get("CI"):
        pytest.fail(f"ejabberd is required under CI: {reason}", pytrace=False)
    pytest.skip(f"no ejabberd: {reason}")


def _running_server() -> Ejabberd | None:
    env_file = _state_dir() / "env"
    if not env_file.is_file():
        return None
    try:
        server = Ejabberd.from_env_file(env_file)
    except (KeyError, ValueError, OSError):
        return None
    return server if _answers(server) else None


def running_or_started() -> Ejabberd:
    """The running test server, started through the script when none answers."""
    return _running_server() or _start_server()


def _start_server() -> Ejabberd:
    """Run start-ejabberd.sh --if-possible; return the server or skip/fail with its reason."""
    if not os.access(START_SCRIPT, os.X_OK):
        _unavailable(f"{START_SCRIPT} is missing or not executable")
    try:
        done = subprocess.run(
            [str(START_SCRIPT), "--if-possible"],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
            check=False,
            env={**os.environ, "EJABBERD_STATE_DIR": str(_state_dir())},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{START_SCRIPT} did not finish in {START_TIMEOUT_S:.0f} s", pytrace=False)
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        pytest.fail(f"{START_SCRIPT} failed (exit {done.returncode}):\n{output}", pytrace=False)
    server = _running_server()
    if server is None:
        last = output.splitlines()[-1] if output else "the start script said nothing"
        _unavailable(last)
    return server
