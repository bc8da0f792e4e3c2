"""A fast path in front of :func:`cubeproto._xmlstream.escape_text`/``escape_attr``.

Outbound chat messages are built on the hot path and most values (ids, JIDs, keys,
ordinary text) contain nothing to escape.  A single regular-expression match recognises
such values conservatively -- printable ASCII without ``& < > " '`` plus non-ASCII
characters that XML 1.0 allows, excluding every control character -- and returns them
unchanged; anything else goes to the real escaping functions, which remain the only
place that knows how to escape (and which refuse characters XML 1.0 forbids).
"""

from __future__ import annotations

import re

from .._xmlstream import escape_attr, escape_text

__all__ = ["attr", "plain", "text"]

_NOTHING_TO_ESCAPE = re.compile(
    "[ !#-%(-;=?-~\u00a0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*"
).fullmatch


def plain(value: str) -> bool:
    """True when ``value`` needs no escaping, as text or as an attribute value.  The
    pattern is a repeated character class, so a concatenation is plain exactly when each
    of its parts is: one call can check several values."""
    return _NOTHING_TO_ESCAPE(value) is not None


def text(value: str) -> str:
    """``escape_text(value)``, without the work when there is nothing to escape."""
    return value if _NOTHING_TO_ESCAPE(value) is not None else escape_text(value)


def attr(value: str) -> str:
    """``escape_attr(value)``, without the work when there is nothing to escape."""
    return value if _NOTHING_TO_ESCAPE(value) is not None else escape_attr(value)
