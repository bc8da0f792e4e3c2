"""The server role's state table against its specification, written out by hand here
(independently of cubeproto._server_state): every (state, input) pair either moves where
the specification says or raises LocalProtocolError.  That every state change of the
server goes through this table is tested in tests/core/test_state_table.py."""

from __future__ import annotations

import pytest

from cubeproto._server_state import ServerInput, server_transition
from cubeproto.errors import LocalProtocolError
from cubeproto.server import ServerState

_LIVE = [
    "awaiting-upgrade",
    "awaiting-header",
    "negotiating",
    "tls-pending",
    "authenticating",
    "resuming",
    "ready",
]
SPECIFIED = {
    ("awaiting-header", "start-websocket"): "awaiting-upgrade",
    ("awaiting-upgrade", "upgraded"): "awaiting-header",
    ("awaiting-header", "header"): "negotiating",
    ("negotiating", "starttls"): "tls-pending",
    ("tls-pending", "tls-done"): "awaiting-header",
    ("negotiating", "sasl-step"): "authenticating",
    ("authenticating", "sasl-step"): "authenticating",
    ("negotiating", "sasl-done"): "awaiting-header",
    ("authenticating", "sasl-done"): "awaiting-header",
    ("negotiating", "sasl-failed"): "negotiating",
    ("authenticating", "sasl-failed"): "negotiating",
    ("negotiating", "bound"): "ready",
    ("negotiating", "resume"): "resuming",
    ("resuming", "resumed"): "ready",
    ("resuming", "resume-refused"): "negotiating",
    ("closing", "end"): "closed",
    **{(live, "close"): "closing" for live in _LIVE},
    **{(live, "end"): "closed" for live in _LIVE},
}


@pytest.mark.parametrize("state", list(ServerState), ids=lambda s: s.value)
@pytest.mark.parametrize("inp", list(ServerInput), ids=lambda i: i.value)
def test_every_pair_follows_the_specification(state: ServerState, inp: ServerInput) -> None:
    expected = SPECIFIED.get((state.value, inp.value))
    if expected is None:
        with pytest.raises(LocalProtocolError):
            server_transition(state, inp)
    else:
        assert server_transition(state, inp) is ServerState(expected)


def test_the_specification_names_only_real_states_and_inputs() -> None:
    states = {s.value for s in ServerState}
    inputs = {i.value for i in ServerInput}
    assert {s for s, _ in SPECIFIED} | set(SPECIFIED.values()) <= states
    assert {i for _, i in SPECIFIED} <= inputs
