"""The adapters' log records: what the connection did, and (on request) every frame.

Standard ``logging``, named loggers per layer, so that an application turns each on or off
on its own:

========================  =====================================================  =========
logger                    what                                                   levels
========================  =====================================================  =========
``cubeproto.connection``  connecting, TLS, login, session bound/resumed, closed  DEBUG-ERROR
``cubeproto.reconnect``   losses, the decision to retry (and when), recoveries   INFO-ERROR
``cubeproto.delivery``    messages lost, unconfirmed, rejected or refused        WARNING
``cubeproto.wire``        every XML frame both ways, credentials redacted        DEBUG
``cubeproto.rest``        each REST call: method, path, status, milliseconds     DEBUG-WARNING
========================  =====================================================  =========

The sentences come from :func:`cubeproto.diagnostics.describe`; nothing here reads the
network's words without redaction (:class:`~cubeproto.diagnostics.WireRedactor` for XML,
:func:`~cubeproto.diagnostics.redact_url` for URLs).  Nothing is formatted unless its
logger is enabled for the level.
"""

from __future__ import annotations

import logging

from cubeproto.chat.events import DialogJoinFailed, MessageBounced
from cubeproto.diagnostics import WireRedactor, describe, redact_url
from cubeproto.events import (
    Authenticated,
    AuthenticationFailed,
    Bound,
    CloseReason,
    Connected,
    ConnectionClosed,
    ConnectionDead,
    Event,
    MalformedStanza,
    MessageLost,
    MessageRejected,
    MessageUnconfirmed,
    ResumeFailed,
    StreamManagementEnabled,
    StreamOpened,
    StreamResumed,
    TlsUpgradeRequired,
)
from cubeproto.reconnect import Disconnected, Reconnected

__all__ = [
    "CONNECTION",
    "DELIVERY",
    "RECONNECT",
    "REST",
    "WIRE",
    "WireTrace",
    "log_event",
    "log_rest_call",
]

# A library adds no handler of its own but the null one, so that an application that
# configures no logging gets no output from here (the logging HOWTO's advice); the
# exceptions (ConnectFailed's message included) still say why.
logging.getLogger("cubeproto").addHandler(logging.NullHandler())

CONNECTION = logging.getLogger("cubeproto.connection")
RECONNECT = logging.getLogger("cubeproto.reconnect")
DELIVERY = logging.getLogger("cubeproto.delivery")
WIRE = logging.getLogger("cubeproto.wire")
REST = logging.getLogger("cubeproto.rest")

_DEBUG, _INFO, _WARNING, _ERROR = logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR

#: Event type -> (logger, level).  Events not listed (the chat vocabulary: messages,
#: markers, typing ...) are the application's business and are not logged.
_ROUTES: dict[type, tuple[logging.Logger, int]] = {
    StreamOpened: (CONNECTION, _DEBUG),
    TlsUpgradeRequired: (CONNECTION, _DEBUG),
    Authenticated: (CONNECTION, _DEBUG),
    Bound: (CONNECTION, _DEBUG),
    StreamManagementEnabled: (CONNECTION, _DEBUG),
    Connected: (CONNECTION, _INFO),
    StreamResumed: (CONNECTION, _INFO),
    ResumeFailed: (CONNECTION, _WARNING),
    AuthenticationFailed: (CONNECTION, _ERROR),
    ConnectionDead: (CONNECTION, _WARNING),
    MalformedStanza: (CONNECTION, _WARNING),
    MessageLost: (DELIVERY, _WARNING),
    MessageUnconfirmed: (DELIVERY, _WARNING),
    MessageRejected: (DELIVERY, _WARNING),
    MessageBounced: (DELIVERY, _WARNING),
    DialogJoinFailed: (CONNECTION, _WARNING),
    Reconnected: (RECONNECT, _INFO),
}


def log_event(event: Event, where: str) -> None:
    """Log ``event`` (if it is one worth a record) on its logger; ``where`` names the
    endpoint (``host:port``) so that a record is readable on its own."""
    kind = type(event)
    route = _ROUTES.get(kind)
    if route is None:
        if kind is ConnectionClosed:
            assert isinstance(event, ConnectionClosed)
            level = _DEBUG if event.reason is CloseReason.LOCAL else _WARNING
            route = (CONNECTION, level)
        elif kind is Disconnected:
            assert isinstance(event, Disconnected)
            route = (RECONNECT, _WARNING if event.reconnect_in is not None else _ERROR)
        else:
            return
    logger, level = route
    if logger.isEnabledFor(level):
        logger.log(level, "%s: %s", where, describe(event))


#: How the client's stream headers begin (TCP, WebSocket).
_STREAM_STARTS = (b"<?xml", b"<stream:stream", b"<open ")


class WireTrace:
    """The ``cubeproto.wire`` trace of one connection: each direction through its own
    redactor, one DEBUG record per frame (``>>`` sent, ``<<`` received)."""

    __slots__ = ("_inbound", "_outbound", "_where")

    def __init__(self, where: str) -> None:
        self._where = where
        self._inbound = WireRedactor()
        self._outbound = WireRedactor()

    @staticmethod
    def wanted() -> bool:
        """Whether anyone listens: the trace costs nothing when this is false."""
        return WIRE.isEnabledFor(_DEBUG)

    def __call__(self, direction: str, data: bytes) -> None:
        """Record ``data`` going ``direction`` (``"out"`` or ``"in"``)."""
        outbound = direction == "out"
        if outbound and data.startswith(_STREAM_STARTS):
            # A new stream (a new connection, or the restart after TLS or SASL): what
            # was left half-read of the old one no longer matters.
            self._inbound = WireRedactor()
            self._outbound = WireRedactor()
        text = (self._outbound if outbound else self._inbound).feed(data)
        if text and WIRE.isEnabledFor(_DEBUG):
            WIRE.debug("%s %s %s", self._where, ">>" if outbound else "<<", text)


def log_rest_call(method: str, url: str, status: int | None, seconds: float) -> None:
    """One REST exchange: ``status`` ``None`` when no answer came (the error follows as an
    exception).  4xx/5xx are WARNING, the rest DEBUG."""
    level = _DEBUG if status is not None and status < 400 else _WARNING
    if REST.isEnabledFor(level):
        answer = str(status) if status is not None else "no answer"
        REST.log(level, "%s %s -> %s in %.0f ms", method, redact_url(url), answer, seconds * 1000)
