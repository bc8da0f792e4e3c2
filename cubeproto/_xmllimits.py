"""The byte-level watch on the XML limits: which slices of a stream need the tree checked.

Checking every element lxml builds against the text, attribute-value and attribute-count
limits of :class:`~cubeproto._xmlstream.XmlLimits` would tax every stanza.  A breach of
any of them needs a long run of bytes without ``<`` (a value or text node of n characters
is a run of more than n bytes; an element with n attributes, each at least `` a=""``, one
of at least 5n bytes), so :class:`LimitWatch` measures those runs on the raw bytes, across
slices, and the parser (``_xmlstream.XmlStreamParser``, and :func:`run_threshold` for
``parse_frame``) walks the tree only for a slice it flags.  Performs no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._xmlstream import XmlLimits

__all__ = ["LimitWatch", "run_threshold"]


def run_threshold(limits: XmlLimits) -> int:
    """The shortest ``<``-free run of bytes that could hide a breach of ``limits``."""
    # An element with n attributes needs a '<'-free run of at least 5n bytes (` a=""`);
    # a value or text node of n characters needs a run of more than n bytes.
    return min(
        5 * (limits.max_attributes + 1),
        limits.max_attribute_length + 1,
        limits.max_text_length + 1,
    )


class LimitWatch:
    """The ``<``-free run at the end of the bytes seen so far of one stream, and the test
    of each new slice against the limits."""

    __slots__ = ("_limits", "_run", "_run_eq", "_stride", "_threshold")

    def __init__(self, limits: XmlLimits) -> None:
        self._limits = limits
        self._run = 0  # length of the '<'-free run at the end of the bytes given to lxml
        self._run_eq = 0  # '=' bytes in that run
        self._threshold = run_threshold(limits)
        self._stride = (self._threshold + 1) // 2

    def flag(self, buf: bytes, spans: list[tuple[int, int]] | None) -> bool:
        """Cheap byte-level test: could this slice hide a limit breach?  False means the
        tree checks can be skipped for what it holds.

        A text node or attribute value over its limit, or an element with more than
        ``max_attributes`` attributes (each needs ``' a=""'``, 5 bytes, and one ``=``),
        needs a run of bytes without ``<`` at least ``_threshold`` long; runs are tracked
        across slices.  CDATA (``spans``, which may hold ``<`` inside a text node) always
        flags.
        """
        flagged = spans is not None
        size = len(buf)
        first = buf.find(b"<")
        if first < 0:
            run = self._run + size
            eq = self._run_eq + buf.count(b"=")
            if run >= self._threshold and self._over(run, eq):
                flagged = True
            self._run = run
            self._run_eq = eq
            return flagged
        run = self._run + first
        if run >= self._threshold and self._over(run, self._run_eq + buf.count(b"=", 0, first)):
            flagged = True
        if not flagged:
            # Every run at least _threshold long covers a whole aligned window of
            # _stride = ceil(_threshold / 2) bytes; memchr each window for a '<'.
            step = self._stride
            find = buf.find
            at = first - first % step + step  # first window after the carried run began
            while at + step <= size:
                if find(b"<", at, at + step) >= 0:
                    at += step
                    continue
                begin = buf.rfind(b"<", 0, at)
                stop = find(b"<", at + step)
                if stop < 0:
                    stop = size
                if self._over(stop - begin, buf.count(b"=", begin, stop)):
                    flagged = True
                    break
                at = stop - stop % step + step
        last = buf.rfind(b"<")
        self._run = size - last
        self._run_eq = buf.count(b"=", last)
        return flagged

    def _over(self, run: int, eq: int) -> bool:
        limits = self._limits
        return (
            run > limits.max_attribute_length
            or run > limits.max_text_length
            or eq > limits.max_attributes
        )
