"""Inbound throughput: how fast a client turns a ConnectyCube stream into handled stanzas.

A seeded, realistic inbound stream (``stream_gen.generate_stream``: chat messages with
``<extraParams>``, chat states, markers, presences, pings, XEP-0198 ``<r/>`` ...) is fed
in 4 KiB chunks -- what a socket read typically hands over -- to the consumers below, all
measured in this same run.  Both kinds of stream are measured, one after the other
(``--stream`` picks): ``uniform`` (40 peers and 12 rooms, every stanza from a new
resource) and ``recurring`` (a bounded population with a realistic skew, whose senders,
resources and dialogs recur: what caches keyed by peer see on a real session).

1. **lxml** ``XMLPullParser`` alone: collect each top-level element and release it.  The
   floor: no stanza objects, no dispatch.  Ours parses with lxml too, so this is the
   parsing cost that cannot be avoided.
2. **slixmpp 1.17**: a real ``ClientXMPP`` in the logged-in state with XEP-0085 chat
   states, XEP-0333 markers, XEP-0198 stream management and XEP-0199 ping registered, fed
   through its asyncio ``data_received`` (see slixmpp_peer.py), with handlers that read
   body, id and from of every message.  The time includes its handler dispatch and its
   replies (``<a/>``, ping results): the loop runs until slixmpp has nothing left to do.
3. **cubeproto** ``ClientConnection`` with the chat layer: :func:`measure_cubeproto`.
4. **cubeproto core alone**: the same connection without a stanza handler, so every
   stanza becomes an ``UnhandledStanza`` event (bytes -> events, the core's own target).
   Every event is drained; its ``raw`` bytes are serialized only when read, which this
   consumer does not do (an application reading every ``raw`` pays ``element_bytes``).

5. **the floor** (:func:`measure_floor`, for context): the lxml loop plus reading a
   message's fields from the tree -- the least any Python consumer of lxml trees pays.

It prints top-level elements per second for each and the ratios ours/lxml and
ours/slixmpp (higher is faster).  Each figure is the best of ``--repeat`` runs.  Timings
are not asserted anywhere: this is a report, not a test.

    python bench/bench_inbound.py            # 100,000 stanzas
    python bench/bench_inbound.py --quick    # 10,000 stanzas
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import stream_gen
from lxml import etree
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath
from slixmpp_peer import log_in, new_client, quiet_logging, settle, shut_down
from stream_gen import generate_stream

#: Bytes per ``data_received`` / ``feed`` call.
CHUNK_SIZE = 4096

FULL_STANZAS = 100_000
QUICK_STANZAS = 10_000
DEFAULT_SEED = 20240601

#: The client-side view of the stream root that precedes the stanzas.
STREAM_HEADER = (
    b'<stream:stream xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams">'
)

CLIENT_NS = "jabber:client"


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    """One consumer's best run: wall seconds for ``elements`` top-level elements."""

    name: str
    seconds: float
    elements: int
    details: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.elements / self.seconds


def chunked(data: bytes, limit: int | None = None) -> list[bytes]:
    """``data`` in ``CHUNK_SIZE`` pieces; only the first ``limit`` of them if given (the
    instruction counter runs every consumer with and without the stream)."""
    return [data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)][:limit]


def measure_lxml(body: bytes, chunk_limit: int | None = None) -> Result:
    """Pull-parse, collect each top-level element and release it; count by tag."""
    chunks = chunked(body, chunk_limit)
    by_tag: Counter[str] = Counter()
    start = time.perf_counter()
    parser = etree.XMLPullParser(
        events=("start", "end"), resolve_entities=False, no_network=True, load_dtd=False
    )
    parser.feed(STREAM_HEADER)
    depth = 0
    root: etree._Element | None = None
    for chunk in chunks:
        parser.feed(chunk)
        # start/end events always carry elements
        events = cast("Iterator[tuple[str, etree._Element]]", parser.read_events())
        for event, element in events:
            if event == "start":
                if depth == 0:
                    root = element
                depth += 1
            else:
                depth -= 1
                if depth == 1 and root is not None:
                    by_tag[etree.QName(element).localname] += 1
                    root.remove(element)
    seconds = time.perf_counter() - start
    return Result(
        name="lxml XMLPullParser",
        seconds=seconds,
        elements=sum(by_tag.values()),
        details=dict(by_tag),
    )


def measure_floor(body: bytes, chunk_limit: int | None = None) -> Result:
    """A lower bound for any lxml-tree consumer written in Python: the lxml loop above,
    plus reading what a chat message event needs from every ``<message>`` (its type, id,
    from and to, the body text, each ``<extraParams>`` child's name and text) into a
    dict.  No hardening, no stream management, no dispatch, no other stanza kinds, no
    events: what is left when everything but lxml access is taken away."""
    chunks = chunked(body, chunk_limit)
    message = f"{{{CLIENT_NS}}}message"
    extra_params = f"{{{CLIENT_NS}}}extraParams"
    body_tag = f"{{{CLIENT_NS}}}body"
    messages = 0
    start = time.perf_counter()
    parser = etree.XMLPullParser(
        events=("start", "end"), resolve_entities=False, no_network=True, load_dtd=False
    )
    parser.feed(STREAM_HEADER)
    depth = 0
    root: etree._Element | None = None
    elements = 0
    for chunk in chunks:
        parser.feed(chunk)
        events = cast("Iterator[tuple[str, etree._Element]]", parser.read_events())
        for event, element in events:
            if event == "start":
                if depth == 0:
                    root = element
                depth += 1
                continue
            depth -= 1
            if depth != 1 or root is None:
                continue
            root.remove(element)
            elements += 1
            if element.tag != message:
                continue
            get = element.get
            fields: dict[str, object] = {
                "type": get("type"),
                "id": get("id"),
                "from": get("from"),
                "to": get("to"),
            }
            for child in element:
                tag = child.tag
                if tag == body_tag:
                    fields["body"] = child.text
                elif tag == extra_params:
                    fields["extension"] = {c.tag: c.text for c in child}
            messages += 1
    seconds = time.perf_counter() - start
    return Result(
        name="floor: lxml + message fields",
        seconds=seconds,
        elements=elements,
        details={"messages read": messages},
    )


def measure_slixmpp(body: bytes, chunk_limit: int | None = None) -> Result:
    """Feed a logged-in slixmpp ``ClientXMPP``; time until every handler and reply is done."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(_run_slixmpp(loop, body, chunk_limit))
    finally:
        loop.close()


async def _run_slixmpp(
    loop: asyncio.AbstractEventLoop, body: bytes, chunk_limit: int | None = None
) -> Result:
    client = new_client(loop)
    counts: Counter[str] = Counter()
    read_chars = 0

    def on_message(msg: Any) -> None:
        nonlocal read_chars
        body_text, msg_id, sender = msg["body"], msg["id"], msg["from"]
        read_chars += len(body_text) + len(msg_id) + len(sender.bare)
        counts["every-message handler"] += 1

    def counter(name: str) -> Callable[[Any], None]:
        def handler(_: Any) -> None:
            counts[name] += 1

        return handler

    # slixmpp's "message" event fires only for messages with a <body/>; chat states and
    # markers come as their own events.  A stanza handler sees every <message/>.
    client.register_handler(
        Callback("every message", MatchXPath(f"{{{CLIENT_NS}}}message"), on_message)
    )
    client.add_event_handler("message", counter("message event (with body)"))
    client.add_event_handler("chatstate", counter("chatstate handler"))
    client.add_event_handler("marker", counter("marker handler"))
    transport = await log_in(client)
    sm = client.plugin["xep_0198"]
    handled_before, sent_before = sm.handled, sm.seq
    written_before = transport.bytes_written
    chunks = chunked(body, chunk_limit)

    start = time.perf_counter()
    for chunk in chunks:
        client.data_received(chunk)
        await asyncio.sleep(0)  # one loop turn per read, as with a real socket
    await settle(client)
    seconds = time.perf_counter() - start

    await shut_down(client)
    counts["stanzas counted by XEP-0198"] = sm.handled - handled_before
    counts["stanzas sent back (IQ replies)"] = sm.seq - sent_before
    counts["bytes written back"] = transport.bytes_written - written_before
    counts["characters of body/id/from read"] = read_chars
    return Result(
        name="slixmpp 1.17 ClientXMPP",
        seconds=seconds,
        elements=0,  # filled in by the caller: slixmpp does not count <r/> as a stanza
        details=dict(counts),
    )


def cubeproto_logged_in(*, chat: bool = True) -> Any:
    """A ClientConnection with the chat layer (or without a handler), logged in as
    ``777-105`` through a scripted exchange shaped like ejabberd's (PLAIN on a direct-TLS
    stream)."""
    import os

    import cubeproto
    from cubeproto.chat import ChatSession

    conn = cubeproto.ClientConnection(
        cubeproto.ClientConfig(
            app_id=stream_gen.APP_ID,
            user_id=stream_gen.ME,
            password="pw",
            chat_host=stream_gen.DOMAIN,
            transport=cubeproto.Transport.DIRECT_TLS,
            mechanisms=("PLAIN",),
            entropy=os.urandom,
            wall_clock=time.time,
            handler_factory=ChatSession if chat else None,
        )
    )
    conn.start(now=0.0)
    header = stream_gen.stream_header()
    script = [
        header + b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
        b"<mechanism>PLAIN</mechanism></mechanisms></stream:features>",
        b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
        header + b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
        b"<sm xmlns='urn:xmpp:sm:3'/></stream:features>",
    ]
    for step in script:
        conn.data_to_send()
        conn.receive_data(step, now=0.0)
    sent = conn.data_to_send().decode()
    bind_id = sent.split('id="', 1)[1].split('"', 1)[0]
    jid = f"{stream_gen.ME}-{stream_gen.APP_ID}@{stream_gen.DOMAIN}/{stream_gen.RESOURCE}"
    conn.receive_data(
        f"<iq type='result' id='{bind_id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
        f"<jid>{jid}</jid></bind></iq>"
        "<enabled xmlns='urn:xmpp:sm:3' id='b' resume='true'/>".encode(),
        now=0.0,
    )
    conn.data_to_send()
    while conn.next_event() is not None:
        pass
    return conn


def measure_cubeproto(
    stream: bytes, *, chat: bool = True, chunk_limit: int | None = None
) -> tuple[float, dict[str, int]] | None:
    """Seconds and event counts for cubeproto's client with the chat
    layer: every event drained, and body, id and from read from every message.  With
    ``chat=False``, the core alone: no handler, every stanza an ``UnhandledStanza``.

    The stream's ``<a h/>`` acknowledge up to ``max_h`` client stanzas, so the client
    first sends that many chat messages (not timed), as a real session would have.  At
    the end an ``<r/>`` asks the client how many stanzas it handled (XEP-0198's own
    count), which must equal the stanzas in the stream.
    """
    try:
        from cubeproto.chat import MessageReceived, SendMessage
    except ImportError:
        return None
    conn = cubeproto_logged_in(chat=chat)
    max_h = max(
        (int(h) for h in re.findall(rb'<a xmlns="urn:xmpp:sm:3" h="(\d+)"', stream)), default=0
    )
    for i in range(max_h):
        conn.send(SendMessage(to_user=78, body=f"warm-up {i}"), now=0.0)
    conn.data_to_send()
    while conn.next_event() is not None:
        pass
    chunks = chunked(stream, chunk_limit)
    counts: Counter[str] = Counter()
    read_chars = 0
    start = time.perf_counter()
    for chunk in chunks:
        conn.receive_data(chunk, now=1.0)
        conn.data_to_send()
        while (event := conn.next_event()) is not None:
            if type(event) is MessageReceived:
                read_chars += len(event.body or "") + len(event.message_id or "")
                read_chars += len(event.from_jid or "")
            counts[type(event).__name__] += 1
    seconds = time.perf_counter() - start
    conn.receive_data(b'<r xmlns="urn:xmpp:sm:3"/>', now=2.0)
    answer = conn.data_to_send().decode()
    counts["stanzas counted by XEP-0198"] = int(answer.rsplit('h="', 1)[1].split('"', 1)[0])
    counts["characters of body/id/from read"] = read_chars
    return seconds, dict(counts)


def best_cubeproto(repeat: int, body: bytes, elements: int, *, chat: bool) -> Result | None:
    """The best of ``repeat`` runs of :func:`measure_cubeproto`."""
    best = None
    for _ in range(repeat):
        gc.collect()
        measured = measure_cubeproto(body, chat=chat)
        if measured is not None and (best is None or measured[0] < best[0]):
            best = measured
    if best is None:
        return None
    name = "cubeproto ClientConnection" if chat else "cubeproto core alone (no handler)"
    return Result(name=name, seconds=best[0], elements=elements, details=best[1])


def best_of(repeat: int, run: Callable[[], Result]) -> Result:
    results = []
    for _ in range(repeat):
        gc.collect()
        results.append(run())
    return min(results, key=lambda r: r.seconds)


def ratio(ours: Result | None, theirs: Result) -> str:
    return (
        "n/a (no cubeproto measurement yet)"
        if ours is None
        else (f"{ours.rate / theirs.rate:.2f}x")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_STANZAS:,} stanzas")
    parser.add_argument("-n", type=int, default=None, help=f"stanzas (default {FULL_STANZAS:,})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--repeat", type=int, default=3, help="runs per consumer; best counts")
    parser.add_argument(
        "--stream",
        nargs="+",
        choices=stream_gen.STREAMS,
        default=list(stream_gen.STREAMS),
        help="stream kinds (default: both)",
    )
    args = parser.parse_args(argv)
    n = args.n or (QUICK_STANZAS if args.quick else FULL_STANZAS)

    quiet_logging()
    problems: list[str] = []
    for kind in args.stream:
        problems += measure_stream(kind, n, args.seed, args.repeat)
    for problem in problems:
        print(f"WARNING: {problem}", file=sys.stderr)
    return 1 if problems else 0


def measure_stream(kind: str, n: int, seed: int, repeat: int) -> list[str]:
    """Measure every consumer on one kind of stream and print the figures; returns the
    problems found (counts that do not match the stream)."""
    body = generate_stream(n, seed, kind=kind)
    lxml_result = best_of(repeat, lambda: measure_lxml(body))
    floor = best_of(repeat, lambda: measure_floor(body))
    total = lxml_result.elements
    stanzas = sum(lxml_result.details.get(tag, 0) for tag in ("message", "presence", "iq"))

    slix = best_of(repeat, lambda: measure_slixmpp(body))
    slix = Result(name=slix.name, seconds=slix.seconds, elements=total, details=slix.details)

    ours = best_cubeproto(repeat, body, total, chat=True)
    core = best_cubeproto(repeat, body, total, chat=False)

    print(
        f"{kind} inbound stream: {total:,} top-level elements ({stanzas:,} stanzas), "
        f"{len(body) / 2**20:.1f} MiB, seed {seed}, {CHUNK_SIZE}-byte chunks, "
        f"best of {repeat}"
    )
    print("  by tag: " + ", ".join(f"{k}={v:,}" for k, v in sorted(lxml_result.details.items())))
    for result in (lxml_result, floor, slix, ours, core):
        if result is None:
            print(f"{'cubeproto ClientConnection':<28} n/a (measure_cubeproto not written yet)")
            continue
        print(f"{result.name:<32} {result.rate:>12,.0f} elements/s  ({result.seconds:.3f} s)")
    print("slixmpp handler counts: " + ", ".join(f"{k}={v:,}" for k, v in slix.details.items()))
    problems: list[str] = []
    if slix.details.get("stanzas counted by XEP-0198") != stanzas:
        problems.append("slixmpp's XEP-0198 count differs from the stanzas in the stream")
    if slix.details.get("every-message handler") != lxml_result.details.get("message"):
        problems.append("slixmpp's message handler did not see every message")
    if ours is not None:
        print("cubeproto event counts: " + ", ".join(f"{k}={v:,}" for k, v in ours.details.items()))
        if ours.details.get("stanzas counted by XEP-0198") != stanzas:
            problems.append("cubeproto's XEP-0198 count differs from the stanzas in the stream")
        if ours.details.get("MessageReceived", 0) == 0:
            problems.append("cubeproto reported no messages")
    if core is not None:
        print(
            "cubeproto core-alone event counts: "
            + ", ".join(f"{k}={v:,}" for k, v in core.details.items())
        )
        if core.details.get("stanzas counted by XEP-0198") != stanzas:
            problems.append("the core's XEP-0198 count differs from the stanzas in the stream")
        if core.details.get("UnhandledStanza") != stanzas:
            problems.append("the core alone did not report every stanza as unhandled")
    print(f"ratio ours/lxml:     {ratio(ours, lxml_result)}")
    print(f"ratio ours/slixmpp:  {ratio(ours, slix)}")
    print(f"ratio core alone (no handler)/lxml: {ratio(core, lxml_result)}")
    print(f"(for context) slixmpp/lxml: {slix.rate / lxml_result.rate:.3f}x")
    print(
        f"(for context) floor/lxml: {floor.rate / lxml_result.rate:.2f}x -- the ceiling of a "
        f"Python consumer of lxml trees that reads message fields; ours/floor: {ratio(ours, floor)}"
    )
    print()
    return [f"{kind} stream: {problem}" for problem in problems]


if __name__ == "__main__":
    sys.exit(main())
