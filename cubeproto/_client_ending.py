"""How a client stream ends: a stream error received from the server, one we send for
a fault of the peer (or drop silently when the session can be resumed), and the one
terminal ``ConnectionClosed``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from ._client_base import (
    _POISON_CONDITIONS,
    _STREAM_CONDITIONS,
    ClientParts,
)
from ._state import (
    Input,
    StreamState,
    transition,
)
from ._wire import split_tag
from .errors import (
    NS_STREAMS,
    RemoteProtocolError,
    StreamErrorCondition,
)
from .events import (
    CloseReason,
    ConnectionClosed,
)

__all__ = ["StreamEnding"]


class StreamEnding(ClientParts):
    """The ending part of :class:`~cubeproto._connection.ClientConnection`."""

    if not TYPE_CHECKING:  # the slots are ClientConnection's; a mixin adds none
        __slots__ = ()

    def _on_stream_error(self, element: etree._Element, now: float) -> None:
        name = ""
        text = None
        for child in element:
            if not isinstance(child.tag, str):
                continue
            namespace, local = split_tag(child.tag)
            if namespace != NS_STREAMS:
                continue
            if local == "text":
                text = child.text or ""
            elif not name:
                name = local
                if name == "see-other-host" and child.text:
                    text = child.text.strip()
        if self._framing.ready:
            self._out.append(self._framing.close_stream())
            self._out.append(self._framing.shutdown())
        condition = _STREAM_CONDITIONS.get(name, StreamErrorCondition.UNDEFINED_CONDITION)
        resumable = self._resumable() and condition is not StreamErrorCondition.CONFLICT
        if condition in _POISON_CONDITIONS and self._sm is not None and self._sm.unacked:
            # The server ended the stream over what we wrote: count a strike against the
            # oldest unacknowledged stanza (settled at the resumption, see _on_sm_resumed).
            self._poison_strikes += 1
            self._poison_condition = condition
        else:
            self._poison_strikes = 0
            self._poison_condition = None
        self._finish(
            ConnectionClosed(
                reason=CloseReason.STREAM_ERROR_RECEIVED,
                condition=condition,
                text=text,
                resumable=resumable,
            ),
            resumable=resumable,
        )

    def _fail(
        self,
        condition: StreamErrorCondition,
        text: str,
        *,
        send: bool = True,
        app_condition: str = "",
        end_session: bool = False,
    ) -> None:
        """The peer broke the protocol: send a stream error, close, report it.

        Except when the session is resumable.  RFC 6120 4.9.1.1 has the entity that
        detects a stream error send ``<stream:error/>`` and close the stream (4.4); but
        XEP-0198 resumption exists for streams that end *without* that orderly close, and
        ejabberd (tests/core/integration/test_resumable_after_bad_input.py) ends the session --
        every later ``<resume/>`` gets ``<failed><item-not-found/>`` -- when the client
        sends a stream error, with or without ``</stream:stream>``, or only
        ``</stream:stream>``; only a transport that simply drops (TCP FIN/RST, TLS
        close_notify) leaves it resumable.  So when we mean to resume, we write nothing:
        the adapter drops the transport on ``ConnectionClosed`` as for any dead link
        (RFC 6120 4.4 anticipates streams ending without the closing tag), and
        ``resumable`` is true because the session really is.  Otherwise the RFC's
        sequence: stream error, ``</stream:stream>``, and ``resumable`` false.
        ``end_session``: the fault makes the session itself useless (the counters
        disagree), so it is ended the RFC's way even when it could be resumed.
        """
        if self._state is StreamState.CLOSED:
            return
        resumable = self._resumable() and not end_session
        if resumable:
            send = False
        if send and self._framing.ready and self._state is not StreamState.TLS_PENDING:
            self._write_stream_error(condition, text, app_condition, empty_text=True)
        self._finish(
            ConnectionClosed(
                reason=CloseReason.PROTOCOL_ERROR,
                condition=condition,
                text=text,
                error=RemoteProtocolError(condition, text),
                resumable=resumable,
            ),
            resumable=resumable,
        )

    def _resumable(self) -> bool:
        if self._resume is not None:
            return True  # a resumption not yet answered: the old session may still resume
        return (
            self._sm_active
            and self._resume_id is not None
            and self._state in (StreamState.READY, StreamState.SESSION_SETUP)
        )

    def _finish(
        self, event: ConnectionClosed, resumable: bool, *, transition_done: bool = False
    ) -> None:
        """Enter CLOSED and report ``event``: the one terminal event, whatever path led
        here (settling the session below may try to end it again, e.g. a pending bind)."""
        if self._terminated:
            return
        self._terminated = True
        if not transition_done and self._state is not StreamState.CLOSED:
            self._state = transition(self._state, Input.FATAL)
        self._timers.clear()
        if not resumable:
            self._settle_everything()
            self._resume = None  # a pending <resume/> is given up too: settled above
            self._bridge = None
            for item in self._resend:
                self._unconfirmed(item.message_id)
            self._resend.clear()
        self._note_checkpoint(final=True)
        self._emit(event)

    def _on_footer(self) -> None:
        if self._state is StreamState.CLOSING:
            self._state = transition(self._state, Input.RECV_STREAM_END)
            self._out.append(self._framing.shutdown())
            self._finish(
                ConnectionClosed(reason=CloseReason.LOCAL, clean=True),
                resumable=False,
                transition_done=True,
            )
            return
        # The peer closed: close our side too.
        if self._framing.ready:
            self._out.append(self._framing.close_stream())
            self._out.append(self._framing.shutdown())
        resumable = self._resumable()
        self._finish(
            ConnectionClosed(reason=CloseReason.REMOTE, clean=True, resumable=resumable),
            resumable=resumable,
        )
