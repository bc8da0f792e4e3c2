"""A pure retry policy: exponential backoff with jitter, honouring Retry-After.

Rules (ConnectyCube's REST documentation lists 429, 500 and 503 among its statuses):

* 429 and 503 mean "not processed, come back later": retried for every method;
* other 5xx are ambiguous (the server may have acted): retried only for idempotent methods
  (GET, HEAD, PUT, DELETE), so a POST that created a message is never sent twice;
* every other status -- 2xx, 3xx, and all other 4xx -- is final and never retried.

The delay is ``min(max_delay, base_delay * multiplier**(attempt-1))`` scaled by a jitter
factor drawn from the injected random source, or the server's ``Retry-After`` when it sends
one (seconds, or an HTTP-date measured against the ``now`` wall time you pass).  Nothing
here reads a clock or a global random generator.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ..errors import LocalProtocolError

__all__ = [
    "RETRY_ALWAYS",
    "RETRY_IF_IDEMPOTENT",
    "RetryPolicy",
    "parse_http_date",
    "parse_retry_after",
]

#: Statuses that promise the request was not processed.
RETRY_ALWAYS = frozenset({429, 503})
#: Statuses retried only when repeating the request is harmless.
RETRY_IF_IDEMPOTENT = frozenset({500, 502, 504})

HeaderSource = Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]


def _header(headers: HeaderSource, name: str) -> str | None:
    items = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in items:
        k = key.decode("latin-1") if isinstance(key, bytes) else key
        if k.lower() == name:
            return value.decode("latin-1") if isinstance(value, bytes) else value
    return None


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (RFC 9110 section 10.2.3), or None.

    ``delay-seconds`` (digits) or an HTTP-date; a date in the past gives 0.  ``now`` is the
    current wall-clock time in unix seconds.  Unparseable values give None (ignored).
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(int(text))
    moment = parse_http_date(text)
    if moment is None:
        return None
    return max(0.0, moment - now)


_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        start=1,
    )
}
_TIME = r"(\d\d):(\d\d):(\d\d)"
# RFC 9110 section 5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms.
_IMF = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d) ([A-Z][a-z]{2}) (\d{4}) " + _TIME + " GMT"
)
_RFC850 = re.compile(
    r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d\d)-([A-Z][a-z]{2})-(\d\d) "
    + _TIME
    + " GMT"
)
_ASCTIME = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) ([ \d]\d) " + _TIME + r" (\d{4})"
)


def parse_http_date(text: str) -> float | None:
    """An HTTP-date as unix seconds, or None.  (Own parser: ``email.utils`` imports socket.)"""
    if m := _IMF.fullmatch(text):
        day, mon, year, hh, mm, ss = m.groups()
    elif m := _RFC850.fullmatch(text):
        day, mon, yy, hh, mm, ss = m.groups()
        # RFC 9110: a two-digit year more than 50 years in the future is in the past century;
        # without a clock we take 70-99 as 19xx and 00-69 as 20xx (the POSIX convention).
        year = str((1900 if int(yy) >= 70 else 2000) + int(yy))
    elif m := _ASCTIME.fullmatch(text):
        mon, day, hh, mm, ss, year = m.groups()
    else:
        return None
    month = _MONTHS.get(mon)
    if month is None:
        return None
    fields = (int(year), month, int(day), int(hh), int(mm), int(ss))
    if not (
        1 <= fields[2] <= calendar.monthrange(fields[0], month)[1]
        and fields[3] < 24
        and fields[4] < 60
        and fields[5] <= 60
    ):
        return None
    return float(calendar.timegm((*fields, 0, 0, 0)))


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """When and how long to wait before re-sending a request.

    ``max_attempts`` counts every send, the first included.  ``jitter`` in [0, 1] is the
    fraction of the delay that is randomized: the delay is ``d * (1 - jitter * r)`` for a
    random ``r`` in [0, 1).  A ``Retry-After`` longer than ``max_retry_after`` makes the
    policy give up instead of waiting.
    """

    max_attempts: int = 4
    base_delay: float = 0.5
    multiplier: float = 2.0
    max_delay: float = 30.0
    jitter: float = 0.5
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise LocalProtocolError("max_attempts must be at least 1")
        if not (self.base_delay >= 0 and self.multiplier >= 1 and self.max_delay >= 0):
            raise LocalProtocolError("delays must be non-negative and multiplier >= 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise LocalProtocolError("jitter must be within [0, 1]")
        if not self.max_retry_after >= 0:
            raise LocalProtocolError("max_retry_after must be non-negative")

    @staticmethod
    def retryable(status: int, *, idempotent: bool) -> bool:
        """Whether a response with ``status`` may be retried at all."""
        return status in RETRY_ALWAYS or (idempotent and status in RETRY_IF_IDEMPOTENT)

    def backoff(self, attempt: int, random: Callable[[], float]) -> float:
        """The jittered delay after the ``attempt``-th send failed (attempt >= 1)."""
        exponent = min(attempt - 1, 1000)
        raw = self.base_delay * math.pow(self.multiplier, exponent) if exponent < 1000 else math.inf
        delay = min(self.max_delay, raw)
        r = random()
        if not 0.0 <= r < 1.0:
            raise LocalProtocolError(f"random source returned {r!r}, not a float in [0, 1)")
        return delay * (1.0 - self.jitter * r)

    def decide(
        self,
        *,
        status: int,
        headers: HeaderSource,
        idempotent: bool,
        attempt: int,
        now: float,
        random: Callable[[], float],
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to stop and report the response.

        ``attempt`` is how many times the request has been sent so far (1 after the first).
        """
        if attempt < 1:
            raise LocalProtocolError("attempt counts sends and starts at 1")
        if attempt >= self.max_attempts or not self.retryable(status, idempotent=idempotent):
            return None
        after = parse_retry_after(_header(headers, "retry-after"), now=now)
        if after is not None:
            return after if after <= self.max_retry_after else None
        return self.backoff(attempt, random)
