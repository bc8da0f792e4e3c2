"""Identifier factories: BSON ObjectIds for messages, UUIDv4-based ids for IQs.

Pure: time and randomness come from the callables the caller injects (the adapters pass
``time.time`` and ``os.urandom``; tests pass deterministic ones).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["IdFactory"]

Entropy = Callable[[int], bytes]
WallClock = Callable[[], float]

#: ``f"{n:02x}"`` for every byte value.
_LOW_BYTE = tuple(f"{n:02x}" for n in range(256))


class IdFactory:
    """Makes message and IQ ids.

    Message ids are 24-hex ObjectIds: 4 bytes of unix seconds, 5 random bytes and a 3-byte
    counter.  Unlike the official SDK (whose counter is always zero) the counter really
    counts, so two ids made in the same second never collide even with a weak entropy
    source.
    """

    __slots__ = ("_counter", "_entropy", "_prefix", "_process", "_seconds", "_wall_clock")

    def __init__(self, *, entropy: Entropy, wall_clock: WallClock) -> None:
        self._entropy = entropy
        self._wall_clock = wall_clock
        self._process = entropy(5).hex()
        self._counter = int.from_bytes(entropy(3), "big")
        self._seconds: int | None = None
        self._prefix = ""

    def message_id(self) -> str:
        """A fresh ObjectId, 24 lowercase hex characters."""
        # Shaped for the outbound hot path: the first 22 characters (seconds, process,
        # counter's upper 16 bits) change at most once a second or every 256 ids, so they
        # are kept and only the counter's low byte is looked up.
        seconds = int(self._wall_clock())
        counter = self._counter = (self._counter + 1) & 0xFFFFFF
        if seconds != self._seconds or not counter & 0xFF:
            self._seconds = seconds
            self._prefix = f"{seconds & 0xFFFFFFFF:08x}{self._process}{counter >> 8:04x}"
        return self._prefix + _LOW_BYTE[counter & 0xFF]

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
