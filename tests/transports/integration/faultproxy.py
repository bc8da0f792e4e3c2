"""A fault-injecting TCP proxy on loopback, for the reconnect and delivery tests.

Each accepted connection is forwarded to the upstream address by two threads (one per
direction).  The faults, each the way a real network (or a hostile server) would show it
to the two ends:

- **cut** (:meth:`FaultProxy.cut_all`, or automatically after a random number of
  forwarded bytes with ``cut_after``): both sockets shut down, each end sees a FIN;
- **reset** (:meth:`FaultProxy.reset_all`): both sockets closed with ``SO_LINGER 0``, each
  end sees a TCP RST; ``reset_handshakes`` resets the next new connections after a
  random small number of bytes, i.e. during the stream negotiation (TLS handshake,
  SASL, bind or ``<resume/>``);
- **black hole that never heals** (:meth:`FaultProxy.blackhole_all`): the sockets stay
  open and everything is dropped, as a dead NAT mapping would;
- **black hole that heals** (:meth:`FaultProxy.stall_all` then :meth:`FaultProxy.heal_all`):
  nothing moves while stalled, but nothing is lost either: when the link heals, what was
  in flight arrives, as TCP's retransmissions deliver it after an outage;
  :meth:`FaultProxy.begin_outage` / :meth:`FaultProxy.end_outage` make it a whole-network
  outage (new connections are refused meanwhile), healing or not;
- **truncation** (:meth:`FaultProxy.truncate_all`): the next server-to-client chunk is
  cut in the middle of a TLS record (``"tls-record"``: the 5-byte header and part of the
  body are forwarded) or in the middle of an XML start tag (``"xml"``, for plaintext
  streams), then the connection is cut;
- **hostile server bytes** (:meth:`FaultProxy.inject_all`): bytes of the test's choosing
  are written to the client between two forwarded server chunks (a DOCTYPE, invalid
  UTF-8, an oversized stanza), as a compromised or broken server would send them.

Connections made after a fault started are forwarded normally, so a client that detects
the fault can recover.  :meth:`FaultProxy.counts` is what a test prints.
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Literal

TruncateKind = Literal["tls-record", "xml"]

#: TLS record content types (RFC 8446 5.1): change_cipher_spec, alert, handshake,
#: application_data.
_TLS_TYPES = frozenset({20, 21, 22, 23})
#: Stanza and stream-management start tags a mid-XML cut can land in.
_XML_STARTS = (
    b"<message",
    b"<presence",
    b"<iq",
    b"<r ",
    b"<a ",
    b"<enabled",
    b"<resumed",
    b"<stream:features",
    b"<proceed",
)


class _RecordTracker:
    """Follows TLS record framing in one direction, from the first byte that looks like
    a TLS record (position 0 for direct TLS, just after ``<proceed/>`` for STARTTLS)."""

    __slots__ = ("header", "in_tls", "remaining")

    def __init__(self) -> None:
        self.in_tls = False
        self.header = b""
        self.remaining = 0  # body bytes left in the current record

    def cut_point(self, chunk: bytes, rng: random.Random) -> int | None:
        """An offset in ``chunk`` strictly inside a record's body (header forwarded, at
        least one body byte withheld), or ``None``; then advances over ``chunk``."""
        candidates: list[tuple[int, int]] = []  # (first, last) valid cut offsets
        pos = 0
        if not self.in_tls and chunk[:1] and chunk[0] in _TLS_TYPES and chunk[1:2] == b"\x03":
            self.in_tls = True
        if not self.in_tls:
            return None
        while pos < len(chunk):
            if self.remaining == 0:
                need = 5 - len(self.header)
                self.header += chunk[pos : pos + need]
                pos += min(need, len(chunk) - pos)
                if len(self.header) == 5:
                    self.remaining = struct.unpack("!H", self.header[3:5])[0]
                    self.header = b""
                continue
            take = min(self.remaining, len(chunk) - pos)
            # Cut after >= 1 body byte and before the record's last byte.
            first, last = pos + 1, pos + min(take, self.remaining - 1)
            if first <= last:
                candidates.append((first, last))
            pos += take
            self.remaining -= take
        if not candidates:
            return None
        first, last = rng.choice(candidates)
        return rng.randint(first, last)


def _xml_cut_point(chunk: bytes, rng: random.Random) -> int | None:
    """An offset inside the first stanza start tag of ``chunk`` (after ``<``, before
    the tag's ``>``), or ``None``."""
    found = [i for i in (chunk.find(tag) for tag in _XML_STARTS) if i >= 0]
    if not found:
        return None
    start = min(found)
    end = chunk.find(b">", start)
    if end < 0:
        end = len(chunk)
    return rng.randint(start + 1, end - 1) if end - 1 >= start + 1 else start + 1


def ws_text_frame(payload: bytes) -> bytes:
    """One unmasked, final RFC 6455 text frame, as a server sends it: hostile bytes for a
    WebSocket stream are injected as a whole frame, so that what the client's XML layer
    gets is exactly ``payload``."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload


@dataclass
class _Link:
    client: socket.socket
    upstream: socket.socket
    number: int
    blackholed: bool = False
    closed: bool = False
    forwarded: int = 0
    cut_at: int | None = None
    reset_at: int | None = None
    truncate: TruncateKind | None = None
    flowing: threading.Event = field(default_factory=threading.Event)
    down_lock: threading.Lock = field(default_factory=threading.Lock)
    down_tls: _RecordTracker = field(default_factory=_RecordTracker)

    def close(self, *, reset: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        self.flowing.set()  # release pumps waiting out a stall
        for sock in (self.client, self.upstream):
            if reset:
                # Linger 0 makes the close send a RST; SHUT_RD (which sends nothing)
                # wakes the pump blocked in recv(), whose reference would otherwise keep
                # the socket open -- and silent -- until the next byte arrives.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    sock.shutdown(socket.SHUT_RD)
            else:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@dataclass
class FaultProxy:
    """``FaultProxy(upstream_port).start()``; connect clients to ``proxy.port``."""

    upstream_port: int
    upstream_host: str = "127.0.0.1"
    #: Cut each connection after a random number of forwarded bytes in this range
    #: (``None``: never cut automatically).
    cut_after: tuple[int, int] | None = None
    seed: int = 0
    cuts: int = 0
    resets: int = 0
    handshake_resets: int = 0
    truncations: dict[str, int] = field(default_factory=dict)
    stalls: int = 0
    heals: int = 0
    blackholes: int = 0
    injections: int = 0
    connections: int = 0
    refused: int = 0
    port: int = 0
    _links: list[_Link] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _listener: socket.socket | None = None
    _random: random.Random = field(default_factory=random.Random)
    _handshake_resets_left: int = 0
    _handshake_window: tuple[int, int] = (1, 1500)
    _stalled: bool = False
    _truncate_new: list[TruncateKind] = field(default_factory=list)

    def start(self) -> FaultProxy:
        self._random.seed(self.seed)
        listener = socket.create_server(("127.0.0.1", 0))
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            for link in self._links:
                link.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def counts(self) -> dict[str, int]:
        """Every fault injected so far, by kind (for the test's output)."""
        with self._lock:
            out = {
                "connections": self.connections,
                "cuts": self.cuts,
                "resets": self.resets,
                "handshake_resets": self.handshake_resets,
                "blackholes": self.blackholes,
                "stalls": self.stalls,
                "heals": self.heals,
                "injections": self.injections,
                "refused": self.refused,
            }
            out.update({f"truncated_{k}": v for k, v in self.truncations.items()})
            return out

    def _open_links(self) -> list[_Link]:
        return [link for link in self._links if not link.closed]

    def cut_all(self) -> int:
        """Cut every open connection (FIN to both ends); returns how many were cut."""
        with self._lock:
            open_links = self._open_links()
            for link in open_links:
                link.close()
            self.cuts += len(open_links)
            return len(open_links)

    def reset_all(self) -> int:
        """Reset every open connection (RST to both ends); returns how many."""
        with self._lock:
            open_links = self._open_links()
            for link in open_links:
                link.close(reset=True)
            self.resets += len(open_links)
            return len(open_links)

    def reset_handshakes(self, count: int, within: tuple[int, int] = (1, 1500)) -> None:
        """Reset each of the next ``count`` new connections after a random number of
        forwarded bytes in ``within`` (both directions together): during the TLS
        handshake, the stream negotiation, SASL or the ``<resume/>``."""
        with self._lock:
            self._handshake_resets_left = count
            self._handshake_window = within

    def blackhole_all(self) -> int:
        """Stop forwarding on every open connection (without closing them): everything
        is dropped from now on, for good."""
        with self._lock:
            open_links = self._open_links()
            for link in open_links:
                link.blackholed = True
            self.blackholes += len(open_links)
            return len(open_links)

    def stall_all(self) -> int:
        """A black hole that may heal: nothing is forwarded on the open connections
        (what they carry waits, in the proxy and the kernels' buffers) until
        :meth:`heal_all`.  Connections opened meanwhile are not affected."""
        with self._lock:
            open_links = [link for link in self._open_links() if link.flowing.is_set()]
            for link in open_links:
                link.flowing.clear()
            self.stalls += len(open_links)
            return len(open_links)

    def heal_all(self) -> int:
        """End every stall: what waited is delivered, in order, and forwarding goes on."""
        with self._lock:
            stalled = [link for link in self._open_links() if not link.flowing.is_set()]
            for link in stalled:
                link.flowing.set()
            self.heals += len(stalled)
            return len(stalled)

    def begin_outage(self, *, heal: bool) -> int:
        """A network outage: every open connection stalls (``heal=True``: it carries on,
        losing nothing, at :meth:`end_outage`) or is black-holed for good
        (``heal=False``), and new connections are refused (reset) until
        :meth:`end_outage`.  Returns how many connections it caught."""
        with self._lock:
            self._stalled = True
        return self.stall_all() if heal else self.blackhole_all()

    def end_outage(self) -> int:
        """New connections are forwarded again and stalled ones heal; returns how many
        healed."""
        with self._lock:
            self._stalled = False
        return self.heal_all()

    def truncate_new(self, kind: TruncateKind, count: int) -> None:
        """Arm each of the next ``count`` new connections (after those
        :meth:`reset_handshakes` takes) like :meth:`truncate_all`: for ``"xml"`` on a
        STARTTLS port, the cut lands in the plaintext negotiation
        (``<stream:features>``, ``<proceed/>``)."""
        with self._lock:
            self._truncate_new = [kind] * count

    def truncate_all(self, kind: TruncateKind) -> int:
        """Arm every open connection: its next server-to-client chunk that has a place of
        ``kind`` is forwarded up to a random such place, then the connection is cut."""
        with self._lock:
            open_links = self._open_links()
            for link in open_links:
                link.truncate = kind
            return len(open_links)

    def inject_all(self, data: bytes) -> int:
        """Write ``data`` to every open connection's client, as if the server sent it
        (between two forwarded chunks, never inside one); returns how many got it."""
        with self._lock:
            open_links = self._open_links()
        done = 0
        for link in open_links:
            with link.down_lock:
                if link.closed:
                    continue
                try:
                    link.client.sendall(data)
                except OSError:
                    continue
                done += 1
        with self._lock:
            self.injections += done
        return done

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection((self.upstream_host, self.upstream_port))
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._stalled:  # an outage: the connection fails at once
                    self.refused += 1
                    for sock in (client, upstream):
                        with contextlib.suppress(OSError):
                            sock.setsockopt(
                                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                            )
                        sock.close()
                    continue
                self.connections += 1
                link = _Link(client, upstream, self.connections)
                link.flowing.set()
                if self.cut_after is not None:
                    link.cut_at = self._random.randint(*self.cut_after)
                if self._handshake_resets_left > 0:
                    self._handshake_resets_left -= 1
                    link.reset_at = self._random.randint(*self._handshake_window)
                elif self._truncate_new:
                    link.truncate = self._truncate_new.pop()
                self._links.append(link)
            threading.Thread(
                target=self._pump, args=(link, client, upstream, False), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(link, upstream, client, True), daemon=True
            ).start()

    def _pump(self, link: _Link, src: socket.socket, dst: socket.socket, down: bool) -> None:
        """Forward ``src`` to ``dst``; ``down``: the server-to-client direction."""
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                with self._lock:
                    link.close()
                return
            # A stall holds the data until the link heals (or closes).
            link.flowing.wait()
            cut = reset = False
            with self._lock:
                if link.closed:
                    return
                if link.blackholed:
                    continue
                before = link.forwarded
                link.forwarded += len(data)
                if link.reset_at is not None and link.forwarded >= link.reset_at:
                    data = data[: max(0, link.reset_at - before)]
                    reset = True
                elif link.cut_at is not None and link.forwarded >= link.cut_at:
                    # Forward a random prefix of this chunk, then cut mid-stream.
                    data = data[: self._random.randint(0, len(data))]
                    cut = True
                elif down and link.truncate is not None:
                    if link.truncate == "tls-record":
                        at = link.down_tls.cut_point(data, self._random)
                    else:
                        at = _xml_cut_point(data, self._random)
                    if at is not None:
                        self.truncations[link.truncate] = self.truncations.get(link.truncate, 0) + 1
                        data = data[:at]
                        cut = True
                elif down:
                    link.down_tls.cut_point(data, self._random)  # keep following records
            try:
                if data:
                    if down:
                        with link.down_lock:
                            dst.sendall(data)
                    else:
                        dst.sendall(data)
            except OSError:
                pass
            if cut or reset:
                with self._lock:
                    if not link.closed:
                        link.close(reset=reset)
                        if reset:
                            self.handshake_resets += 1
                        elif link.truncate is None:
                            self.cuts += 1
                return
