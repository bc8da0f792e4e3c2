"""The one snapshot of stream management that both roles keep for resumption
(``StreamManagement.saved`` / ``resumed``): the client's ``ResumableSession`` and the
server's ``DetachedSession`` are made from it and give it back whole."""

from __future__ import annotations

from cubeproto._client_sm import ResumableSession
from cubeproto._server_base import DetachedSession
from cubeproto._sm import MOD, StreamManagement


def _busy() -> StreamManagement:
    sm = StreamManagement()
    sm.outbound_h = MOD - 2  # about to wrap
    sm.acked_h = MOD - 2
    sm.inbound_h = 41
    sm.sent('<message id="m1"/>', "m1", 8)
    sm.sent("<presence/>", None, 9)
    sm.sent('<message xmlns="jabber:client" id="m2"/>', "m2", 0)
    return sm


def test_both_sessions_carry_the_same_snapshot_and_restore_it_whole() -> None:
    sm = _busy()
    client = ResumableSession(
        resume_id="r",
        jid="1-2@h/r",
        location=None,
        max_seconds=None,
        **sm.saved(),
        lost_reported=frozenset(),
        pending_iqs=(),
    )
    server = DetachedSession(resume_id="r", username="1-2", jid="1-2@h/r", **sm.saved())
    for session in (client, server):
        again = StreamManagement.resumed(session)
        assert (again.inbound_h, again.acked_h, again.outbound_h) == (41, MOD - 2, 1)
        assert list(again.unacked) == list(sm.unacked)
        assert [u.name_end for u in again.unacked] == [8, 9, 0]
        assert again.pending_messages == 2
        # h wraps at 2**32: h=0 covers the first two stanzas
        assert [u.message_id for u in again.ack(0)] == ["m1", None]
        assert again.pending_messages == 1
