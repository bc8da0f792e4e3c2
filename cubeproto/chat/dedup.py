"""Duplicate suppression: a bounded window of message ids already reported.

After a stream resumption, a reconnect, an offline replay or a carbon copy the same
message can arrive twice; the session reports it once.  The window remembers the last
``size`` ids (oldest forgotten first), so memory stays bounded on a stream of any length.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from typing import Protocol

__all__ = ["DEFAULT_DEDUP_WINDOW", "ConfirmedDedup", "DedupWindow"]

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

    def __iter__(self) -> Iterator[str]:
        """The remembered ids, oldest first."""
        return iter(self._seen)

    def extend(self, keys: Iterable[str]) -> None:
        """Remember ``keys`` (oldest first), e.g. restored from a checkpoint."""
        for key in keys:
            self.first_time(key)


class _Sequenced(Protocol):
    @property
    def inbound_seq(self) -> int: ...


class ConfirmedDedup:
    """Duplicate suppression for application-controlled acks: an id counts as seen (goes
    into the :class:`DedupWindow`) only once the stanza it came in is confirmed handled.

    Until then it is *pending*, keyed by the connection's ``inbound_seq``: a second copy
    on the same connection (a carbon, an offline replay) is still suppressed, but after a
    resumption (:meth:`reset`) the server's redelivery of an unconfirmed stanza is
    reported again -- the application never confirmed having handled it.
    """

    __slots__ = ("_conn", "_pending", "_pending_ids", "window")

    def __init__(self, window: DedupWindow, conn: _Sequenced) -> None:
        self.window = window
        self._conn = conn
        self._pending: deque[tuple[int, str]] = deque()
        self._pending_ids: set[str] = set()

    def first_time(self, key: str) -> bool:
        """True if ``key`` is neither confirmed nor pending (report it; it is pending)."""
        if key in self.window:
            return self.window.first_time(key)  # False; refreshes its place
        if key in self._pending_ids:
            return False
        seq = self._conn.inbound_seq
        if seq == 0:  # not inside an inbound stanza: nothing to wait for
            return self.window.first_time(key)
        self._pending.append((seq, key))
        self._pending_ids.add(key)
        return True

    def confirmed(self, upto: int) -> None:
        """The stanzas up to sequence number ``upto`` are confirmed handled."""
        pending = self._pending
        while pending and pending[0][0] <= upto:
            key = pending.popleft()[1]
            self._pending_ids.discard(key)
            self.window.first_time(key)

    def reset(self, conn: _Sequenced) -> None:
        """A new connection (sequence numbers restart): forget what is pending; the
        server redelivers those stanzas."""
        self._conn = conn
        self._pending.clear()
        self._pending_ids.clear()

    def __len__(self) -> int:
        return len(self.window)

    def __contains__(self, key: object) -> bool:
        return key in self.window
