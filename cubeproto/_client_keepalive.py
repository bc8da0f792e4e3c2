"""Keepalive and idle timers on the client side: a ping after a quiet interval, the
connection declared dead when it goes unanswered, and the parser released while the
stream is idle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._client_base import (
    _DEAD_TIMER,
    _IDLE_TIMER,
    _IQ,
    _KEEPALIVE_TIMER,
    ClientParts,
    _PendingIq,
    _ping_xml,
)
from ._state import (
    StreamState,
)
from .events import (
    CloseReason,
    ConnectionClosed,
    ConnectionDead,
)

__all__ = ["Keepalive"]


class Keepalive(ClientParts):
    """The keepalive part of :class:`~cubeproto._connection.ClientConnection`."""

    if not TYPE_CHECKING:  # the slots are ClientConnection's; a mixin adds none
        __slots__ = ()

    def _arm_keepalive(self, now: float) -> None:
        interval = self._config.keepalive_interval
        if interval is not None and self._state is StreamState.READY:
            self._timers.set(_KEEPALIVE_TIMER, max(now, self._last_rx) + interval)

    def _arm_idle(self, now: float) -> None:
        interval = self._config.release_parser_when_idle
        if interval is not None and self._state is StreamState.READY:
            self._timers.set(_IDLE_TIMER, max(now, self._last_rx) + interval)

    def _idle(self, now: float) -> None:
        """Idle long enough: let the framing free its parser.  The timer is armed again by
        the next input (receive_data), so an idle connection is not woken periodically."""
        interval = self._config.release_parser_when_idle
        if interval is None or self._state is not StreamState.READY:
            return
        if now - self._last_rx < interval:
            self._timers.set(_IDLE_TIMER, self._last_rx + interval)
        elif self._framing.release_idle():
            self._parser_released = True
        else:  # mid-element (a slow stanza): look again later
            self._timers.set(_IDLE_TIMER, now + interval)

    def _keepalive(self, now: float) -> None:
        interval = self._config.keepalive_interval
        if interval is None or self._state is not StreamState.READY:
            return
        idle = now - self._last_rx
        if idle < interval:
            self._timers.set(_KEEPALIVE_TIMER, self._last_rx + interval)
            return
        iq_id = self._ids.iq_id("ping")
        host = self._config.chat_host
        self._pending[iq_id] = _PendingIq("keepalive", host, now, None)
        self._keepalive_sent_at = now
        self._send_stanza(
            _ping_xml(iq_id, host),
            _IQ,
            iq_id,
            countable=False,
            now=now,
        )
        self._timers.set(_DEAD_TIMER, now + self._config.keepalive_timeout)

    def _dead_check(self, now: float) -> None:
        sent_at = self._keepalive_sent_at
        if sent_at is not None and self._last_rx > sent_at:
            # Something arrived after our ping: the connection is alive.
            self._keepalive_sent_at = None
            self._arm_keepalive(now)
            return
        self._emit(ConnectionDead(idle_seconds=now - self._last_rx))
        resumable = self._resumable()
        self._finish(ConnectionClosed(reason=CloseReason.DEAD, resumable=resumable), resumable)
