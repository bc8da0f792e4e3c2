"""The duplicate-suppression windows on their own (issue 17, mutation survivors): what is
in the window, when an id moves from pending to seen, and eviction of confirmed ids."""

from __future__ import annotations

import pytest

from cubeproto.chat.dedup import ConfirmedDedup, DedupWindow


class Sequence:
    """The one thing ConfirmedDedup reads from a connection: the inbound sequence number
    of the stanza being handled (0 outside any)."""

    def __init__(self) -> None:
        self.inbound_seq = 0


@pytest.mark.parametrize("size", [0, -3])
def test_a_window_holds_at_least_one_id(size: int) -> None:
    with pytest.raises(ValueError, match=r"^the dedup window holds at least one id$"):
        DedupWindow(size)


def test_outside_an_inbound_stanza_an_id_is_seen_at_once() -> None:
    conn = Sequence()
    dedup = ConfirmedDedup(DedupWindow(4), conn)
    assert dedup.first_time("a") is True
    assert "a" in dedup and "b" not in dedup and len(dedup) == 1
    assert dedup.first_time("a") is False


def test_inside_a_stanza_an_id_waits_for_its_confirmation() -> None:
    conn = Sequence()
    dedup = ConfirmedDedup(DedupWindow(4), conn)
    conn.inbound_seq = 1
    assert dedup.first_time("a") is True
    assert "a" not in dedup  # pending, not seen
    assert dedup.first_time("a") is False  # a second copy meanwhile: suppressed
    dedup.confirmed(0)
    assert "a" not in dedup
    dedup.confirmed(1)
    assert "a" in dedup
    assert dedup.first_time("a") is False  # seen now


def test_a_confirmed_id_that_left_the_window_is_new_again() -> None:
    conn = Sequence()
    dedup = ConfirmedDedup(DedupWindow(1), conn)
    conn.inbound_seq = 1
    assert dedup.first_time("a") is True
    dedup.confirmed(1)
    conn.inbound_seq = 0
    assert dedup.first_time("b") is True  # the window holds one: "a" is forgotten
    assert "a" not in dedup
    assert dedup.first_time("a") is True


def test_after_a_reset_pending_ids_are_reported_again() -> None:
    conn = Sequence()
    dedup = ConfirmedDedup(DedupWindow(4), conn)
    conn.inbound_seq = 3
    assert dedup.first_time("a") is True
    fresh = Sequence()
    dedup.reset(fresh)
    fresh.inbound_seq = 1
    assert dedup.first_time("a") is True
    dedup.confirmed(1)
    assert "a" in dedup
