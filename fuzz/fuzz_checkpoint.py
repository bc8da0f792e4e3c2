"""Fuzz target: reading a persisted resumption checkpoint (Checkpoint.from_json) and
restoring the chat layer's state from it (ClientConnection(config, resume=checkpoint)).

    python fuzz/fuzz_checkpoint.py -max_total_time=60 fuzz/corpus/checkpoint

A checkpoint file is input from outside the process (a disk, a database, another
version of the application).  Invariants: ``from_json`` raises nothing but
``CheckpointError``; a checkpoint it accepts round-trips through ``to_json``; restoring
it into a connection with a ChatSession (plain, and in the end-to-end mode) raises
nothing but ``CheckpointError``.
"""

from __future__ import annotations

import dataclasses
import os
import sys

import atheris

with atheris.instrument_imports():
    from cubeproto import Checkpoint, CheckpointError, ClientConfig, ClientConnection
    from cubeproto.chat import ChatOptions, ChatSession, EndToEnd

CONFIG = ClientConfig(
    app_id=42,
    user_id=1001,
    password="pw",
    chat_host="localhost",
    entropy=os.urandom,
    wall_clock=lambda: 1_700_000_000.0,
    handler_factory=ChatSession,
)
#: The same in the end-to-end mode (issue 15), whose chat state may carry pending messages.
E2E_CONFIG = dataclasses.replace(
    CONFIG, handler_factory=lambda: ChatSession(ChatOptions(end_to_end=EndToEnd()))
)


def test_one_input(data: bytes) -> None:
    try:
        checkpoint = Checkpoint.from_json(data)
    except CheckpointError:
        return
    assert Checkpoint.from_json(checkpoint.to_json()) == checkpoint
    for config in (CONFIG, E2E_CONFIG):
        try:
            ClientConnection(config, resume=checkpoint)
        except CheckpointError:
            return


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
