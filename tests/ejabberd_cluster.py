"""The 2-node ejabberd cluster of the cluster tests: its nodes' endpoints, and killing a node.

``scripts/ejabberd/start-cluster.sh`` owns the cluster (two nodes sharing one replicated
database, beside the single test node: their own ports, state and epmd).  Each node's
state directory holds the same ``env`` file as the single node's, so each node is an
:class:`~ejabberd_server.Ejabberd`: tests connect to ``cluster.nodes[0]`` or ``[1]`` and
make accounts and rooms through either node's HTTP API (the database is shared).

:func:`running_or_started` finds the cluster or runs the script, and skips -- or fails,
under ``CI`` -- like the single node's fixture.  :meth:`Cluster.kill` SIGKILLs one node's
Erlang VM (a machine's sudden death, as far as the cluster and the clients can tell);
:meth:`Cluster.restore` starts it again (the script restarts a dead node on its own
database, and it rejoins by itself).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from ejabberd_server import REPO_ROOT, Ejabberd, EjabberdError, _read_env_file, _unavailable

START_SCRIPT = REPO_ROOT / "scripts" / "ejabberd" / "start-cluster.sh"

#: Bound on the start script: a first run may install ejabberd (~15 s), then starts and
#: joins two nodes (~15 s measured on a busy 2-core machine).
START_TIMEOUT_S = 900.0

#: Bound on waiting for a SIGKILLed VM to be gone.
KILL_WAIT_S = 30.0


def _cluster_dir() -> Path:
    # start-cluster.sh's default: ${EJABBERD_CLUSTER_DIR:-${TMPDIR:-/tmp}/ejabberd-cluster}
    explicit = os.environ.get("EJABBERD_CLUSTER_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("TMPDIR") or "/tmp") / "ejabberd-cluster"


@dataclass(frozen=True, slots=True)
class Cluster:
    """The running 2-node cluster: ``nodes[i]`` is node ``i + 1``; ``names[i]`` its
    Erlang node name (what ejabberd reports as a session's node)."""

    nodes: tuple[Ejabberd, Ejabberd]
    names: tuple[str, str]
    state_dir: Path

    @property
    def ca_file(self) -> Path:
        """One trust anchor for both nodes (they share node 1's certificate)."""
        return self.nodes[0].ca_file

    def any_node(self) -> Ejabberd:
        """A node that answers its HTTP API (for fixture commands while one is dead)."""
        for node in self.nodes:
            if _answers(node):
                return node
        raise EjabberdError("no node of the cluster answers")

    def members(self, index: int) -> set[str]:
        """The cluster's nodes as node ``index`` (0 or 1) lists them."""
        return set(self.nodes[index].api("list_cluster"))

    def is_whole(self) -> bool:
        """Both nodes answer and each lists both."""
        try:
            return all(self.members(i) >= set(self.names) for i in (0, 1))
        except (OSError, EjabberdError, ValueError):
            return False

    def vm_pid(self, index: int) -> int | None:
        """The PID of node ``index``'s Erlang VM (its database directory is on its command
        line), or ``None`` when it does not run."""
        mark = f'-mnesia dir "{self.nodes[index].state_dir / "spool"}"'
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "beam.smp" in cmdline and mark in cmdline:
                return int(entry.name)
        return None

    def kill(self, index: int) -> None:
        """SIGKILL node ``index``'s VM: no goodbye to its clients, its peer or its database.

        Returns once the VM is gone and the other node has noticed (no longer lists it as
        running; measured: within ~0.3 s), so that what a test does next meets the
        survivor's view of the cluster, not a moment of it.  Bounded waits."""
        pid = self.vm_pid(index)
        if pid is None:
            raise EjabberdError(f"node {index + 1} does not run")
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + KILL_WAIT_S
        while _alive(pid):
            if time.monotonic() > deadline:
                raise EjabberdError(f"node {index + 1} (pid {pid}) outlived SIGKILL")
            time.sleep(0.02)
        survivor = 1 - index
        while self.names[index] in self.members(survivor):
            if time.monotonic() > deadline:
                raise EjabberdError(f"node {survivor + 1} still lists node {index + 1}")
            time.sleep(0.02)

    def restore(self) -> None:
        """Make the cluster whole again (start a dead node; it rejoins by itself).

        A restarted node's ``erlang:unique_integer`` counts from the start again, which makes
        a session resumed on it in the same second as its login lose to the session it
        resumes (``conflict``); the tests that resume across nodes wait into the next second
        for that (see ``into_the_next_second`` in test_cluster.py), so a restart of the dead
        node is all it takes."""
        if not self.is_whole():
            _run_script()
            if not self.is_whole():
                raise EjabberdError("start-cluster.sh ran but the cluster is not whole")

    def session_nodes(self, jid: str) -> list[str]:
        """The Erlang node of each session of the bare ``jid``, e.g.
        ``["cubecluster2@localhost"]`` (ejabberd's session table)."""
        user, _, host = jid.partition("@")
        sessions = self.any_node().api("user_sessions_info", user=user, host=host)
        return [str(s["node"]) for s in sessions]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _answers(node: Ejabberd) -> bool:
    try:
        node.api("status")
    except (OSError, EjabberdError, ValueError):
        return False
    return True


def _load() -> Cluster | None:
    root = _cluster_dir()
    env_file = root / "env"
    if not env_file.is_file():
        return None
    try:
        env = _read_env_file(env_file)
        nodes = (
            Ejabberd.from_env_file(Path(env["CLUSTER_NODE1_ENV"])),
            Ejabberd.from_env_file(Path(env["CLUSTER_NODE2_ENV"])),
        )
        names = (env["CLUSTER_NODE1_NAME"], env["CLUSTER_NODE2_NAME"])
    except (KeyError, ValueError, OSError):
        return None
    return Cluster(nodes=nodes, names=names, state_dir=root)


def _run_script(*options: str) -> str:
    """Run start-cluster.sh --if-possible; fail the test when it fails; return its output."""
    if not os.access(START_SCRIPT, os.X_OK):
        _unavailable(f"{START_SCRIPT} is missing or not executable")
    try:
        done = subprocess.run(
            [str(START_SCRIPT), "--if-possible", *options],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
            check=False,
            env={**os.environ, "EJABBERD_CLUSTER_DIR": str(_cluster_dir())},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{START_SCRIPT} did not finish in {START_TIMEOUT_S:.0f} s", pytrace=False)
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        pytest.fail(f"{START_SCRIPT} failed (exit {done.returncode}):\n{output}", pytrace=False)
    return output


def running_or_started() -> Cluster:
    """The whole cluster, started (or a dead node restarted) through the script if needed;
    skips where ejabberd cannot be had, fails instead under ``CI``."""
    cluster = _load()
    if cluster is not None and cluster.is_whole():
        return cluster
    output = _run_script()
    cluster = _load()
    if cluster is None or not cluster.is_whole():
        last = output.splitlines()[-1] if output else "the start script said nothing"
        _unavailable(f"cluster: {last}")
    return cluster
