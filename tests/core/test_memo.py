"""The bounded memo tables behind the chat hot paths (cubeproto._memo)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cubeproto._memo import remember


@given(st.lists(st.integers(), max_size=200), st.integers(min_value=1, max_value=20))
def test_a_table_never_outgrows_its_limit_and_keeps_the_newest(keys: list[int], limit: int) -> None:
    table: dict[int, str] = {}
    for key in keys:
        assert remember(table, key, f"v{key}", limit) == f"v{key}"
        assert len(table) <= limit
        assert table[key] == f"v{key}"


def test_a_full_table_is_emptied_before_the_new_entry() -> None:
    table = {1: "a", 2: "b"}
    remember(table, 3, "c", 2)
    assert table == {3: "c"}
