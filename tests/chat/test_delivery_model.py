"""The delivery tracker against an independent model (issue 17).

``tests/chat/test_session.py``'s state machine reads the status "before" a step from the
tracker it checks, so a tracker that evicts the newest id instead of the oldest, or that
moves an id back to QUEUED, passes it.  The model here owns its own state: the ids in
the order they were first queued, their statuses, and the progress order written out by
hand (not taken from the enum the tracker uses).  Every step compares the events, every
status (evicted ids included) and the tracked items in order.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cubeproto.chat import DeliveryStatus, DeliveryStatusChanged, DeliveryTracker

Q, S, F, D, R = (
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENT,
    DeliveryStatus.FAILED,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.READ,
)
#: Progress, spelled out: a marker (delivered, read) beats a loss, which beats an ack.
PROGRESS = {"queued": 0, "sent": 1, "failed": 2, "delivered": 3, "read": 4}


class Model:
    """What the tracker should hold, kept without it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.order: list[str] = []
        self.status: dict[str, DeliveryStatus] = {}

    def queued(self, mid: str) -> list[DeliveryStatusChanged]:
        if mid in self.status:
            return []
        self.order.append(mid)
        self.status[mid] = Q
        if len(self.order) > self.size:
            del self.status[self.order.pop(0)]
        return [DeliveryStatusChanged(message_id=mid, status=Q, previous=None)]

    def advance(self, mid: str, new: DeliveryStatus) -> list[DeliveryStatusChanged]:
        old = self.status.get(mid)
        if old is None or PROGRESS[new.value] <= PROGRESS[old.value]:
            return []
        steps = []
        if new is R and PROGRESS[old.value] < PROGRESS["delivered"]:
            steps.append(DeliveryStatusChanged(message_id=mid, status=D, previous=old))
            old = D
        steps.append(DeliveryStatusChanged(message_id=mid, status=new, previous=old))
        self.status[mid] = new
        return steps


IDS = [f"m{i}" for i in range(6)]


def check(tracker: DeliveryTracker, model: Model) -> None:
    assert tracker.items() == [(mid, model.status[mid]) for mid in model.order]
    assert len(tracker) == len(model.order)
    for mid in IDS:
        assert tracker.status(mid) == model.status.get(mid)


@settings(max_examples=300)
@given(
    size=st.integers(1, 4),
    steps=st.lists(
        st.tuples(st.sampled_from(IDS), st.sampled_from([None, S, F, D, R, Q])), max_size=50
    ),
)
def test_tracker_matches_the_model(
    size: int, steps: list[tuple[str, DeliveryStatus | None]]
) -> None:
    tracker = DeliveryTracker(size=size)
    model = Model(size)
    for mid, status in steps:
        if status is None:
            assert tracker.queued(mid) == model.queued(mid)
        else:
            assert tracker.advance(mid, status) == model.advance(mid, status)
        check(tracker, model)


def test_the_window_forgets_the_oldest() -> None:
    tracker = DeliveryTracker(size=2)
    for mid in ("a", "b", "c"):
        tracker.queued(mid)
    assert tracker.items() == [("b", Q), ("c", Q)]
    assert tracker.status("a") is None
    assert tracker.advance("a", S) == []  # forgotten: no event, not tracked again
    assert tracker.status("a") is None
    # Progress does not refresh an id's place: "b" is still the oldest.
    tracker.advance("b", S)
    tracker.queued("d")
    assert tracker.items() == [("c", Q), ("d", Q)]


@pytest.mark.parametrize("status", [S, F, D, R])
def test_queued_again_never_moves_an_id_back(status: DeliveryStatus) -> None:
    tracker = DeliveryTracker(size=3)
    tracker.queued("a")
    tracker.advance("a", status)
    assert tracker.queued("a") == []
    assert tracker.status("a") is status
    assert tracker.advance("a", Q) == []
    assert tracker.status("a") is status


def test_restore_keeps_the_newest_and_their_order() -> None:
    tracker = DeliveryTracker(size=2)
    tracker.queued("x")
    tracker.restore([("a", S), ("b", D), ("x", R)])
    # "x" is moved to the end with its restored status; "a" (oldest) falls out.
    assert tracker.items() == [("b", D), ("x", R)]


def test_restore_moves_a_tracked_id_to_the_newest_end() -> None:
    tracker = DeliveryTracker(size=3)
    tracker.queued("x")
    tracker.queued("y")
    tracker.restore([("x", R)])
    assert tracker.items() == [("y", Q), ("x", R)]


@pytest.mark.parametrize("size", [0, -1])
def test_a_window_holds_at_least_one_message(size: int) -> None:
    with pytest.raises(ValueError, match=r"^the delivery tracker holds at least one message$"):
        DeliveryTracker(size=size)
    assert len(DeliveryTracker(size=1)) == 0
