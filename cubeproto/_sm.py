"""XEP-0198 stream management counters and the unacknowledged-stanza queue.

Pure bookkeeping, no I/O.  Counters are "handled stanza" counts modulo 2**32 (XEP-0198
section 4: "h ... MUST wrap to zero").  Every outbound *stanza* (message, presence, iq) is
counted and kept until acknowledged; nonzas (``<r/>``, ``<a/>``, CSI) are not.  Unlike the
official SDK, which counts only messages with a body and so mis-attributes acks, we count
every stanza the server counts, and we remember which of them are countable messages so
that each one gets exactly one ``MessageSent`` or ``MessageLost``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol, TypedDict

from ._records import fast_constructor

__all__ = ["MOD", "AckError", "SavedCounters", "SavedSession", "StreamManagement", "Unacked"]

MOD = 2**32


class AckError(Exception):
    """The peer acknowledged more stanzas than we sent (XEP-0198 section 4,
    ``<handled-count-too-high/>``).  ``sent`` is the send count (``outbound_h``, what
    the element's ``send-count`` names), not the number still unacknowledged."""

    def __init__(self, h: int, sent: int) -> None:
        super().__init__(f"h={h} acknowledges more than the {sent} stanzas sent")
        self.h = h
        self.sent = sent

    def handled_count_too_high(self, send_count: int) -> str:
        """The application condition of the stream error that answers this fault (both
        roles send it): ``h`` as received and ``send_count``, the stanzas we sent."""
        return (
            f'<handled-count-too-high xmlns="urn:xmpp:sm:3" h="{self.h}" '
            f'send-count="{send_count}"/>'
        )


@dataclass(frozen=True, slots=True)
class Unacked:
    """One stanza waiting for its ack: the serialized stanza (resent on resumption),
    for a countable message its id, and where its element name ends (how the framing
    writes it again: ``Framing.frame_stanza``; 0 when it declares its namespace)."""

    xml: str
    message_id: str | None
    name_end: int = 0


#: ``Unacked(...)`` without the frozen dataclass's per-field ``object.__setattr__``: one
#: is made for every stanza sent.
_new_unacked = fast_constructor(Unacked)


class SavedCounters(TypedDict):
    """What a session kept for resumption holds of its stream management: the fields
    the client's ``ResumableSession`` and the server's ``DetachedSession`` share, made by
    :meth:`StreamManagement.saved` for both."""

    inbound_h: int
    acked_h: int
    outbound_h: int
    unacked: tuple[Unacked, ...]


class SavedSession(Protocol):
    """A session kept for resumption (``ResumableSession``, ``DetachedSession``), as
    :meth:`StreamManagement.resumed` reads it."""

    @property
    def inbound_h(self) -> int: ...

    @property
    def acked_h(self) -> int: ...

    @property
    def outbound_h(self) -> int: ...

    @property
    def unacked(self) -> tuple[Unacked, ...]: ...


class StreamManagement:
    """The client side of XEP-0198 for one session (survives resumption).

    ``outbound_h`` is how many stanzas we have sent since ``<enable/>``; ``acked_h`` the
    last ``h`` the server acknowledged; ``unacked`` holds the ``outbound_h - acked_h``
    stanzas in between, oldest first.  ``inbound_h`` counts stanzas we have handled.
    ``pending_messages`` is how many of the unacked stanzas are countable messages (kept
    as a count so that the ack path never scans the queue).
    """

    __slots__ = ("acked_h", "inbound_h", "outbound_h", "pending_messages", "unacked")

    def __init__(self) -> None:
        self.acked_h = 0
        self.outbound_h = 0
        self.inbound_h = 0
        self.pending_messages = 0
        self.unacked: deque[Unacked] = deque()

    @classmethod
    def restore(
        cls, *, inbound_h: int, acked_h: int, outbound_h: int, unacked: tuple[Unacked, ...]
    ) -> StreamManagement:
        """The state saved for resumption, on a new connection."""
        sm = cls()
        sm.inbound_h = inbound_h
        sm.acked_h = acked_h
        sm.outbound_h = outbound_h
        sm.unacked = deque(unacked)
        sm.pending_messages = sum(1 for item in unacked if item.message_id is not None)
        return sm

    @classmethod
    def resumed(cls, session: SavedSession) -> StreamManagement:
        """The bookkeeping of a session kept for resumption, on the new connection."""
        return cls.restore(
            inbound_h=session.inbound_h,
            acked_h=session.acked_h,
            outbound_h=session.outbound_h,
            unacked=session.unacked,
        )

    def saved(self) -> SavedCounters:
        """The counters and the queue, to keep in a session for resumption."""
        return SavedCounters(
            inbound_h=self.inbound_h,
            acked_h=self.acked_h,
            outbound_h=self.outbound_h,
            unacked=tuple(self.unacked),
        )

    def sent(self, xml: str, message_id: str | None, name_end: int = 0) -> None:
        """Record one stanza written to the stream (``name_end``: see :class:`Unacked`)."""
        self.unacked.append(_new_unacked(xml=xml, message_id=message_id, name_end=name_end))
        self.outbound_h = (self.outbound_h + 1) % MOD
        if message_id is not None:
            self.pending_messages += 1

    def ack(self, h: int) -> list[Unacked]:
        """Apply ``<a h/>`` (or the ``h`` of ``<resumed/>``/``<failed/>``).

        Returns the stanzas this ack newly covers, oldest first.  An ``h`` that is older
        than the last one (a duplicate or reordered ack) covers nothing.  Raises
        :class:`AckError` when ``h`` covers more than was sent.
        """
        if not 0 <= h < MOD:
            raise AckError(h, self.outbound_h)
        delta = (h - self.acked_h) % MOD
        if delta == 0:
            return []
        if delta > len(self.unacked):
            # Either an ack from the "past" (wrapped difference is huge: ignore it, acks
            # are cumulative) or one from the future (a protocol violation).  Past acks
            # are at most 2**31 behind; anything closer to the front is too high.
            if delta >= MOD // 2:
                return []
            raise AckError(h, self.outbound_h)
        settled = [self.unacked.popleft() for _ in range(delta)]
        self.acked_h = h
        self.pending_messages -= sum(1 for item in settled if item.message_id is not None)
        return settled

    def handled(self, count: int = 1) -> None:
        """Count ``count`` inbound stanzas as handled."""
        self.inbound_h = (self.inbound_h + count) % MOD

    def keep_only(self, keep: list[Unacked]) -> None:
        """After ``<resumed/>``: only ``keep`` is resent; the counter follows what the
        server will actually receive after its ``h``."""
        self.unacked = deque(keep)
        self.outbound_h = (self.acked_h + len(keep)) % MOD
        self.pending_messages = sum(1 for item in keep if item.message_id is not None)

    def forget_all(self) -> None:
        """Drop every unacked stanza (the session ended for good)."""
        self.unacked.clear()
        self.pending_messages = 0
