"""transports._checkpoint_io: how the high-level clients persist and load the resumption
checkpoint (real files in a temporary directory).

A crash during a write must leave the old or the new checkpoint (temp file + fsync +
rename); a missing file means a fresh session; a file that is not a checkpoint is an
error, not a silent fresh start.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cubeproto.transports._checkpoint_io import CheckpointWriter, load_checkpoint

from cubeproto import Checkpoint, CheckpointError


def checkpoint(inbound_h: int) -> Checkpoint:
    return Checkpoint(
        resume_id="r1",
        jid="1001-42@localhost/res",
        location=None,
        max_seconds=300,
        inbound_h=inbound_h,
        acked_h=1,
        outbound_h=2,
        unacked=(("<message id='m1'><body>x</body></message>", "m1"),),
    )


class FakeConnection:
    """Only what CheckpointWriter.persist calls: ``checkpoint()``."""

    def __init__(self) -> None:
        self.current: Checkpoint | None = None

    def checkpoint(self) -> Checkpoint | None:
        return self.current


def test_missing_file_means_a_fresh_session(tmp_path: Path) -> None:
    assert load_checkpoint(tmp_path / "absent.json") is None
    assert load_checkpoint(None) is None
    cp = checkpoint(3)
    assert load_checkpoint(cp) is cp


def test_a_path_is_written_atomically_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    writer = CheckpointWriter(path)
    conn = FakeConnection()
    writer.persist(conn)  # type: ignore[arg-type]
    assert not path.exists() and writer.writes == 0  # no checkpoint yet: nothing written
    conn.current = checkpoint(5)
    writer.persist(conn)  # type: ignore[arg-type]
    assert load_checkpoint(path) == conn.current
    writer.persist(conn)  # type: ignore[arg-type]
    assert writer.writes == 1  # unchanged: not written again
    conn.current = checkpoint(6)
    writer.persist(conn)  # type: ignore[arg-type]
    assert load_checkpoint(str(path)) == checkpoint(6)
    assert writer.writes == 2
    # No temporary file is left next to it.
    assert sorted(os.listdir(tmp_path)) == ["cp.json"]
    # None (session no longer resumable) keeps the last one: a stale checkpoint is
    # refused by the server harmlessly, a deleted one could lose a live session.
    conn.current = None
    writer.persist(conn)  # type: ignore[arg-type]
    assert load_checkpoint(path) == checkpoint(6)


def test_a_callable_receives_the_json(tmp_path: Path) -> None:
    got: list[str] = []
    writer = CheckpointWriter(got.append)
    conn = FakeConnection()
    conn.current = checkpoint(7)
    writer.persist(conn)  # type: ignore[arg-type]
    assert [Checkpoint.from_json(text) for text in got] == [checkpoint(7)]


@pytest.mark.parametrize("content", ["", "{", "[]", '{"version": 2}', '{"version": 1}', "\xff"])
def test_a_file_that_is_not_a_checkpoint_is_an_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "cp.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    with pytest.raises(ValueError):  # CheckpointError is a ValueError too
        load_checkpoint(path)
