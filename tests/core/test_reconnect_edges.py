"""Backoff and policy validation at their edges (issue 17, mutation survivors): the
bounds that are allowed exactly, and the texts of the refusals."""

from __future__ import annotations

from typing import Any

import pytest

from cubeproto.errors import LocalProtocolError
from cubeproto.reconnect import ReconnectPolicy, backoff_delay

BACKOFF_RULE = "backoff_delay: attempt >= 0, 0 <= jitter <= 1, 0 <= floor <= cap"


@pytest.mark.parametrize(
    ("attempt", "floor", "cap", "jitter", "delay"),
    [
        (0, 1.0, 8.0, 0.0, 1.0),  # half of the base, clamped up to the floor
        (0, 1.0, 8.0, 1.0, 1.0),
        (3, 1.0, 8.0, 1.0, 8.0),
        (3, 1.0, 8.0, 0.0, 4.0),
        (2, 1.0, 8.0, 0.5, 3.0),
        (0, 0.0, 0.0, 0.5, 0.0),
        (5, 2.0, 2.0, 0.0, 2.0),
        (64, 1.0, 30.0, 0.0, 15.0),
        (10_000, 1.0, 30.0, 1.0, 30.0),
    ],
)
def test_delays_at_the_bounds(
    attempt: int, floor: float, cap: float, jitter: float, delay: float
) -> None:
    assert backoff_delay(attempt, floor=floor, cap=cap, jitter=jitter) == delay


@pytest.mark.parametrize(
    "kwargs",
    [
        {"attempt": -1, "floor": 1.0, "cap": 2.0, "jitter": 0.5},
        {"attempt": 0, "floor": 1.0, "cap": 2.0, "jitter": 1.0001},
        {"attempt": 0, "floor": -0.001, "cap": 2.0, "jitter": 0.5},
        {"attempt": 0, "floor": 2.0, "cap": 1.999, "jitter": 0.5},
    ],
)
def test_backoff_refusals_say_the_rule(kwargs: dict[str, Any]) -> None:
    kwargs = dict(kwargs)
    attempt = kwargs.pop("attempt")
    with pytest.raises(LocalProtocolError) as info:
        backoff_delay(attempt, **kwargs)
    assert str(info.value) == BACKOFF_RULE


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"floor": -0.5}, "need 0 <= floor <= cap"),
        ({"floor": 3.0, "cap": 2.0}, "need 0 <= floor <= cap"),
        ({"max_attempts": -1}, "max_attempts must be >= 0 or None"),
    ],
)
def test_policy_refusals(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(LocalProtocolError) as info:
        ReconnectPolicy(**kwargs)
    assert str(info.value) == message


def test_policy_bounds_that_are_allowed() -> None:
    assert ReconnectPolicy(floor=0.0, cap=0.0).cap == 0.0
    assert ReconnectPolicy(floor=2.0, cap=2.0).floor == 2.0
    assert ReconnectPolicy(max_attempts=0).max_attempts == 0
