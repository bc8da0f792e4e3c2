"""A fast path in front of :func:`cubeproto._xmlstream.escape_text`/``escape_attr``.

Outbound chat messages are built on the hot path and most values (ids, JIDs, keys,
ordinary text) contain nothing to escape.  ``str.isprintable()`` -- one C loop over the
characters -- is false for every character XML 1.0 forbids (C0 controls, lone surrogates,
U+FFFE and U+FFFF are all non-printable in every Unicode version) and for tab, LF and CR,
which need escaping.  A printable value can therefore only need its markup characters
replaced, which ``str.replace`` does here directly; anything else goes to the real
escaping functions, which remain the only place that decides what is refused (and how
non-printable characters are written).
"""

from __future__ import annotations

from .._xmlstream import escape_attr, escape_text

__all__ = ["attr", "plain", "text"]


def plain(value: str) -> bool:
    """True when ``value`` needs no escaping, as text or as an attribute value.  The test is
    per character, so a concatenation is plain exactly when each of its parts is: one call
    can check several values."""
    return value.isprintable() and not (
        "&" in value or "<" in value or ">" in value or '"' in value
    )


def text(value: str) -> str:
    """``escape_text(value)``, without the general work for a printable value."""
    if value.isprintable():
        # ``in`` is a memchr; most values have no markup character and are returned as is
        if "&" in value or "<" in value or ">" in value:
            return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return value
    return escape_text(value)


def attr(value: str) -> str:
    """``escape_attr(value)``, without the general work for a printable value."""
    if value.isprintable():
        if "&" in value or "<" in value or ">" in value or '"' in value:
            return (
                value.replace("&", "&amp;")
                .replace("<", "&lt;")
                .replace(">", "&gt;")
                .replace('"', "&quot;")
            )
        return value
    return escape_attr(value)
