"""Small parsers of wire values that must never raise on peer input."""

from __future__ import annotations

__all__ = ["parse_uint"]


def parse_uint(text: str | None, max_digits: int = 10) -> int | None:
    """The value of a non-negative decimal integer attribute, or ``None``.

    Only ASCII digits count: ``str.isdigit`` accepts characters such as ``"²"`` that
    ``int()`` rejects, and ``int()`` refuses digit strings over 4,300 characters; both
    would otherwise turn a peer's attribute into an exception.
    """
    # int() refuses more than 4,300 digits (CPython's conversion limit).
    if text is None or not 0 < len(text) <= min(max_digits, 4300):
        return None
    if not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def split_tag(tag: str) -> tuple[str, str]:
    """``(namespace, local name)`` of an lxml Clark-notation tag, never raising.

    ``lxml.etree.QName`` validates and raises ``ValueError`` on names a hostile peer can
    produce (a namespace URI containing ``}``, for instance); a local name can never hold
    ``}``, so splitting at the last one is exact.
    """
    if tag[:1] == "{":
        end = tag.rfind("}")
        if end > 0:
            return tag[1:end], tag[end + 1 :]
    return "", tag
