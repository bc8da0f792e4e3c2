"""Identifier factories: BSON ObjectIds for messages, UUIDv4-based ids for IQs.

Pure: time and randomness come from the callables the caller injects (the adapters pass
``time.time`` and ``os.urandom``; tests pass deterministic ones).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["IdFactory"]

Entropy = Callable[[int], bytes]
WallClock = Callable[[], float]


class IdFactory:
    """Makes message and IQ ids.

    Message ids are 24-hex ObjectIds: 4 bytes of unix seconds, 5 random bytes and a 3-byte
    counter.  Unlike the official SDK (whose counter is always zero) the counter really
    counts, so two ids made in the same second never collide even with a weak entropy
    source.
    """

    __slots__ = ("_counter", "_entropy", "_process", "_wall_clock")

    def __init__(self, *, entropy: Entropy, wall_clock: WallClock) -> None:
        self._entropy = entropy
        self._wall_clock = wall_clock
        self._process = entropy(5).hex()
        self._counter = int.from_bytes(entropy(3), "big")

    def message_id(self) -> str:
        """A fresh ObjectId, 24 lowercase hex characters."""
        seconds = int(self._wall_clock()) & 0xFFFFFFFF
        self._counter = (self._counter + 1) & 0xFFFFFF
        return f"{seconds:08x}{self._process}{self._counter:06x}"

    def uuid4(self) -> str:
        """A random RFC 4122 version 4 UUID in its canonical text form."""
        raw = bytearray(self._entropy(16))
        raw[6] = (raw[6] & 0x0F) | 0x40
        raw[8] = (raw[8] & 0x3F) | 0x80
        h = raw.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def iq_id(self, purpose: str) -> str:
        """An IQ id in the official SDK's form, ``{uuid4}:{purpose}``."""
        return f"{self.uuid4()}:{purpose}"

    def short_id(self) -> str:
        """A short random id (resource binding, stream ids), 10 base-36 characters."""
        n = int.from_bytes(self._entropy(8), "big")
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"
        out = []
        for _ in range(10):
            n, r = divmod(n, 36)
            out.append(digits[r])
        return "".join(out)
