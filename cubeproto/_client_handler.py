"""The client connection's stanza handler (the chat layer, or the application's own): which
handler a connection has, every stanza that is not the connection's own handed to it, its
replies written, and its optional timed hooks (the chat layer's end-to-end resends, issue
15) given their deadlines while a session is ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from ._client_base import ClientParts
from ._state import StreamState
from ._xmlstream import element_bytes
from .commands import HandlerResult, StanzaContext, StanzaHandler
from .events import MalformedStanza, UnhandledStanza

__all__ = ["HandlerDispatch"]


class HandlerDispatch(ClientParts):
    """The stanza-handler part of :class:`~cubeproto._connection.ClientConnection`."""

    if not TYPE_CHECKING:  # the slots are ClientConnection's; a mixin adds none
        __slots__ = ()

    def _attach_handler(self, handler: StanzaHandler | None) -> None:
        """Make ``handler`` this connection's and look its optional hooks up once (see
        :class:`~cubeproto.commands.StanzaHandler`)."""
        self._handler = handler
        self._handler_sent_at = getattr(handler, "stanza_sent_at", None)
        self._handler_due = getattr(handler, "deadline_reached", None)
        self._handler_deadline = (
            getattr(handler, "next_deadline", None) if self._handler_due is not None else None
        )
        #: With app-controlled acks, the handler's hook told how far the application
        #: confirmed (the chat layer's duplicate suppression waits for it).
        self._on_confirm = None
        if self._config.app_controlled_acks and handler is not None:
            defer = getattr(handler, "defer_dedup_until_confirmed", None)
            if defer is not None:
                self._on_confirm = defer(self)

    def _handler_timer(self, own: float | None) -> float | None:
        """The earlier of ``own`` (the connection's next deadline) and the handler's, which
        counts only while a session is ready: one that comes due while there is none
        waits for the next session."""
        hook = self._handler_deadline
        if hook is None or self._state is not StreamState.READY:
            return own
        theirs = hook()
        if theirs is None or (own is not None and own <= theirs):
            return own
        return theirs

    def _handler_deadline_reached(self, now: float) -> None:
        """Give the handler its due deadline: emit its events, write its stanzas."""
        if self._handler_due is None or self._state is not StreamState.READY:
            return
        assert self._handler_deadline is not None
        deadline = self._handler_deadline()
        if deadline is None or deadline > now:
            return
        result: HandlerResult = self._handler_due(now, self)
        self._emit_all(result.events)
        for stanza in result.replies:
            self._send_built(stanza, now)

    def _to_handler(self, kind: str, element: etree._Element) -> None:
        # The inbound hot path: every message and presence comes through here.
        handler = self._handler
        if handler is None:
            self._emit(UnhandledStanza.of_element(element))
            if kind == "iq" and element.get("type") in ("get", "set"):
                self._answer_unsupported(element)
            return
        # ClientConnection, which this is part of, is the handler's StanzaContext.
        ctx: StanzaContext = self  # type: ignore[assignment]
        try:
            result = handler.handle_stanza(element, ctx)
        except Exception as exc:  # a handler bug must not kill the stream
            self._emit(
                MalformedStanza(raw=element_bytes(element), reason=f"handler failed: {exc!r}")
            )
            return
        events = result.events
        if events:
            seq = self._current_seq
            append = self._events.append
            for event in events:
                append((event, seq))
        replies = result.replies
        if replies:
            for reply in replies:
                self._send_built(reply, self._last_rx)
        elif kind == "iq" and element.get("type") in ("get", "set"):
            self._answer_unsupported(element)
