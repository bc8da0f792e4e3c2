"""cubeproto._ids.IdFactory: message ids are BSON ObjectIds (seconds, process, counter)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cubeproto._ids import IdFactory


def _objectid(seconds: float, process: bytes, counter: int) -> str:
    """The ObjectId layout written out plainly: what the cached form must equal."""
    return f"{int(seconds) & 0xFFFFFFFF:08x}{process.hex()}{counter:06x}"


@given(
    process=st.binary(min_size=5, max_size=5),
    start=st.one_of(
        st.integers(0, 0xFFFFFF), st.sampled_from([0, 0xFF, 0xFFFE, 0xFFFFFF, 0xFFFF00])
    ),
    # runs of ids within one second (crossing 256-id boundaries), clocks going back and
    # forth, and seconds beyond 32 bits
    clock=st.lists(
        st.tuples(
            st.one_of(st.floats(0, 2**40, allow_nan=False), st.sampled_from([0.0, 1.5, 2.0])),
            st.integers(1, 300),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_message_ids_follow_the_objectid_layout(
    process: bytes, start: int, clock: list[tuple[float, int]]
) -> None:
    now = [0.0]
    entropy = iter([process, start.to_bytes(3, "big")])
    ids = IdFactory(entropy=lambda n: next(entropy), wall_clock=lambda: now[0])
    counter = start
    for seconds, count in clock:
        now[0] = seconds
        for _ in range(count):
            counter = (counter + 1) & 0xFFFFFF
            assert ids.message_id() == _objectid(seconds, process, counter)


def test_ids_in_one_second_are_distinct() -> None:
    ids = IdFactory(entropy=lambda n: bytes(n), wall_clock=lambda: 1700000000.25)
    made = [ids.message_id() for _ in range(70000)]
    assert len(set(made)) == len(made)
    assert all(len(i) == 24 and int(i, 16) >= 0 for i in made[:1000])
