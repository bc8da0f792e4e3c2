"""cubeproto.srv: the DNS SRV query, the reading of answers (bytes recorded from dnsmasq
2.90, and hypothesis properties over answers built here and over any bytes), the RFC 2782
order, the lookup's state machine and the resolv.conf reader."""

from __future__ import annotations

import contextlib
import struct
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cubeproto.config import Transport
from cubeproto.reconnect import Endpoint
from cubeproto.srv import (
    EDNS_PAYLOAD,
    DnsAnswerError,
    SrvLookup,
    SrvQuery,
    SrvRecord,
    nameservers_from_resolv_conf,
    order_srv_records,
    srv_service_name,
)

NAME = "_xmpp-client._tcp.example.test"

#: dnsmasq 2.90's answers (``srv-host=`` records, ``cname=``, ``local=/test/``), as sent.
RECORDED = {
    # three records, the owner compressed to the question (c00c)
    "three": (
        0x458B,
        "458b858000010003000000010c5f786d70702d636c69656e74045f746370076578616d706c650474"
        "6573740000210001c00c0021000100000000001b000a00001466066261636b7570076578616d706c"
        "65047465737400c00c0021000100000000001a000000056286056e6f646532076578616d706c6504"
        "7465737400c00c0021000100000000001a0000000a3b76056e6f646531076578616d706c65047465"
        "73740000002904d0000000000000",
    ),
    # the target ".": no service
    "dot": (
        0xA9A4,
        "a9a4858000010001000000010d5f786d7070732d636c69656e74045f746370076578616d706c6504"
        "746573740000210001c00c002100010000000000070000000000010000002904d0000000000000",
    ),
    # REFUSED (a name dnsmasq is not authoritative for, without upstream)
    "refused": (
        0x78B9,
        "78b9818500010000000000010c5f786d70702d636c69656e74045f746370076e6f74686572650474"
        "657374000021000100002904d0000000000006000f0002000e",
    ),
    "nxdomain": (
        0x1111,
        "1111818300010000000000010c5f786d70702d636c69656e74045f746370076e6f74686572650474"
        "657374000021000100002904d0000000000000",
    ),
    # a CNAME to the real name, then its SRV record (owner compressed to the CNAME target)
    "cname": (
        0x2222,
        "2222858000010002000000010c5f786d70702d636c69656e74045f74637005616c69617304746573"
        "740000210001c00c000500010000000000200c5f786d70702d636c69656e74045f746370076578616d"
        "706c65047465737400c03a0021000100000000001a0000000a3b76056e6f646531076578616d706c"
        "6504746573740000002904d0000000000000",
    ),
}


def recorded(key: str) -> tuple[int, bytes]:
    query_id, text = RECORDED[key]
    return query_id, bytes.fromhex(text)


def test_the_query_asks_one_srv_question_with_recursion_and_edns() -> None:
    datagram = SrvQuery(NAME, 0x1234).datagram
    assert datagram == (
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01"
        b"\x0c_xmpp-client\x04_tcp\x07example\x04test\x00\x00\x21\x00\x01"
        + b"\x00\x00\x29"
        + struct.pack("!H", EDNS_PAYLOAD)
        + b"\x00\x00\x00\x00\x00\x00"
    )


def test_service_names_per_transport() -> None:
    assert srv_service_name("example.test.", Transport.TCP) == "_xmpp-client._tcp.example.test"
    assert srv_service_name("example.test", Transport.DIRECT_TLS) == (
        "_xmpps-client._tcp.example.test"
    )
    with pytest.raises(ValueError, match="XEP-0156"):
        srv_service_name("example.test", Transport.WEBSOCKET)


def test_recorded_answers_read_as_dnsmasq_meant_them() -> None:
    query_id, data = recorded("three")
    answer = SrvQuery(NAME, query_id).answer(data)
    assert (answer.rcode, answer.truncated) == (0, False)
    assert answer.records == (
        SrvRecord(10, 0, 5222, "backup.example.test"),
        SrvRecord(0, 5, 25222, "node2.example.test"),
        SrvRecord(0, 10, 15222, "node1.example.test"),
    )
    query_id, data = recorded("dot")
    answer = SrvQuery("_xmpps-client._tcp.example.test", query_id).answer(data)
    assert answer.records == (SrvRecord(0, 0, 1, "."),)  # dnsmasq writes port 1
    query_id, data = recorded("refused")
    answer = SrvQuery("_xmpp-client._tcp.nothere.test", query_id).answer(data)
    assert (answer.rcode_name, answer.records) == ("REFUSED", ())
    query_id, data = recorded("nxdomain")
    answer = SrvQuery("_xmpp-client._tcp.nothere.test", query_id).answer(data)
    assert (answer.rcode_name, answer.records) == ("NXDOMAIN", ())
    query_id, data = recorded("cname")
    answer = SrvQuery("_xmpp-client._tcp.alias.test", query_id).answer(data)
    assert answer.records == (SrvRecord(0, 10, 15222, "node1.example.test"),)


def test_names_compare_without_case() -> None:
    query_id, data = recorded("three")
    assert len(SrvQuery(NAME.upper(), query_id).answer(data).records) == 3


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: b"\x00\x01" + d[2:], "not a response to this query"),  # another id
        (lambda d: d[:2] + bytes([d[2] & 0x7F]) + d[3:], "not a response"),  # QR clear
        (lambda d: d[:5] + b"\x02" + d[6:], "2 questions"),
        (lambda d: d.replace(b"example", b"exbmple", 1), "another question"),
        (lambda d: d[:7], "no DNS message"),
    ],
)
def test_a_datagram_that_answers_another_query_is_foreign(
    change: Callable[[bytes], bytes], why: str
) -> None:
    query_id, data = recorded("three")
    with pytest.raises(DnsAnswerError, match=why) as caught:
        SrvQuery(NAME, query_id).answer(change(data))
    assert caught.value.foreign


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: d[:-40], "ends inside"),
        (lambda d: d[:12] + d[12:].replace(b"\xc0\x0c", b"\xc0\xff", 1), "point backwards"),
        (lambda d: d[:12] + d[12:].replace(b"\xc0\x0c", b"\x80\x0c", 1), "label type 2"),
    ],
)
def test_a_malformed_answer_to_our_query_is_an_error(
    change: Callable[[bytes], bytes], why: str
) -> None:
    query_id, data = recorded("three")
    with pytest.raises(DnsAnswerError, match=why) as caught:
        SrvQuery(NAME, query_id).answer(change(data))
    assert not caught.value.foreign


def test_a_compression_loop_is_refused() -> None:
    query = SrvQuery(NAME, 7)
    header = struct.pack("!HHHHHH", 7, 0x8180, 1, 1, 0, 0)
    question = query.datagram[12:-11]
    # the answer's owner points at itself: a loop, refused (pointers must go backwards)
    at = 12 + len(question)
    owner = struct.pack("!H", 0xC000 | at)
    data = header + question + owner + struct.pack("!HHIH", 33, 1, 0, 0)
    with pytest.raises(DnsAnswerError, match="point backwards"):
        query.answer(data)


# -- properties ----------------------------------------------------------------------

labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)
hostnames = st.lists(labels, min_size=1, max_size=4).map(".".join)
records = st.builds(
    SrvRecord,
    priority=st.integers(0, 0xFFFF),
    weight=st.integers(0, 0xFFFF),
    port=st.integers(0, 0xFFFF),
    target=hostnames,
)


def wire_name(name: str) -> bytes:
    return b"".join(bytes((len(p),)) + p.encode() for p in name.split(".")) + b"\0"


def build_answer(
    query: SrvQuery, answers: list[SrvRecord], *, compress: bool, rcode: int = 0, tc: bool = False
) -> bytes:
    """An answer as a nameserver writes it (the owner as a pointer to the question, or
    written out in random case)."""
    flags = 0x8180 | rcode | (0x0200 if tc else 0)
    out = struct.pack("!HHHHHH", query.query_id, flags, 1, len(answers), 0, 0)
    out += wire_name(query.name) + struct.pack("!HH", 33, 1)
    for record in answers:
        owner = b"\xc0\x0c" if compress else wire_name(query.name.swapcase())
        rdata = struct.pack("!HHH", record.priority, record.weight, record.port)
        rdata += wire_name(record.target)
        out += owner + struct.pack("!HHIH", 33, 1, 300, len(rdata)) + rdata
    return out


@given(
    answers=st.lists(records, max_size=8), compress=st.booleans(), query_id=st.integers(0, 0xFFFF)
)
def test_an_answer_gives_back_the_records_it_carries(
    answers: list[SrvRecord], compress: bool, query_id: int
) -> None:
    query = SrvQuery(NAME, query_id)
    answer = query.answer(build_answer(query, answers, compress=compress))
    assert answer.records == tuple(answers) and answer.rcode == 0


@settings(max_examples=500)
@given(st.binary(max_size=300), st.integers(0, 0xFFFF))
def test_any_bytes_give_an_answer_or_a_dns_answer_error(data: bytes, query_id: int) -> None:
    query = SrvQuery(NAME, query_id)
    for datagram in (data, struct.pack("!H", query_id) + data[2:]):
        try:
            answer = query.answer(datagram)
        except DnsAnswerError:
            continue
        assert all(0 <= r.port <= 0xFFFF and len(r.target) <= 255 for r in answer.records)


@settings(max_examples=300)
@given(st.binary(min_size=1, max_size=200), st.integers(0, 200))
def test_an_answer_with_bytes_changed_is_read_or_refused_never_crashes(
    noise: bytes, at: int
) -> None:
    query_id, data = recorded("three")
    at = min(at, len(data) - 1)
    changed = data[:at] + noise + data[at + len(noise) :]
    with contextlib.suppress(DnsAnswerError):
        SrvQuery(NAME, query_id).answer(changed)


@given(st.lists(records, max_size=10), st.floats(0, 0.999999))
def test_rfc2782_order_is_a_permutation_by_priority(records_: list[SrvRecord], draw: float) -> None:
    ordered = order_srv_records(records_, lambda: draw)
    assert Counter(ordered) == Counter(records_)
    assert [r.priority for r in ordered] == sorted(r.priority for r in records_)


def test_rfc2782_weights_decide_the_order_within_a_priority() -> None:
    light, heavy, zero = (
        SrvRecord(0, 1, 1, "light"),
        SrvRecord(0, 9, 2, "heavy"),
        SrvRecord(0, 0, 3, "zero"),
    )
    # running sums after sorting weight 0 first: zero 0, light 1, heavy 10 (of 10)
    assert order_srv_records([light, heavy, zero], lambda: 0.0)[0] == zero
    assert order_srv_records([light, heavy, zero], lambda: 0.1)[0] == light
    assert order_srv_records([light, heavy, zero], lambda: 0.95)[0] == heavy
    # a weight-0 record is last unless drawn at 0
    assert order_srv_records([light, heavy, zero], lambda: 0.95)[-1] == zero
    # over many draws the heavy record comes first about nine times as often
    draws = iter(i / 1000 for i in range(1000))
    firsts = Counter(order_srv_records([light, heavy], lambda: next(draws))[0] for _ in range(500))
    assert firsts[heavy] > 4 * firsts[light]


# -- the lookup ----------------------------------------------------------------------

SERVERS = [("192.0.2.1", 53), ("192.0.2.2", 5353)]


def entropy_of(*chunks: bytes) -> Callable[[int], bytes]:
    """Entropy that hands out ``chunks`` first (the query ids), then zero bytes."""
    queue = list(chunks)
    return lambda n: queue.pop(0) if queue else bytes(n)


def test_a_lookup_asks_each_server_in_turn_and_settles_on_a_usable_answer() -> None:
    lookup = SrvLookup(
        "example.test", Transport.TCP, SERVERS, entropy=entropy_of(b"\x00\x01", b"\x00\x02")
    )
    first = lookup.next_query()
    assert first is not None and first.server == SERVERS[0]
    query = SrvQuery(NAME, 1)
    assert first.datagram == query.datagram
    # a stray datagram (another id) is ignored: keep waiting
    stray = build_answer(SrvQuery(NAME, 99), [SrvRecord(0, 0, 1, "x")], compress=True)
    assert lookup.receive(stray) is False
    # SERVFAIL: this server failed; the next one is asked
    assert lookup.receive(build_answer(query, [], compress=True, rcode=2)) is True
    assert lookup.outcome is None
    second = lookup.next_query()
    assert second is not None and second.server == SERVERS[1]
    target = SrvRecord(0, 0, 5222, "xmpp.example.test")
    assert lookup.receive(build_answer(SrvQuery(NAME, 2), [target], compress=False)) is True
    assert lookup.next_query() is None
    assert lookup.outcome is not None
    assert lookup.outcome.endpoints == (Endpoint("xmpp.example.test", 5222),)
    assert not lookup.outcome.unavailable
    assert lookup.outcome.detail == f"{NAME} -> xmpp.example.test:5222 (from 192.0.2.2:5353)"


def test_a_lookup_without_any_usable_answer_falls_back_saying_why() -> None:
    lookup = SrvLookup("example.test", Transport.TCP, SERVERS[:1], entropy=entropy_of(), rounds=2)
    for _ in range(2):
        assert lookup.next_query() is not None
        lookup.no_answer("no answer within 3 s")
    assert lookup.next_query() is None
    assert lookup.outcome is not None and lookup.outcome.endpoints == ()
    assert lookup.outcome.detail == (
        f"no usable answer for {NAME} (192.0.2.1:53: no answer within 3 s; "
        "192.0.2.1:53: no answer within 3 s)"
    )


def test_truncated_and_malformed_answers_are_that_servers_failure() -> None:
    lookup = SrvLookup("example.test", Transport.TCP, SERVERS, entropy=entropy_of(), rounds=1)
    assert lookup.next_query() is not None
    query = SrvQuery(NAME, 0)
    assert lookup.receive(build_answer(query, [], compress=True, tc=True)) is True
    assert lookup.next_query() is not None
    assert lookup.receive(build_answer(query, [SrvRecord(0, 0, 1, "a")], compress=True)[:-3])
    assert lookup.next_query() is None
    assert lookup.outcome is not None and lookup.outcome.endpoints == ()
    assert "192.0.2.1:53: truncated answer" in lookup.outcome.detail
    assert "192.0.2.2:5353: malformed answer: " in lookup.outcome.detail


def test_nxdomain_and_empty_answers_settle_at_once_on_the_fallback() -> None:
    for rcode, detail in ((3, "does not exist (NXDOMAIN"), (0, "no SRV record for")):
        lookup = SrvLookup("example.test", Transport.TCP, SERVERS, entropy=entropy_of())
        assert lookup.next_query() is not None
        assert lookup.receive(build_answer(SrvQuery(NAME, 0), [], compress=True, rcode=rcode))
        assert lookup.next_query() is None
        assert lookup.outcome is not None and lookup.outcome.endpoints == ()
        assert detail in lookup.outcome.detail and not lookup.outcome.unavailable


def test_a_dot_target_means_the_service_is_not_offered() -> None:
    lookup = SrvLookup("example.test", Transport.DIRECT_TLS, SERVERS, entropy=entropy_of())
    assert lookup.next_query() is not None
    query = SrvQuery("_xmpps-client._tcp.example.test", 0)
    assert lookup.receive(build_answer(query, [SrvRecord(0, 0, 0, ".")], compress=True))
    assert lookup.outcome is not None and lookup.outcome.unavailable
    assert lookup.outcome.detail == (
        "example.test offers no XMPP service here (_xmpps-client._tcp.example.test is '.')"
    )


def test_resolv_conf_nameservers() -> None:
    text = (
        "# generated\nsearch example.test\nnameserver 10.0.0.1\n"
        "nameserver fe80::1%eth0 ; a comment\noptions ndots:2\n  nameserver   10.0.0.2\n"
    )
    assert nameservers_from_resolv_conf(text) == [
        ("10.0.0.1", 53),
        ("fe80::1%eth0", 53),
        ("10.0.0.2", 53),
    ]
    assert nameservers_from_resolv_conf("search x\n") == [("127.0.0.1", 53)]
