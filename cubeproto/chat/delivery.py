"""The per-message delivery state machine (beyond the official SDK).

Each message we send moves through :class:`~cubeproto.chat.events.DeliveryStatus` in the
order of its members and never backwards::

    QUEUED --ack--> SENT --bounce/lost--> FAILED
       |              |                     |
       +--------------+--- delivered ------>+--> DELIVERED --read--> READ

* ``QUEUED``: built and written (``stanza_sent``);
* ``SENT``: stream management acknowledged it (``message_acked``), counted per stanza
  by the connection rather than with the SDK's approximation;
* ``FAILED``: lost (``message_lost``: ack timeout, failed resume, closed connection) or
  bounced (``<message type="error">``);
* ``DELIVERED``/``READ``: a chat marker from someone else.  A marker is proof the message
  arrived, so it overrides ``FAILED`` (e.g. lost on a dropped connection but in fact
  delivered); ``READ`` implies ``DELIVERED``, which is reported first if it was skipped.

Anything that would move a message to an earlier or the same status is ignored, so no
interleaving of acks, markers, errors and resumes moves a message backwards; every change
is exactly one :class:`~cubeproto.chat.events.DeliveryStatusChanged`.  The tracker keeps
the last ``size`` messages (oldest forgotten first).
"""

from __future__ import annotations

from collections import OrderedDict

from .events import DeliveryStatus, DeliveryStatusChanged

__all__ = ["DEFAULT_DELIVERY_WINDOW", "DeliveryTracker"]

#: Messages whose status is remembered.  Markers usually arrive within minutes; a chat
#: client rarely has more than a few thousand messages in flight.
DEFAULT_DELIVERY_WINDOW = 4096

_RANK = {status: rank for rank, status in enumerate(DeliveryStatus)}


class DeliveryTracker:
    """Delivery statuses of the last ``size`` sent messages."""

    __slots__ = ("_size", "_status")

    def __init__(self, size: int = DEFAULT_DELIVERY_WINDOW) -> None:
        if size < 1:
            raise ValueError("the delivery tracker holds at least one message")
        self._size = size
        self._status: OrderedDict[str, DeliveryStatus] = OrderedDict()

    def queued(self, message_id: str) -> list[DeliveryStatusChanged]:
        """A message was written; a message id already tracked keeps its status."""
        if message_id in self._status:
            return []
        self._status[message_id] = DeliveryStatus.QUEUED
        if len(self._status) > self._size:
            self._status.popitem(last=False)
        return [
            DeliveryStatusChanged(
                message_id=message_id, status=DeliveryStatus.QUEUED, previous=None
            )
        ]

    def advance(self, message_id: str, status: DeliveryStatus) -> list[DeliveryStatusChanged]:
        """Move ``message_id`` to ``status`` if that is progress; the events for each step."""
        current = self._status.get(message_id)
        if current is None or _RANK[status] <= _RANK[current]:
            return []
        events = []
        if status is DeliveryStatus.READ and _RANK[current] < _RANK[DeliveryStatus.DELIVERED]:
            events.append(
                DeliveryStatusChanged(
                    message_id=message_id, status=DeliveryStatus.DELIVERED, previous=current
                )
            )
            current = DeliveryStatus.DELIVERED
        events.append(DeliveryStatusChanged(message_id=message_id, status=status, previous=current))
        self._status[message_id] = status
        return events

    def status(self, message_id: str) -> DeliveryStatus | None:
        """The current status of a tracked message, else ``None``."""
        return self._status.get(message_id)

    def __len__(self) -> int:
        return len(self._status)

    def items(self) -> list[tuple[str, DeliveryStatus]]:
        """Every tracked message and its status, oldest first."""
        return list(self._status.items())

    def restore(self, items: list[tuple[str, DeliveryStatus]]) -> None:
        """Track ``items`` (oldest first), e.g. from a checkpoint."""
        for message_id, status in items:
            self._status[message_id] = status
            self._status.move_to_end(message_id)
            if len(self._status) > self._size:
                self._status.popitem(last=False)
