"""A receiver process killed with SIGKILL at random points resumes from its persisted
checkpoint: every message is handled exactly once, none is lost (issue 12).

The receiver is receiver_proc.py (in this folder), a real process running the real client
with ``app_controlled_acks=True``: it records each message in a real SQLite file
(``synchronous=FULL``) and confirms it only after the commit; the client keeps the
checkpoint file current (atomic rename + fsync).  It reaches ejabberd through the fault
proxy.  For each adapter (asyncio, trio, blocking: every receiver process of a run uses
it), the test sends 2,000 messages from an in-process client and kills the receiver 21
times at random message counts (and random instants within them: while it handles
messages, while it resumes); each replacement process resumes from the checkpoint the
dead one left.  About 26 s per adapter on the 2-core test machine.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import make_config
from cubeproto.transports.blocking_chat import ChatClient
from cubeproto.transports.errors import NotConnected
from ejabberd_server import CubeUser, Ejabberd
from faultproxy import FaultProxy

from cubeproto import MessageSent, Transport
from cubeproto.reconnect import ReconnectPolicy

pytestmark = pytest.mark.integration

NewUser = Callable[[], CubeUser]
MESSAGES = 2000
KILLS = 21
ADAPTERS = ("asyncio", "trio", "blocking")
RECEIVER = Path(__file__).with_name("receiver_proc.py")
#: Seconds a receiver process may take to start and connect or resume.
START_WAIT = 60.0


class Receiver:
    """One receiver process and the lines it prints."""

    def __init__(self, spec: dict[str, object], adapter: str) -> None:
        self.adapter = adapter
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(RECEIVER.parent), *sys.path])
        self.proc = subprocess.Popen(
            [sys.executable, str(RECEIVER), json.dumps({**spec, "adapter": adapter})],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def wait_line(self, prefix: str, timeout: float) -> str:
        """The first line (already seen ones count) starting with ``prefix``."""
        for line in self.seen:
            if line.startswith(prefix):
                return line
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is not None:
                self.seen.append(line)
            if line is None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"{self.adapter} receiver exited: {err[-3000:]}")
            if line.startswith(prefix):
                return line
        raise AssertionError(f"{self.adapter} receiver: no {prefix} within {timeout}s")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.kill()


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    started: list[Receiver] = []
    yield started
    for receiver in started:
        receiver.stop()


@pytest.mark.parametrize("receiver_adapter", ADAPTERS)
def test_sigkilled_receiver_resumes_from_its_checkpoint(
    ejabberd: Ejabberd,
    ejabberd_user: NewUser,
    tmp_path: Path,
    receivers: list[Receiver],
    receiver_adapter: str,
) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    kill_at = sorted(rng.sample(range(40, MESSAGES - 40), KILLS))
    with FaultProxy(ejabberd.c2s_port, seed=seed) as proxy:
        a, b = ejabberd_user(), ejabberd_user()
        db_path = tmp_path / "handled.sqlite"
        spec: dict[str, object] = {
            "host": "127.0.0.1",
            "port": proxy.port,
            "domain": ejabberd.domain,
            "ca_file": str(ejabberd.ca_file),
            "user_id": b.user_id,
            "app_id": b.app_id,
            "password": b.password,
            "sender_id": a.user_id,
            "db": str(db_path),
            "checkpoint": str(tmp_path / "checkpoint.json"),
            "expect": MESSAGES,
        }
        receivers.append(Receiver(spec, receiver_adapter))
        first = receivers[-1].wait_line("READY", START_WAIT)
        assert first.startswith("READY 0"), first  # a fresh session the first time

        config = make_config(ejabberd, a, Transport.TCP)
        policy = ReconnectPolicy(floor=0.05, cap=0.5)
        with ChatClient(
            config,
            ca_file=ejabberd.ca_file,
            policy=policy,
            host="127.0.0.1",
            port=ejabberd.c2s_port,
        ) as sender:
            sender.wait_connected(settled=True)
            ids: list[str] = []
            kills = 0
            for i in range(MESSAGES):
                while True:
                    try:
                        ids.append(sender.send_message(to_user=b.user_id, body=f"n{i}"))
                        break
                    except NotConnected:
                        sender.wait_connected(5.0)
                if kills < KILLS and i == kill_at[kills]:
                    # A random instant after message i was sent: the receiver is handling,
                    # confirming, writing its checkpoint or (just restarted) resuming.
                    time.sleep(rng.random() * 0.05)
                    receivers[-1].kill()
                    kills += 1
                    receivers.append(Receiver(spec, receiver_adapter))
                    if rng.random() < 0.7:  # else: killed again while it may be starting
                        receivers[-1].wait_line("READY", START_WAIT)
            last = receivers[-1]
            try:  # DONE: the last process handled all MESSAGES (else some were lost)
                last.wait_line("DONE", 120.0)
                done = last.proc.wait(30.0) == 0
            except AssertionError as exc:
                done = False
                print(exc)
            outcomes: collections.Counter[str] = collections.Counter()
            deadline = time.monotonic() + 60
            while sum(outcomes.values()) < MESSAGES and time.monotonic() < deadline:
                event = sender.next_event(1.0)
                if isinstance(event, MessageSent):
                    outcomes[event.message_id] += 1

        db = sqlite3.connect(db_path)
        handled = dict(db.execute("SELECT message_id, pid FROM handled").fetchall())
        redelivered = db.execute("SELECT message_id, pid FROM redelivered").fetchall()
        broken = db.execute("SELECT message_id FROM redelivered WHERE was_confirmed").fetchall()
        (confirmed,) = db.execute("SELECT count(*) FROM handled WHERE confirmed").fetchone()
        runs = db.execute("SELECT pid, adapter, resumed FROM runs").fetchall()
        db.close()
        same_process = [(m, p) for m, p in redelivered if handled.get(m) == p]
        per_adapter = collections.Counter(
            (adapter, "resumed" if resumed else "fresh") for _, adapter, resumed in runs
        )
        counts = {
            "seed": seed,
            "messages": len(ids),
            "kills": kills,
            "processes": len(receivers),
            "received": len(handled),
            "confirmed": confirmed,
            # Redeliveries to a new process of messages the dead one had handled but not
            # confirmed yet (its database absorbs them: each is handled once).
            "duplicated": len(redelivered),
            "duplicated_after_confirmation": len(broken),
            "duplicated_same_process": len(same_process),
            "lost": len(set(ids) - set(handled)),
            "outcome_MessageSent": len(outcomes),
            **{f"runs_{k[0]}_{k[1]}": n for k, n in sorted(per_adapter.items())},
            **proxy.counts(),
        }
        print(f"\nSIGKILL {receiver_adapter}: {counts}")
        context = repr(counts)
        assert kills == KILLS, context
        assert done, context
        assert set(handled) == set(ids), context  # none lost, nothing foreign
        assert same_process == [], context  # one life never gets a message twice
        assert broken == [], context  # a confirmed message never comes again
        # Each redelivery (to a new process) is a message the dead one had not confirmed
        # -- at most what it had taken from its connection and not confirmed yet.
        assert set(outcomes) == set(ids) and set(outcomes.values()) == {1}, context
        # Every replacement process resumed the session from the checkpoint (a fresh
        # session would mean the checkpoint was missing, stale or unusable).
        assert all(resumed for _, _, resumed in runs[1:]), context
