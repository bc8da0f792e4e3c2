"""Persisting the resumption checkpoint for the high-level clients (file I/O lives here,
never in the core).

``checkpoint=`` is where a client keeps :meth:`ClientConnection.checkpoint` current: a
path (written atomically: a temporary file in the same directory, ``fsync``, ``rename``,
then an ``fsync`` of the directory, so that a crash at any instant leaves either the old
or the new checkpoint, never a torn one) or a callable that receives the JSON text and
must store it durably before it returns.  ``resume_from=`` is where a new process starts
from: a path (a missing file means "no checkpoint yet": a fresh session) or a
:class:`~cubeproto.Checkpoint`.

A checkpoint that becomes ``None`` (the session can no longer be resumed) is not
deleted: resuming from a stale checkpoint is refused by the server (``item-not-found``)
and the client then binds a fresh session, whereas deleting it in a window where it was
still needed (a resumption in progress) would lose the session.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Union

from cubeproto import Checkpoint, ClientConfig, ClientConnection, StreamState
from cubeproto.errors import LocalProtocolError

__all__ = [
    "CheckpointSink",
    "CheckpointSource",
    "CheckpointWriter",
    "checkpointed",
    "confirm_handled",
    "load_checkpoint",
]

CheckpointSink = Union[str, "os.PathLike[str]", Callable[[str], None]]
CheckpointSource = Union[str, "os.PathLike[str]", Checkpoint]


def load_checkpoint(source: CheckpointSource | None) -> Checkpoint | None:
    """The checkpoint to resume from (``None``: start a fresh session).  A file that
    exists but is not a valid checkpoint raises ``CheckpointError`` (a ``ValueError``):
    silently starting afresh would hide the problem."""
    if source is None or isinstance(source, Checkpoint):
        return source
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return Checkpoint.from_json(text)


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a crash leaves the old or the new content."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class CheckpointWriter:
    """Keeps the persisted checkpoint equal to ``conn.checkpoint()``; writes only when
    the JSON text changed (a confirmation and the ``CheckpointChanged`` it causes make
    one write, not two)."""

    __slots__ = ("_last", "_sink", "writes")

    def __init__(self, sink: CheckpointSink) -> None:
        if callable(sink):
            self._sink: Callable[[str], None] = sink
        else:
            path = Path(os.fspath(sink))
            self._sink = lambda text: write_atomically(path, text)
        self._last: str | None = None
        #: How many times the checkpoint was persisted (for tests and diagnostics).
        self.writes = 0

    def persist(self, conn: ClientConnection | None) -> None:
        """Persist ``conn``'s current checkpoint if there is one and it changed."""
        if conn is None:
            return
        checkpoint = conn.checkpoint()
        if checkpoint is None:
            return
        text = checkpoint.to_json()
        if text != self._last:
            self._sink(text)
            self._last = text
            self.writes += 1


def checkpointed(
    config: ClientConfig, sink: CheckpointSink | None
) -> tuple[ClientConfig, CheckpointWriter | None]:
    """The configuration a client runs with and the writer that keeps ``sink`` current:
    a client that persists on every ``CheckpointChanged`` needs the core to emit them."""
    if sink is None:
        return config, None
    if not config.checkpoint_events:
        config = dataclasses.replace(config, checkpoint_events=True)
    return config, CheckpointWriter(sink)


def confirm_handled(
    config: ClientConfig,
    conn: ClientConnection | None,
    writer: CheckpointWriter | None,
    *,
    caught_up: bool,
    now: float,
) -> bool:
    """A client's ``confirm_handled()``, once for both adapters (the caller holds what
    keeps the connection still: the event loop, or the blocking client's lock).

    With ``app_controlled_acks=True``: every event the client has handed to the
    application so far has been handled durably, so the server may now be told it was
    received.  The connection's acknowledgement counter moves only when the application
    has ``caught_up`` with the events already taken from the connection (confirming an
    event while later ones wait in the queue would acknowledge those too); then the
    checkpoint is persisted (before any ``<a/>`` can tell the server) and this returns
    ``True``.  ``False``: events are still waiting, or there is no connection (the next
    confirmation after taking them will cover them).  Raises ``LocalProtocolError``
    without ``app_controlled_acks``.
    """
    if not config.app_controlled_acks:
        raise LocalProtocolError("confirm_handled() needs app_controlled_acks=True")
    if not caught_up or conn is None or conn.state is StreamState.CLOSED:
        return False
    conn.confirm_handled(now=now)
    if writer is not None:
        writer.persist(conn)
    return True
