"""A receiver application in its own process, for the SIGKILL tests (tests/transports/integration).

    python receiver_proc.py SPEC_JSON

``SPEC_JSON`` names the adapter (``asyncio``, ``trio`` or ``blocking``), the server, the
user, the sender whose messages count, the SQLite database that records what was
handled and the checkpoint file.  The process:

1. starts from the persisted checkpoint when the file exists (``resume_from=``), else
   with a fresh session, with ``app_controlled_acks=True`` and ``checkpoint=`` the file
   (the client writes it atomically whenever it changes);
2. for every ``MessageReceived`` from the sender, *handles* it: one SQLite transaction
   (``synchronous=FULL``) that records the message id in ``handled`` -- or, when that id
   is already there, a row in ``redelivered`` -- then calls ``confirm_handled()``
   (after every event).  The confirmation follows the durable commit, so a kill at any
   point leaves the message recorded, or unconfirmed (the server redelivers it after the
   resumption), or both; when a confirmation goes through (``True``: it covers every
   message this process handled so far, and the client persisted the checkpoint before
   returning), those messages are marked ``confirmed``.  A redelivery of a message
   marked confirmed would be a broken promise (``redelivered.was_confirmed``);
3. prints ``READY <resumed> <jid>`` once connected, then runs until it has handled
   ``expect`` distinct messages, prints ``DONE`` and exits 0 -- unless the test kills it
   first with SIGKILL, at a random point.

Nothing in here is a test double: it is the real client, a real SQLite file, a real
process that dies without any cleanup.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from cubeproto.transports.anyio_chat import AsyncChatClient
from cubeproto.transports.blocking_chat import ChatClient

from cubeproto import ClientConfig, Transport
from cubeproto.chat import ChatSession, MessageReceived
from cubeproto.events import Connected, Event
from cubeproto.reconnect import Reconnected, ReconnectPolicy

SCHEMA = """
CREATE TABLE IF NOT EXISTS handled (
    message_id TEXT PRIMARY KEY, body TEXT, pid INTEGER, confirmed INTEGER DEFAULT 0
);
CREATE TABLE IF NOT EXISTS redelivered (message_id TEXT, pid INTEGER, was_confirmed INTEGER);
CREATE TABLE IF NOT EXISTS runs (pid INTEGER, adapter TEXT, resumed INTEGER);
"""


@dataclass
class Spec:
    adapter: str
    host: str
    port: int
    domain: str
    ca_file: str
    user_id: int
    app_id: int
    password: str
    sender_id: int
    db: str
    checkpoint: str
    expect: int
    transport: str = "tcp"

    @classmethod
    def load(cls, text: str) -> Spec:
        return cls(**json.loads(text))


def open_db(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(SCHEMA)
    return db


class Handler:
    """What the application does with a message: record it durably, exactly once."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.db = open_db(spec.db)
        self.pid = os.getpid()
        (self.count,) = self.db.execute("SELECT count(*) FROM handled").fetchone()
        self.unconfirmed: list[str] = []  # handled by this process, not yet confirmed

    def run_started(self, resumed: bool) -> None:
        self.db.execute(
            "INSERT INTO runs VALUES (?, ?, ?)", (self.pid, self.spec.adapter, int(resumed))
        )

    def handle(self, event: Event) -> bool:
        """Record a message from the sender; ``True`` when one was (newly or again)."""
        if not isinstance(event, MessageReceived) or event.sender_id != self.spec.sender_id:
            return False
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute(
                "SELECT confirmed FROM handled WHERE message_id = ?", (event.message_id,)
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO handled VALUES (?, ?, ?, 0)",
                    (event.message_id, event.body, self.pid),
                )
                self.count += 1
            else:
                db.execute(
                    "INSERT INTO redelivered VALUES (?, ?, ?)",
                    (event.message_id, self.pid, row[0]),
                )
            db.execute("COMMIT")
            self.unconfirmed.append(event.message_id)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return True

    def confirmed(self, ok: bool) -> None:
        """``confirm_handled()`` returned ``ok``: when it went through, mark what this
        process handled so far as confirmed."""
        if ok and self.unconfirmed:
            self.db.executemany(
                "UPDATE handled SET confirmed = 1 WHERE message_id = ?",
                [(mid,) for mid in self.unconfirmed],
            )
            self.unconfirmed.clear()

    @property
    def done(self) -> bool:
        return self.count >= self.spec.expect


def make_config(spec: Spec) -> ClientConfig:
    transport = Transport(spec.transport)
    return ClientConfig(
        app_id=spec.app_id,
        user_id=spec.user_id,
        password=spec.password,
        chat_host=spec.domain,
        transport=transport,
        entropy=os.urandom,
        wall_clock=time.time,
        handler_factory=ChatSession,
        app_controlled_acks=True,
        keepalive_interval=2.0,
        keepalive_timeout=2.0,
    )


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def client_options(spec: Spec) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": spec.port,
        "ca_file": spec.ca_file,
        "policy": ReconnectPolicy(floor=0.05, cap=0.5),
        "checkpoint": spec.checkpoint,
        "resume_from": spec.checkpoint,
    }


def run_blocking(spec: Spec) -> None:
    handler = Handler(spec)
    with ChatClient(make_config(spec), **client_options(spec)) as client:
        for event in client.events():
            if isinstance(event, Connected):
                handler.run_started(event.resumed)
                say(f"READY {int(event.resumed)} {event.jid}")
            elif isinstance(event, Reconnected):
                say(f"RECONNECTED {int(event.resumed)}")
            handler.handle(event)
            # Every event taken so far is handled (only messages need work): confirm.
            handler.confirmed(client.confirm_handled())
            if handler.done:
                break
    say("DONE")


async def run_async(spec: Spec) -> None:
    handler = Handler(spec)
    async with AsyncChatClient(make_config(spec), **client_options(spec)) as client:
        async for event in client.events():
            if isinstance(event, Connected):
                handler.run_started(event.resumed)
                say(f"READY {int(event.resumed)} {event.jid}")
            elif isinstance(event, Reconnected):
                say(f"RECONNECTED {int(event.resumed)}")
            handler.handle(event)
            handler.confirmed(await client.confirm_handled())
            if handler.done:
                break
    say("DONE")


def main(argv: list[str]) -> int:
    spec = Spec.load(Path(argv[1]).read_text() if not argv[1].startswith("{") else argv[1])
    if spec.adapter == "blocking":
        run_blocking(spec)
    else:
        anyio.run(run_async, spec, backend=spec.adapter)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
