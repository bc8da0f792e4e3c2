"""Suite-wide fixtures: the real ejabberd server of the integration tests.

``make servers`` starts it before pytest (scripts/ejabberd/start-ejabberd.sh); the
``ejabberd`` fixture starts it too when no server answers, so that ``pytest
tests/core/integration`` (or any test that takes the fixture) works on its own.  It skips
where ejabberd cannot be had (not root, no apt-get) and fails instead when ``CI`` is set.
See tests/ejabberd_server.py.

User names have ConnectyCube's form ``{userId}-{appId}`` with app id 42; the
``ejabberd_user`` factory hands out ids nobody holds yet, so tests never collide -- neither
with each other nor with accounts left by earlier runs in the same state directory.

The 2-node cluster of the cluster tests (scripts/ejabberd/start-cluster.sh, beside the
single node) is ``ejabberd_cluster`` (whole before and after each test: a node a test
killed is started again) with its own ``cluster_user`` factory; see tests/ejabberd_cluster.py.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import ejabberd_cluster as cluster_server
import pytest
from ejabberd_cluster import Cluster
from ejabberd_server import (
    APP_ID,
    AccountExists,
    CubeUser,
    Ejabberd,
    EjabberdError,
    running_or_started,
)
from hypothesis import settings

# CI machines are shared and noisy: a property's examples are never judged by how long they
# take (performance is measured in bench/, not here), so hypothesis gets no deadline.
settings.register_profile("cubeproto", deadline=None)
settings.load_profile("cubeproto")

#: Seconds any one test may run before the watchdog fails it.  Far above what any test
#: needs (the longest, the SIGKILL and black-hole runs, take a few minutes); it exists so
#: that a test waiting forever (an event that never comes, a peer that never answers)
#: fails with its own traceback instead of holding CI until its overall time limit.
#: ``@pytest.mark.watchdog(seconds)`` sets another bound for one test.
WATCHDOG_SECONDS = 900

#: This folder: the root of the paths the ``integration`` marking looks at.
_TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _watchdog(request: pytest.FixtureRequest) -> Iterator[None]:
    marker = request.node.get_closest_marker("watchdog")
    seconds = int(marker.args[0]) if marker is not None else WATCHDOG_SECONDS

    def fire(signum: int, frame: object) -> None:
        raise TimeoutError(f"{request.node.nodeid} ran over {seconds} s (tests/conftest.py)")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="session")
def ejabberd() -> Ejabberd:
    """The running test ejabberd (started through scripts/ejabberd when it is not up)."""
    return running_or_started()


#: User ids, one process-wide sequence from a time-based base.  The base makes a clash with
#: accounts of earlier runs unlikely; ``register`` refusing a taken name makes it impossible
#: (the factory then moves on to the next id).
_USER_IDS: Iterator[int] = itertools.count(10_000_000 + time.time_ns() // 1_000_000 % 10**9)

#: How many taken names the factory skips before giving up (it never needed one in practice).
MAX_REGISTER_ATTEMPTS = 100


@pytest.fixture
def ejabberd_user(ejabberd: Ejabberd) -> Callable[[], CubeUser]:
    """Factory: each call registers a brand-new account ``{userId}-42@domain`` and returns it.

    Passwords differ per user so that a test cannot log in as the wrong one by accident.
    """

    return lambda: _new_user(ejabberd)


def _new_user(server: Ejabberd) -> CubeUser:
    """Register a brand-new account on ``server`` (any node of a cluster)."""
    for _ in range(MAX_REGISTER_ATTEMPTS):
        user = CubeUser(
            user_id=next(_USER_IDS),
            app_id=APP_ID,
            password=f"pw-{os.urandom(6).hex()}",
            domain=server.domain,
        )
        try:
            server.register(user.username, user.password)
        except AccountExists:
            continue
        return user
    raise EjabberdError(f"no free user id after {MAX_REGISTER_ATTEMPTS} attempts")


@pytest.fixture(scope="session")
def ejabberd_session_cluster() -> Cluster:
    """The 2-node test cluster, started once (scripts/ejabberd/start-cluster.sh)."""
    return cluster_server.running_or_started()


@pytest.fixture
def ejabberd_cluster(ejabberd_session_cluster: Cluster) -> Iterator[Cluster]:
    """The 2-node cluster, whole at the start of the test and again after it: a node the
    test killed is started again (it rejoins by itself), so every test gets both nodes."""
    ejabberd_session_cluster.restore()
    yield ejabberd_session_cluster
    ejabberd_session_cluster.restore()


@pytest.fixture
def cluster_user(ejabberd_cluster: Cluster) -> Callable[[], CubeUser]:
    """Factory: a brand-new account on the cluster (registered through a node that answers;
    the nodes share their database, so it can log in on either)."""
    return lambda: _new_user(ejabberd_cluster.any_node())


@pytest.fixture
def ejabberd_room_name() -> Callable[[], str]:
    """Factory of MUC room names nobody used yet, ConnectyCube style ``42_{dialogId}``."""

    def make() -> str:
        return f"{APP_ID}_{os.urandom(12).hex()}"

    return make


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``integration`` (``-m 'not integration'``) every test that uses the real server,
    and every test in a folder named ``integration`` (``tests/<part>/integration/``: the
    tests of a part that talk to ejabberd, even those that only check what they will send)."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "ejabberd" in names or "ejabberd_cluster" in names or _in_integration_folder(item):
            item.add_marker(pytest.mark.integration)


def _in_integration_folder(item: pytest.Item) -> bool:
    path = Path(item.path).resolve()
    return path.is_relative_to(_TESTS) and "integration" in path.relative_to(_TESTS).parts[:-1]
