"""The server connection's states and the one table of allowed transitions.

A server stream goes: (WebSocket upgrade) -> stream header -> features -> [STARTTLS ->
TLS -> header -> features] -> SASL -> header -> features -> bind or resume -> READY ->
CLOSED.  Whether TLS, SASL and binding are still to come is kept in flags on the
connection (``encrypted``, ``authenticated``); the state says what the connection is
waiting for *now*, and every change goes through :func:`transition`, so an impossible
sequence is a bug that raises instead of a silent corruption.
"""

from __future__ import annotations

import enum

from .errors import LocalProtocolError

__all__ = ["ServerInput", "ServerState", "server_transition"]


class ServerState(enum.Enum):
    """What the server side of one stream is waiting for."""

    #: WebSocket only: the HTTP upgrade request has not arrived yet.
    AWAITING_UPGRADE = "awaiting-upgrade"
    #: The client's stream header (or ``<open/>``) is next.
    AWAITING_HEADER = "awaiting-header"
    #: Features were sent; STARTTLS, ``<auth/>``, bind or ``<resume/>`` may come.
    NEGOTIATING = "negotiating"
    #: ``<proceed/>`` was sent: the adapter must run the TLS handshake.
    TLS_PENDING = "tls-pending"
    #: A SASL exchange is in progress (challenge sent, response expected).
    AUTHENTICATING = "authenticating"
    #: The client sent ``<resume/>``; the application looks up the detached session.
    RESUMING = "resuming"
    #: Bound (or resumed): stanzas flow.
    READY = "ready"
    #: We sent our stream close and wait for the client's.
    CLOSING = "closing"
    CLOSED = "closed"


class ServerInput(enum.Enum):
    """What can happen to a server stream."""

    #: ``start()`` on a WebSocket listener: the HTTP upgrade comes first.
    START_WEBSOCKET = "start-websocket"
    UPGRADED = "upgraded"
    HEADER = "header"
    STARTTLS = "starttls"
    TLS_DONE = "tls-done"
    SASL_STEP = "sasl-step"
    SASL_DONE = "sasl-done"
    SASL_FAILED = "sasl-failed"
    BOUND = "bound"
    RESUME = "resume"
    RESUMED = "resumed"
    RESUME_REFUSED = "resume-refused"
    CLOSE = "close"
    END = "end"


_S = ServerState
_I = ServerInput

_TABLE: dict[tuple[ServerState, ServerInput], ServerState] = {
    (_S.AWAITING_HEADER, _I.START_WEBSOCKET): _S.AWAITING_UPGRADE,
    (_S.AWAITING_UPGRADE, _I.UPGRADED): _S.AWAITING_HEADER,
    (_S.AWAITING_HEADER, _I.HEADER): _S.NEGOTIATING,
    (_S.NEGOTIATING, _I.STARTTLS): _S.TLS_PENDING,
    (_S.TLS_PENDING, _I.TLS_DONE): _S.AWAITING_HEADER,
    (_S.NEGOTIATING, _I.SASL_STEP): _S.AUTHENTICATING,
    (_S.AUTHENTICATING, _I.SASL_STEP): _S.AUTHENTICATING,
    (_S.NEGOTIATING, _I.SASL_DONE): _S.AWAITING_HEADER,
    (_S.AUTHENTICATING, _I.SASL_DONE): _S.AWAITING_HEADER,
    (_S.NEGOTIATING, _I.SASL_FAILED): _S.NEGOTIATING,
    (_S.AUTHENTICATING, _I.SASL_FAILED): _S.NEGOTIATING,
    (_S.NEGOTIATING, _I.BOUND): _S.READY,
    (_S.NEGOTIATING, _I.RESUME): _S.RESUMING,
    (_S.RESUMING, _I.RESUMED): _S.READY,
    (_S.RESUMING, _I.RESUME_REFUSED): _S.NEGOTIATING,
}
# Closing is allowed from every live state; ending from every state but CLOSED.
for _state in ServerState:
    if _state not in (_S.CLOSED, _S.CLOSING):
        _TABLE[(_state, _I.CLOSE)] = _S.CLOSING
    if _state is not _S.CLOSED:
        _TABLE[(_state, _I.END)] = _S.CLOSED


def server_transition(state: ServerState, event: ServerInput) -> ServerState:
    """The state after ``event``; raises ``LocalProtocolError`` if it is not allowed."""
    try:
        return _TABLE[(state, event)]
    except KeyError:
        raise LocalProtocolError(
            f"{event.value} is not allowed in server state {state.value}"
        ) from None
