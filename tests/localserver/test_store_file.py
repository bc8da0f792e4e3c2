"""The local server's store on a real SQLite file shared by two stores (issue 17: the
local server's tests use ``:memory:`` almost everywhere).

Two ``Store`` objects on one file stand for two server instances pointed at the same
database: what one writes the other reads; counters (session ids, message sequence
numbers, app ids) are handed out by both processes at once without a lost update; a
writer that meets the other's write lock either waits (the store's connections) or gets
SQLite's clear "database is locked" (a connection that will not wait); and everything
written is there after both are closed and the file is opened again.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from cubeproto.transports.localserver.store import Store

ROUNDS = 200


def _count(
    path: str,
    name: str,
    rounds: int,
    opened: Any,
    out: multiprocessing.Queue[list[int]],
) -> None:
    """In a child process: open a store, wait until the other child has opened its own,
    then take ``rounds`` values of ``name``.  (Opening a store runs the schema script; it
    was seen to fail with "database is locked" while other processes were writing, so
    the two open before either writes: what is tested here is the counter.)"""
    store = Store(path)
    try:
        opened.wait(timeout=120)
        out.put([store.counter(name) for _ in range(rounds)])
    finally:
        store.close()


def test_two_stores_on_one_file_see_each_others_writes(tmp_path: Path) -> None:
    path = str(tmp_path / "cube.sqlite")
    first, second = Store(path), Store(path)
    try:
        app = first.create_app(105, "key")
        user = first.create_user(app.id, "alice", "pw")
        assert second.app(105) == app
        found = second.user_by_login(app.id, "alice")
        assert found is not None and found.id == user.id
        token, _ = second.create_session(app.id, user.id, now=1000.0)
        assert first.live_tokens(user.id, now=1000.0) == {token}
    finally:
        first.close()
        second.close()


def test_two_processes_taking_counter_values_never_get_the_same_one(tmp_path: Path) -> None:
    path = str(tmp_path / "cube.sqlite")
    Store(path).close()  # the schema, before the two start
    context = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[list[int]] = context.Queue()
    opened = context.Barrier(2)
    workers = [
        context.Process(target=_count, args=(path, "session_id", ROUNDS, opened, out))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    taken = out.get(timeout=120) + out.get(timeout=120)
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    assert sorted(taken) == list(range(1, 2 * ROUNDS + 1))  # each value once: none lost
    store = Store(path)
    try:
        assert store.counter("session_id", 0) == 2 * ROUNDS
    finally:
        store.close()


def test_a_writer_meeting_the_lock_is_refused_clearly_or_waits(tmp_path: Path) -> None:
    path = str(tmp_path / "cube.sqlite")
    holder = Store(path)
    impatient = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        holder.db.execute("BEGIN IMMEDIATE")
        holder.db.execute("INSERT INTO counters VALUES ('held', 1)")
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            impatient.execute("INSERT INTO counters VALUES ('other', 1)")
        # the reader sees the last committed state, not the held write
        assert impatient.execute("SELECT value FROM counters WHERE name='held'").fetchone() is None
        holder.db.execute("COMMIT")
        impatient.execute("INSERT INTO counters VALUES ('other', 1)")
        rows = dict(impatient.execute("SELECT name, value FROM counters").fetchall())
        assert rows["held"] == 1 and rows["other"] == 1
    finally:
        impatient.close()
        holder.close()


def test_what_was_written_is_there_after_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "cube.sqlite")
    store = Store(path)
    app = store.create_app(106, "key")
    user = store.create_user(app.id, "bob", "pw", full_name="Bob")
    token, session_id = store.create_session(app.id, user.id, now=50.0)
    store.put_dialog({"_id": "d1", "app_id": app.id, "name": "G"})
    store.close()
    again = Store(path)
    try:
        found = again.user(user.id)
        assert found is not None and found.full_name == "Bob"
        assert again.session(token, now=60.0) is not None
        assert again.dialog("d1") == {"_id": "d1", "app_id": app.id, "name": "G"}
        # counters go on from where they were, they do not restart
        assert again.counter("session_id") == session_id + 1
    finally:
        again.close()
