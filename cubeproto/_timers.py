"""Deadlines: the connection's only notion of time.

A tiny keyed deadline set.  Each timer has a key (``("iq", id)``, ``("ack",)``,
``("keepalive",)``...); setting a key again replaces its deadline; ``due(now)`` pops every
timer whose deadline has passed, earliest first.  A heap with lazy deletion keeps
``next_deadline`` cheap however many IQs are in flight.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable

__all__ = ["Timers"]


class Timers:
    """A set of named deadlines on the adapter's monotonic clock."""

    __slots__ = ("_deadlines", "_heap", "_seq")

    def __init__(self) -> None:
        self._deadlines: dict[Hashable, float] = {}
        self._heap: list[tuple[float, int, Hashable]] = []
        self._seq = 0

    def set(self, key: Hashable, deadline: float) -> None:
        """Arm (or re-arm) ``key`` to fire at ``deadline``."""
        self._deadlines[key] = deadline
        self._seq += 1
        heapq.heappush(self._heap, (deadline, self._seq, key))

    def cancel(self, key: Hashable) -> None:
        """Disarm ``key`` (no error if it is not armed)."""
        self._deadlines.pop(key, None)

    def is_set(self, key: Hashable) -> bool:
        return key in self._deadlines

    def clear(self) -> None:
        self._deadlines.clear()
        self._heap.clear()

    def next_deadline(self) -> float | None:
        """The earliest armed deadline, or ``None``."""
        heap = self._heap
        while heap:
            deadline, _, key = heap[0]
            if self._deadlines.get(key) == deadline:
                return deadline
            heapq.heappop(heap)  # stale entry: cancelled or re-armed
        return None

    def pop_due(self, now: float) -> list[Hashable]:
        """Remove and return every key whose deadline is ``<= now``, earliest first."""
        fired: list[Hashable] = []
        while True:
            deadline = self.next_deadline()
            if deadline is None or deadline > now:
                return fired
            _, _, key = heapq.heappop(self._heap)
            del self._deadlines[key]
            fired.append(key)
