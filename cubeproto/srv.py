"""Finding a domain's XMPP servers through DNS SRV records, sans-IO (RFC 6120 3.2.1,
XEP-0368, RFC 2782).

A client asked to (``srv=True`` in the clients) looks up ``_xmpp-client._tcp.{domain}``
(STARTTLS) or ``_xmpps-client._tcp.{domain}`` (direct TLS) before its first connection and
uses the targets as its endpoints, in the order RFC 2782 gives them: lowest priority
first, weighted random order among equal priorities.  What the answer means:

* records -- the endpoints, tried in that order (the client moves to the next when an
  attempt fails, as with any list of endpoints);
* one record whose target is ``.`` -- the domain says it offers no such service: the
  client does not connect (RFC 2782; RFC 6120 3.2.1 "decidedly not available");
* no record (``NXDOMAIN``, or an answer without SRV records), or no usable answer from any
  nameserver (timeouts, ``SERVFAIL``, ``REFUSED``, a truncated or malformed answer) -- the
  fallback of RFC 6120 3.2.1: the domain itself on the transport's usual port.

:class:`SrvLookup` is the whole exchange as a state machine: it says which nameserver to
ask next and with which datagram, takes every datagram that comes back (a datagram that
does not answer the query -- another id, another question -- is ignored, as a resolver
must: it may be a late answer or a forgery), and is told of timeouts; its
:attr:`~SrvLookup.outcome` says what was found and why, in words fit for a log record.
The adapters only send, wait and receive.  Not done: TCP retries of truncated answers
(the query offers 1,232-byte answers with EDNS(0), room for about thirty records; a
truncated one counts as no answer from that nameserver), DNSSEC, and record TTLs (the
clients look up before their first connection, and again only after every target failed).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .config import Transport
from .errors import CubeProtoError
from .reconnect import Endpoint

__all__ = [
    "EDNS_PAYLOAD",
    "DnsAnswerError",
    "PendingQuery",
    "SrvAnswer",
    "SrvLookup",
    "SrvOutcome",
    "SrvQuery",
    "SrvRecord",
    "nameservers_from_resolv_conf",
    "order_srv_records",
    "srv_service_name",
]

#: RR types and class used here.
_TYPE_CNAME, _TYPE_SRV, _TYPE_OPT, _CLASS_IN = 5, 33, 41, 1
#: The UDP payload size offered with EDNS(0): the DNS flag day 2020 value, which fits an
#: unfragmented datagram on any path.
EDNS_PAYLOAD = 1232
#: RCODEs with a meaning here.
_NOERROR, _SERVFAIL, _NXDOMAIN = 0, 2, 3
_RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
#: A name's wire form is at most 255 octets (RFC 1035 2.3.4); a label at most 63.
_MAX_NAME, _MAX_LABEL = 255, 63
_HEADER = struct.Struct("!HHHHHH")
_RR_FIXED = struct.Struct("!HHIH")
_SRV_FIXED = struct.Struct("!HHH")

_SERVICES = {Transport.TCP: "_xmpp-client._tcp", Transport.DIRECT_TLS: "_xmpps-client._tcp"}


class DnsAnswerError(CubeProtoError, ValueError):
    """A datagram that is not a usable answer to our SRV query.  ``foreign`` is true
    when it does not answer this query at all (another id or question, not a response):
    a resolver ignores such a datagram and keeps waiting."""

    def __init__(self, reason: str, *, foreign: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.foreign = foreign


@dataclass(frozen=True, slots=True)
class SrvRecord:
    """One SRV record: ``target`` without its final dot (``"."`` stays ``"."``)."""

    priority: int
    weight: int
    port: int
    target: str


@dataclass(frozen=True, slots=True)
class SrvAnswer:
    """A nameserver's answer to our query: its RCODE, the SRV records it gave for our
    name (through any CNAMEs it followed), and whether it was truncated."""

    rcode: int
    records: tuple[SrvRecord, ...]
    truncated: bool

    @property
    def rcode_name(self) -> str:
        return _RCODE_NAMES.get(self.rcode, f"RCODE {self.rcode}")


def srv_service_name(domain: str, transport: Transport) -> str:
    """The SRV name a client of ``transport`` looks up for ``domain``; ``ValueError`` for
    a WebSocket transport (its servers are found through XEP-0156, not SRV)."""
    service = _SERVICES.get(transport)
    if service is None:
        raise ValueError(f"no SRV service for the {transport.value} transport (XEP-0156)")
    return f"{service}.{domain.rstrip('.')}"


def _encode_name(name: str) -> bytes:
    out = bytearray()
    for label in name.rstrip(".").split("."):
        raw = label.encode("idna") if not label.isascii() else label.encode("ascii")
        if not raw or len(raw) > _MAX_LABEL:
            raise ValueError(f"{name!r} is not a domain name (label {label!r})")
        out.append(len(raw))
        out += raw
    out.append(0)
    if len(out) > _MAX_NAME:
        raise ValueError(f"{name!r} is longer than a domain name may be")
    return bytes(out)


class SrvQuery:
    """One SRV question, ``name``, under the 16-bit ``query_id``: :attr:`datagram` to
    send, :meth:`answer` to read what came back."""

    __slots__ = ("_question", "datagram", "name", "query_id")

    def __init__(self, name: str, query_id: int) -> None:
        if not 0 <= query_id <= 0xFFFF:
            raise ValueError(f"query id {query_id} is not 16 bits")
        self.name = name.rstrip(".")
        self.query_id = query_id
        #: The question as the answer must repeat it (names compare case-insensitively).
        self._question = _encode_name(self.name).lower() + struct.pack("!HH", _TYPE_SRV, _CLASS_IN)
        header = _HEADER.pack(query_id, 0x0100, 1, 0, 0, 1)  # RD; one question; one OPT
        opt = b"\x00" + struct.pack("!HHIH", _TYPE_OPT, EDNS_PAYLOAD, 0, 0)
        #: The query: our question, recursion desired, EDNS(0) offering 1,232 bytes.
        self.datagram = header + _encode_name(self.name) + self._question[-4:] + opt

    def answer(self, data: bytes) -> SrvAnswer:
        """Read a datagram that came back.  :class:`DnsAnswerError` if it is not a
        well-formed answer to this query (``foreign`` when it answers another)."""
        if len(data) < _HEADER.size:
            raise DnsAnswerError(f"a datagram of {len(data)} bytes is no DNS message", foreign=True)
        query_id, flags, qdcount, ancount, _nscount, _arcount = _HEADER.unpack_from(data)
        if query_id != self.query_id or not flags & 0x8000:
            raise DnsAnswerError("not a response to this query (id or QR bit)", foreign=True)
        if (flags >> 11) & 0xF:
            raise DnsAnswerError("not a standard query's response (opcode)", foreign=True)
        if qdcount != 1:
            raise DnsAnswerError(f"{qdcount} questions in the answer, not ours", foreign=True)
        reader = _Reader(data, _HEADER.size)
        start = reader.at
        reader.skip_name()
        kind = data[reader.need(4) : reader.at]
        if _lower_name(data, start) + kind != self._question:
            raise DnsAnswerError("the answer is to another question", foreign=True)
        rcode = flags & 0xF
        truncated = bool(flags & 0x0200)
        records: list[SrvRecord] = []
        names = {self._question[:-4]}
        for _ in range(ancount):
            owner = _lower_name(data, reader.at)
            reader.skip_name()
            rtype, rclass, _ttl, length = _RR_FIXED.unpack_from(data, reader.need(_RR_FIXED.size))
            rdata = reader.need(length)
            if rclass != _CLASS_IN or owner not in names:
                continue
            if rtype == _TYPE_CNAME:
                names.add(_lower_name(data, rdata, end=rdata + length))
            elif rtype == _TYPE_SRV:
                if length < _SRV_FIXED.size + 1:
                    raise DnsAnswerError(f"an SRV record of {length} bytes")
                priority, weight, port = _SRV_FIXED.unpack_from(data, rdata)
                target = _read_name(data, rdata + _SRV_FIXED.size, end=rdata + length)
                records.append(SrvRecord(priority, weight, port, target))
        return SrvAnswer(rcode, tuple(records), truncated)


class _Reader:
    """A cursor over a DNS message that refuses to read past its end."""

    __slots__ = ("at", "data")

    def __init__(self, data: bytes, at: int) -> None:
        self.data = data
        self.at = at

    def need(self, count: int) -> int:
        """Consume ``count`` bytes; return where they start."""
        start = self.at
        if start + count > len(self.data):
            raise DnsAnswerError("the answer ends inside a record")
        self.at = start + count
        return start

    def skip_name(self) -> None:
        self.at = _name_end(self.data, self.at)


def _name_end(data: bytes, at: int) -> int:
    """Where the name at ``at`` ends in the message (after its pointer, if any)."""
    while True:
        if at >= len(data):
            raise DnsAnswerError("the answer ends inside a name")
        length = data[at]
        if length == 0:
            return at + 1
        if length & 0xC0 == 0xC0:
            if at + 2 > len(data):
                raise DnsAnswerError("the answer ends inside a name")
            return at + 2
        if length & 0xC0:
            raise DnsAnswerError(f"label type {length >> 6} (only plain labels and pointers)")
        at += 1 + length


def _labels(data: bytes, at: int, end: int | None = None) -> list[bytes]:
    """The labels of the (possibly compressed) name at ``at``.  Pointers must point
    backwards (so that they cannot loop) and the name must stay within 255 octets; a name
    in a record's data must not run past ``end`` before its first pointer."""
    labels: list[bytes] = []
    size = 0
    limit = len(data) if end is None else end
    while True:
        if at >= limit:
            raise DnsAnswerError("a name runs past its record")
        length = data[at]
        if length == 0:
            return labels
        if length & 0xC0 == 0xC0:
            if at + 2 > limit:
                raise DnsAnswerError("a name runs past its record")
            pointer = ((length & 0x3F) << 8) | data[at + 1]
            if pointer >= at:
                raise DnsAnswerError("a compression pointer that does not point backwards")
            at, limit = pointer, len(data)
            continue
        if length & 0xC0:
            raise DnsAnswerError(f"label type {length >> 6} (only plain labels and pointers)")
        if at + 1 + length > limit:
            raise DnsAnswerError("a name runs past its record")
        size += 1 + length
        if size + 1 > _MAX_NAME:
            raise DnsAnswerError("a name longer than 255 octets")
        labels.append(data[at + 1 : at + 1 + length])
        at += 1 + length


def _lower_name(data: bytes, at: int, end: int | None = None) -> bytes:
    """The name at ``at``, uncompressed, ASCII-lower-cased, in wire form (to compare)."""
    return (
        b"".join(bytes((len(label),)) + label.lower() for label in _labels(data, at, end)) + b"\0"
    )


def _read_name(data: bytes, at: int, end: int) -> str:
    """The name at ``at`` as text, without the final dot (the root is ``"."``)."""
    labels = _labels(data, at, end)
    if not labels:
        return "."
    try:
        return ".".join(label.decode("ascii") for label in labels)
    except UnicodeDecodeError:
        raise DnsAnswerError("a target name that is not ASCII") from None


def order_srv_records(records: Sequence[SrvRecord], random: Callable[[], float]) -> list[SrvRecord]:
    """``records`` in the order a client tries them (RFC 2782): by priority, lowest
    first; within one priority a weighted random order (a record's chance to come next is
    its weight's share of the weights left; records of weight 0 come first only when all
    are 0, as RFC 2782's running sums make them).  ``random()`` is a float in [0, 1)."""
    ordered: list[SrvRecord] = []
    for priority in sorted({r.priority for r in records}):
        # RFC 2782: weight-0 records first in the list, so that they are chosen only
        # when the draw is 0 or every remaining weight is 0.
        group = sorted((r for r in records if r.priority == priority), key=lambda r: r.weight != 0)
        while group:
            total = sum(r.weight for r in group)
            draw = min(int(random() * (total + 1)), total)
            ordered.append(group.pop(_first_reaching(group, draw)))
    return ordered


def _first_reaching(group: list[SrvRecord], draw: int) -> int:
    """The index of the first record whose running sum of weights reaches ``draw``."""
    running = 0
    for index, record in enumerate(group):
        running += record.weight
        if running >= draw:
            return index
    return len(group) - 1  # not reached: draw is at most the sum of the weights


def nameservers_from_resolv_conf(text: str) -> list[tuple[str, int]]:
    """The ``nameserver`` addresses of a ``resolv.conf`` text, port 53 each (an IPv6
    zone ``%eth0`` is kept).  With none, ``[("127.0.0.1", 53)]``, as the C library does."""
    servers: list[tuple[str, int]] = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            servers.append((fields[1], 53))
    return servers or [("127.0.0.1", 53)]


@dataclass(frozen=True, slots=True)
class SrvOutcome:
    """What a lookup found.  ``endpoints``: the targets in the order to try them (empty:
    none found -- use the fallback, the domain on the usual port -- or, with
    ``unavailable``, the domain said it offers no service).  ``detail`` says which, and
    why, for a log record."""

    endpoints: tuple[Endpoint, ...]
    unavailable: bool
    detail: str


@dataclass(frozen=True, slots=True)
class PendingQuery:
    """A datagram to send to the nameserver ``server`` (host, port)."""

    server: tuple[str, int]
    datagram: bytes


class SrvLookup:
    """The SRV lookup of one domain, asking ``nameservers`` in turn (``rounds`` times
    each at most) until one answers usably.

    Use: ``query = lookup.next_query()``; send ``query.datagram`` to ``query.server``;
    feed every datagram that comes back to :meth:`receive` until it returns true (this
    query is settled), or call :meth:`no_answer` when the wait for it runs out; then ask
    for the next query.  When :meth:`next_query` returns ``None`` the lookup is over and
    :attr:`outcome` says what it found.
    """

    __slots__ = ("_failures", "_query", "_random", "_schedule", "domain", "name", "outcome")

    def __init__(
        self,
        domain: str,
        transport: Transport,
        nameservers: Sequence[tuple[str, int]],
        *,
        entropy: Callable[[int], bytes],
        rounds: int = 2,
    ) -> None:
        if not nameservers:
            raise ValueError("no nameserver to ask")
        self.domain = domain
        self.name = srv_service_name(domain, transport)
        self._random = entropy
        self._schedule = [server for _ in range(rounds) for server in nameservers]
        self._schedule.reverse()  # popped from the end
        self._query: tuple[tuple[str, int], SrvQuery] | None = None
        self._failures: list[str] = []
        #: Set when the lookup is over.
        self.outcome: SrvOutcome | None = None

    def next_query(self) -> PendingQuery | None:
        """The next datagram to send, or ``None``: the lookup is over (see
        :attr:`outcome`)."""
        if self.outcome is not None:
            return None
        if not self._schedule:
            tried = "; ".join(self._failures)
            self.outcome = SrvOutcome((), False, f"no usable answer for {self.name} ({tried})")
            return None
        server = self._schedule.pop()
        query_id = int.from_bytes(self._random(2), "big")
        query = SrvQuery(self.name, query_id)
        self._query = (server, query)
        return PendingQuery(server, query.datagram)

    def receive(self, data: bytes) -> bool:
        """A datagram from the nameserver last asked: ``True`` when it settles the query
        -- a usable answer (:attr:`outcome` is set) or an unusable one (``SERVFAIL``, a
        truncated or malformed answer: that server's failure, the next is asked) --
        ``False`` when it answers another query and is ignored (keep waiting)."""
        if self._query is None or self.outcome is not None:
            return True
        server, query = self._query
        where = f"{server[0]}:{server[1]}"
        try:
            answer = query.answer(data)
        except DnsAnswerError as exc:
            if exc.foreign:
                return False
            return self._failed(f"{where}: malformed answer: {exc.reason}")
        if answer.truncated:
            return self._failed(f"{where}: truncated answer")
        if answer.rcode == _NXDOMAIN:
            return self._done((), False, f"{self.name} does not exist (NXDOMAIN from {where})")
        if answer.rcode != _NOERROR:
            return self._failed(f"{where}: {answer.rcode_name}")
        records = answer.records
        if not records:
            return self._done((), False, f"no SRV record for {self.name} (from {where})")
        if len(records) == 1 and records[0].target == ".":
            return self._done(
                (), True, f"{self.domain} offers no XMPP service here ({self.name} is '.')"
            )
        ordered = order_srv_records([r for r in records if r.target != "."], self._uniform)
        endpoints = tuple(Endpoint(r.target, r.port) for r in ordered)
        listed = ", ".join(str(e) for e in endpoints)
        return self._done(endpoints, False, f"{self.name} -> {listed} (from {where})")

    def no_answer(self, reason: str = "no answer") -> None:
        """The nameserver last asked did not answer in time (or its socket failed:
        ``reason`` says how); the next query goes to the next one."""
        if self._query is not None and self.outcome is None:
            server, _ = self._query
            self._failures.append(f"{server[0]}:{server[1]}: {reason}")
            self._query = None

    def _failed(self, reason: str) -> bool:
        self._failures.append(reason)
        self._query = None
        return True

    def _done(self, endpoints: tuple[Endpoint, ...], unavailable: bool, detail: str) -> bool:
        self.outcome = SrvOutcome(endpoints, unavailable, detail)
        self._query = None
        return True

    def _uniform(self) -> float:
        return int.from_bytes(self._random(7), "big") / 2**56
