"""The end-to-end delivery mode for 1-1 chat (issue 15): the receiver's word, not the
server's.

``MessageSent`` says the sender's *server* has a message.  When a server node dies, a
message can still die with it (in the receiver's session on that node), and its sender was
told ``MessageSent`` truthfully.  In this mode the sender keeps every outgoing 1-1 message
that asks for a marker (``SendMessage(to_user=..., dialog_id=..., markable=True)``) until
the receiver answers it with a ``delivered`` (or ``read``) marker; without one within
:attr:`EndToEnd.deadline` seconds it writes the same stanza again -- same id, so the
receiver's duplicate suppression (:mod:`cubeproto.chat.dedup`) reports it at most once --
up to :attr:`EndToEnd.max_attempts` sends.  Each tracked message ends with exactly one of

* :class:`~cubeproto.chat.events.DeliveryConfirmed` -- a marker for its id came from
  someone else;
* :class:`~cubeproto.chat.events.DeliveryNotConfirmed` -- ``max_attempts`` sends, each
  followed by the deadline without a marker (or more messages were pending than the
  tracker holds and it was the oldest).

A bounce (``<message type="error">``) does not end the tracking: many are transient (an
offline queue full while the receiver reconnects, ``resource-constraint``; a node going
away), so the deadline still decides, and the final ``DeliveryNotConfirmed`` says
``bounced=True`` when a send of the message bounced.

The tracker is pure: time is the ``now`` its caller passes, and the earliest deadline is
:meth:`ConfirmationTracker.next_deadline`.  Every entry's deadline is its last send plus
the same ``deadline``, and ``now`` never goes backwards, so insertion order *is* deadline
order: the oldest entry is the next due, and no heap is needed.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from ..errors import LocalProtocolError
from .events import DeliveryConfirmed, DeliveryNotConfirmed

__all__ = ["DEFAULT_MAX_PENDING_CONFIRMATIONS", "ConfirmationTracker", "EndToEnd"]

#: Messages waiting for their receiver's marker at once.  A 1-1 sender rarely has more
#: than a few hundred messages without a marker; 4096 (the delivery window) leaves room
#: for a burst of a few thousand.
DEFAULT_MAX_PENDING_CONFIRMATIONS = 4096


@dataclass(frozen=True, slots=True, kw_only=True)
class EndToEnd:
    """Settings of the end-to-end delivery mode (``ChatOptions(end_to_end=EndToEnd())``).

    * ``deadline``: seconds after each send of a tracked message within which its
      receiver's marker must come, else it is sent again.  Long enough for a receiver
      that is online to answer (a round trip through the server and the receiver's
      processing), short enough that a message lost with a server node is sent again
      soon.  10 s: a few times the reconnection of a client whose node died (well under
      a second on loopback, seconds on mobile networks).
    * ``max_attempts``: sends in all (the first one included) before the message is
      reported :class:`~cubeproto.chat.events.DeliveryNotConfirmed`.
    * ``max_pending``: messages tracked at once; beyond it the oldest is reported
      ``DeliveryNotConfirmed`` at once (bounded memory).
    """

    deadline: float = 10.0
    max_attempts: int = 3
    max_pending: int = DEFAULT_MAX_PENDING_CONFIRMATIONS

    def __post_init__(self) -> None:
        if not self.deadline > 0:
            raise LocalProtocolError(f"end_to_end deadline must be positive: {self.deadline!r}")
        if self.max_attempts < 1 or self.max_pending < 1:
            raise LocalProtocolError("end_to_end max_attempts and max_pending must be >= 1")


class _Pending:
    """One message waiting for its marker: its stanza, sends so far, next deadline."""

    __slots__ = ("attempts", "bounced", "due", "xml")

    def __init__(self, xml: str, due: float) -> None:
        self.xml = xml
        self.attempts = 1
        self.due = due
        self.bounced = False


Outcome = DeliveryConfirmed | DeliveryNotConfirmed


class ConfirmationTracker:
    """The messages waiting for their receiver's marker (see the module docstring)."""

    __slots__ = ("_pending", "settings")

    def __init__(self, settings: EndToEnd) -> None:
        self.settings = settings
        #: message id -> pending entry, in deadline order (oldest first)
        self._pending: OrderedDict[str, _Pending] = OrderedDict()

    def sent(self, message_id: str, xml: str, now: float) -> list[Outcome]:
        """A tracked message was written for the first time at ``now``.  An id already
        pending (the application sent the same id again) keeps its entry.  Returns the
        outcome of the oldest entry if the tracker was full."""
        pending = self._pending
        if message_id in pending:
            return []
        pending[message_id] = _Pending(xml, now + self.settings.deadline)
        if len(pending) > self.settings.max_pending:
            oldest_id, oldest = pending.popitem(last=False)
            return [
                DeliveryNotConfirmed(
                    message_id=oldest_id, attempts=oldest.attempts, bounced=oldest.bounced
                )
            ]
        return []

    def marker(self, message_id: str) -> list[Outcome]:
        """A ``delivered`` or ``read`` marker for ``message_id`` came from someone else:
        ``DeliveryConfirmed`` if it was pending; a marker for an unknown id (never tracked,
        already settled) changes nothing."""
        entry = self._pending.pop(message_id, None)
        if entry is None:
            return []
        return [DeliveryConfirmed(message_id=message_id, attempts=entry.attempts)]

    def bounced(self, message_id: str) -> None:
        """The server bounced a send of the message (``<message type="error">``).  Noted
        for the final outcome; the message is still resent at its deadline, since a
        bounce may be transient (see the module docstring)."""
        entry = self._pending.get(message_id)
        if entry is not None:
            entry.bounced = True

    def next_deadline(self) -> float | None:
        """When :meth:`due` has work next, or ``None`` when nothing is pending."""
        for entry in self._pending.values():
            return entry.due
        return None

    def due(self, now: float) -> tuple[list[Outcome], list[tuple[str, str]]]:
        """Every entry whose deadline is ``<= now``: ``(outcomes, resends)``.  An entry
        with sends left is to be written again (``(message_id, xml)`` in ``resends``, its
        next deadline ``now + deadline``); one without is ``DeliveryNotConfirmed``."""
        pending = self._pending
        outcomes: list[Outcome] = []
        resends: list[tuple[str, str]] = []
        settings = self.settings
        again: list[tuple[str, _Pending]] = []
        while pending:
            message_id, entry = next(iter(pending.items()))
            if entry.due > now:
                break
            del pending[message_id]
            if entry.attempts >= settings.max_attempts:
                outcomes.append(
                    DeliveryNotConfirmed(
                        message_id=message_id, attempts=entry.attempts, bounced=entry.bounced
                    )
                )
                continue
            entry.attempts += 1
            entry.due = now + settings.deadline
            again.append((message_id, entry))
            resends.append((message_id, entry.xml))
        for message_id, entry in again:
            pending[message_id] = entry  # at the end: the latest deadline
        return outcomes, resends

    def items(self) -> list[tuple[str, str, int]]:
        """Every pending message as ``(message_id, xml, sends so far)``, oldest first (for
        a checkpoint: deadlines are on the old process's clock, so they are not kept)."""
        return [(mid, entry.xml, entry.attempts) for mid, entry in self._pending.items()]

    def restore(self, items: list[tuple[str, str, int]]) -> None:
        """Take :meth:`items` back in a new process: each is due at once (its marker
        did not come while the old process lived; the next ready session resends it).
        Called before anything is sent, so the deadline order holds."""
        for message_id, xml, attempts in items:
            entry = _Pending(xml, float("-inf"))
            entry.attempts = attempts
            self._pending.pop(message_id, None)
            self._pending[message_id] = entry
            if len(self._pending) > self.settings.max_pending:
                self._pending.popitem(last=False)

    def attempts(self, message_id: str) -> int | None:
        """Sends so far of a pending message, else ``None``."""
        entry = self._pending.get(message_id)
        return None if entry is None else entry.attempts

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._pending
