"""The client stream's states and the one table of legal transitions.

Rule 1: every change of ``ClientConnection``'s state goes through :func:`transition`.
Rule 2: a (state, input) pair that is not in :data:`TRANSITIONS` is illegal.  For inputs
caused by our caller that means ``LocalProtocolError`` (state unchanged); for inputs caused
by the peer the connection ends the stream with a stream error.

The table is the specification of the state machine; tests walk every pair of it, and
``python -m cubeproto._state`` prints it as a Graphviz digraph.

::

    IDLE --start--> CONNECTING (WebSocket upgrade) --ready--> OPENING
    IDLE --start--> OPENING
    OPENING --features(starttls)--> STARTTLS_SENT --proceed--> TLS_PENDING
    TLS_PENDING --tls_established--> OPENING
    OPENING --features(mechanisms)--> AUTHENTICATING --success--> OPENING (restart)
    OPENING --features(bind)--> BINDING | RESUMING
    RESUMING --resumed--> READY;  RESUMING --failed--> BINDING
    BINDING --bound--> SESSION_SETUP --sm settled--> READY
    READY --close--> CLOSING --peer closed / timeout--> CLOSED
    (any) --eof / stream error / protocol error / dead--> CLOSED
"""

from __future__ import annotations

import enum

from .errors import LocalProtocolError

__all__ = [
    "RECEIVE_STANZA_STATES",
    "SEND_STANZA_STATES",
    "TRANSITIONS",
    "Input",
    "StreamState",
    "legal_states",
    "transition",
]


class StreamState(enum.Enum):
    """Where a client stream is in its life."""

    IDLE = "idle"
    #: WebSocket only: the HTTP upgrade request is sent, waiting for 101.
    CONNECTING = "connecting"
    #: A stream header is sent; waiting for the server's header and features.
    OPENING = "opening"
    STARTTLS_SENT = "starttls-sent"
    #: The adapter must perform the TLS handshake and call ``tls_established``.
    TLS_PENDING = "tls-pending"
    AUTHENTICATING = "authenticating"
    RESUMING = "resuming"
    BINDING = "binding"
    #: Bound; SM enable / carbons / presence sent; waiting for SM to settle.
    SESSION_SETUP = "session-setup"
    READY = "ready"
    #: We sent our stream close and wait for the peer's.
    CLOSING = "closing"
    CLOSED = "closed"


class Input(enum.Enum):
    """Everything that can move the state.  SEND_* come from the caller, RECV_* from the
    peer, TIMER_* from ``handle_timer``."""

    SEND_START = "send-start"
    SEND_START_WEBSOCKET = "send-start-websocket"
    RECV_TRANSPORT_READY = "recv-transport-ready"
    RECV_FEATURES_STARTTLS = "recv-features-starttls"
    RECV_PROCEED = "recv-proceed"
    SEND_TLS_ESTABLISHED = "send-tls-established"
    RECV_FEATURES_AUTH = "recv-features-auth"
    RECV_SASL_SUCCESS = "recv-sasl-success"
    RECV_FEATURES_BIND = "recv-features-bind"
    RECV_FEATURES_RESUME = "recv-features-resume"
    RECV_RESUMED = "recv-resumed"
    RECV_RESUME_FAILED = "recv-resume-failed"
    RECV_BOUND = "recv-bound"
    RECV_SESSION_READY = "recv-session-ready"
    SEND_STANZA = "send-stanza"
    RECV_STANZA = "recv-stanza"
    SEND_CLOSE = "send-close"
    RECV_STREAM_END = "recv-stream-end"
    TIMER_CLOSE = "timer-close"
    #: EOF, stream error received, protocol error, auth failure, keepalive death.
    FATAL = "fatal"


_S = StreamState
_I = Input

#: (state, input) -> next state.  Anything absent is illegal.
TRANSITIONS: dict[tuple[StreamState, Input], StreamState] = {
    (_S.IDLE, _I.SEND_START): _S.OPENING,
    (_S.IDLE, _I.SEND_START_WEBSOCKET): _S.CONNECTING,
    (_S.CONNECTING, _I.RECV_TRANSPORT_READY): _S.OPENING,
    (_S.OPENING, _I.RECV_FEATURES_STARTTLS): _S.STARTTLS_SENT,
    (_S.STARTTLS_SENT, _I.RECV_PROCEED): _S.TLS_PENDING,
    (_S.TLS_PENDING, _I.SEND_TLS_ESTABLISHED): _S.OPENING,
    (_S.OPENING, _I.RECV_FEATURES_AUTH): _S.AUTHENTICATING,
    (_S.AUTHENTICATING, _I.RECV_SASL_SUCCESS): _S.OPENING,
    (_S.OPENING, _I.RECV_FEATURES_BIND): _S.BINDING,
    (_S.OPENING, _I.RECV_FEATURES_RESUME): _S.RESUMING,
    (_S.RESUMING, _I.RECV_RESUMED): _S.READY,
    (_S.RESUMING, _I.RECV_RESUME_FAILED): _S.BINDING,
    (_S.BINDING, _I.RECV_BOUND): _S.SESSION_SETUP,
    # The bind result is an IQ stanza, and a server may deliver stanzas while a bind or
    # a resumption is answered: both states take stanzas and stay where they are.
    (_S.BINDING, _I.RECV_STANZA): _S.BINDING,
    (_S.RESUMING, _I.RECV_STANZA): _S.RESUMING,
    (_S.SESSION_SETUP, _I.RECV_SESSION_READY): _S.READY,
    (_S.SESSION_SETUP, _I.RECV_STANZA): _S.SESSION_SETUP,
    (_S.READY, _I.SEND_STANZA): _S.READY,
    (_S.READY, _I.RECV_STANZA): _S.READY,
    (_S.CLOSING, _I.RECV_STANZA): _S.CLOSING,
    (_S.CLOSING, _I.RECV_STREAM_END): _S.CLOSED,
    (_S.CLOSING, _I.TIMER_CLOSE): _S.CLOSED,
}

# A stream can be closed by us from every live state, and ends on any fatal input.
for _state in StreamState:
    if _state not in (_S.IDLE, _S.CLOSING, _S.CLOSED):
        TRANSITIONS[(_state, _I.SEND_CLOSE)] = _S.CLOSING
        TRANSITIONS[(_state, _I.RECV_STREAM_END)] = _S.CLOSED
    if _state is not _S.CLOSED:
        TRANSITIONS[(_state, _I.FATAL)] = _S.CLOSED


def transition(state: StreamState, event: Input) -> StreamState:
    """The next state, or ``LocalProtocolError`` naming the illegal pair."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise LocalProtocolError(f"{event.value} is not allowed in state {state.value}") from None


def legal_states(event: Input) -> tuple[StreamState, ...]:
    """The states in which ``event`` is legal, in the enum's order except that READY (the
    state of almost all traffic) comes first.

    The connection tests stanza inputs against such a tuple on its hot path instead of
    calling :func:`transition` (membership in a tuple is an identity test; an Enum's
    ``__hash__`` is Python code).  Deriving it here keeps the table the one owner of what
    is legal; stanza inputs never change the state, which the table also says.
    """
    states = [state for state in StreamState if (state, event) in TRANSITIONS]
    if StreamState.READY in states:
        states.remove(StreamState.READY)
        states.insert(0, StreamState.READY)
    return tuple(states)


#: Where the peer may send stanzas (anything earlier is before authentication).
RECEIVE_STANZA_STATES: tuple[StreamState, ...] = legal_states(Input.RECV_STANZA)
#: Where our caller may send commands.
SEND_STANZA_STATES: tuple[StreamState, ...] = legal_states(Input.SEND_STANZA)


def graphviz() -> str:
    """The table as a Graphviz digraph (documentation aid)."""
    lines = ["digraph stream {"]
    for (src, inp), dst in TRANSITIONS.items():
        lines.append(f'  "{src.value}" -> "{dst.value}" [label="{inp.value}"];')
    lines.append("}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(graphviz())
