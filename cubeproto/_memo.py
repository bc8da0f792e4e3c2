"""Bounded memo tables for the hot paths.

Inbound classification and outbound building remember small derived values (parsed JIDs,
user ids, escaped tags, message starts) keyed by what the peer or the application keeps
sending.  Each table is a plain ``dict`` read inline with ``.get`` on the hot path; a miss
computes the value and stores it with :func:`remember`, which keeps the table bounded by
emptying it when it is full -- crude, but O(1), and the working set refills at once.  A
peer sending endless distinct values therefore costs at most ``limit`` entries.
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["remember"]

K = TypeVar("K")
V = TypeVar("V")


def remember(table: dict[K, V], key: K, value: V, limit: int) -> V:
    """Store ``value`` under ``key`` (emptying ``table`` first if it holds ``limit``
    entries) and return it."""
    if len(table) >= limit:
        table.clear()
    table[key] = value
    return value
