"""Duplicate suppression: a bounded window of message ids already reported.

After a stream resumption, a reconnect, an offline replay or a carbon copy the same
message can arrive twice; the session reports it once.  The window remembers the last
``size`` ids (oldest forgotten first), so memory stays bounded on a stream of any length.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["DEFAULT_DEDUP_WINDOW", "DedupWindow"]

#: Ids remembered.  An offline replay or a resume resends at most the server's queue,
#: typically tens to hundreds of messages; 2048 leaves a wide margin for ~100 kB of ids.
DEFAULT_DEDUP_WINDOW = 2048


class DedupWindow:
    """Remembers the last ``size`` keys."""

    __slots__ = ("_seen", "_size")

    def __init__(self, size: int = DEFAULT_DEDUP_WINDOW) -> None:
        if size < 1:
            raise ValueError("the dedup window holds at least one id")
        self._size = size
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first_time(self, key: str) -> bool:
        """Record ``key``; true if it was not in the window (report it), false if it was."""
        seen = self._seen
        if key in seen:
            seen.move_to_end(key)
            return False
        seen[key] = None
        if len(seen) > self._size:
            seen.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, key: object) -> bool:
        return key in self._seen

    @property
    def size(self) -> int:
        """The window's capacity."""
        return self._size
