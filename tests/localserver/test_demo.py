"""The demo runs end to end against the embedded server and narrates every feature."""

from __future__ import annotations

import io

from cubeproto.transports.localserver.demo import run_demo

FEATURES = [
    "connected over STARTTLS + SCRAM",
    "created a 1-1 dialog",
    "created group dialog",
    "subscribed to the public dialog",
    "is typing",
    "with metadata mood='excited'",
    "message status: sent",
    "message status: delivered",
    "message status: read",
    "uploaded a photo",
    "downloaded the photo attachment",
    "identical",
    "received a location",
    "sees Bob's edit",
    "reacted",
    "delete a message for everyone",
    "unread counts: total 3",
    "after mark-all-read, unread: total 0",
    "search 'summit': 1 message",
    "blocked Carol",
    "bounced: service-unavailable",
    "last activity of Bob: 0 s",
    "ping to the server",
    "nothing was lost",
    "demo complete",
]


def test_demo_transcript_mentions_every_feature() -> None:
    out = io.StringIO()
    assert run_demo(out) == 0
    transcript = out.getvalue()
    missing = [f for f in FEATURES if f not in transcript]
    assert not missing, transcript
    assert "\x1b[" not in transcript  # no colours when not a terminal
