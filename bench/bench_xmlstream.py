"""Inbound parsing throughput: cubeproto's XmlStreamParser against bare lxml pull parsing.

One seeded, realistic ConnectyCube server-to-client stream (:mod:`stream_gen`) is fed in
4 KiB chunks -- what one socket read typically hands over -- to:

1. **bare lxml**: ``XMLPullParser(events=("start", "end"))``; every top-level element is
   collected and released from the root (``root.remove``).  No hardening, no limits.
2. **XmlStreamParser**: the same, plus restricted-XML scanning, exact byte budgets, limits
   and whitespace handling.

It prints top-level elements per second for each and the ratio ours/lxml (higher is
better; the target is >= 0.8).  Each figure is the best of ``--repeat`` runs of this
process's CPU time (``time.process_time``, so other processes on a busy machine count
less); both run in the same process, interleaved.  Nothing is asserted.

    python bench/bench_xmlstream.py              # 100,000 stanzas
    python bench/bench_xmlstream.py --quick      # 10,000 stanzas
    python bench/bench_xmlstream.py --profile    # cProfile of XmlStreamParser
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stream_gen import generate_stream, stream_header

from cubeproto._xmlstream import XmlStreamParser

CHUNK_SIZE = 4096
DEFAULT_SEED = 20240601


def chunked(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)]


def run_lxml(header: bytes, chunks: list[bytes]) -> int:
    """Bare lxml: pull-parse, collect each top-level element, release it."""
    parser = etree.XMLPullParser(
        events=("start", "end"), resolve_entities=False, no_network=True, load_dtd=False
    )
    parser.feed(header)
    root = None
    depth = -1
    collected: list[etree._Element] = []
    n = 0
    for chunk in chunks:
        parser.feed(chunk)
        for event, element in cast("Iterator[tuple[str, etree._Element]]", parser.read_events()):
            if event == "start":
                if depth < 0:
                    root = element
                depth += 1
            else:
                depth -= 1
                if depth == 0 and root is not None:
                    root.remove(element)
                    collected.append(element)
        n += len(collected)
        collected.clear()  # a consumer handles what one read produced, then drops it
    return n


def run_ours(header: bytes, chunks: list[bytes]) -> int:
    """XmlStreamParser: the same work, hardened."""
    parser = XmlStreamParser()
    parser.feed(header)
    n = 0
    for chunk in chunks:
        n += len(parser.feed(chunk))
    return n


def count_lxml(header: bytes, chunks: list[bytes]) -> int:
    parser = etree.XMLPullParser(events=("start", "end"))
    parser.feed(header)
    depth = -1
    n = 0
    for chunk in chunks:
        parser.feed(chunk)
        for event, _ in parser.read_events():
            if event == "start":
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    n += 1
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stanzas", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true", help="10,000 stanzas")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    n = 10_000 if args.quick else args.stanzas
    header = stream_header()
    body = generate_stream(n, args.seed)
    chunks = chunked(body)
    elements = count_lxml(header, chunks)
    print(
        f"stream: {n} stanzas generated, {elements} top-level elements, {len(body):,} bytes, "
        f"{len(chunks)} chunks of {CHUNK_SIZE} bytes"
    )
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        run_ours(header, chunks)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
        return 0
    got = run_ours(header, chunks)
    if got != elements:
        print(f"MISMATCH: XmlStreamParser returned {got} elements, lxml saw {elements}")
        return 1
    best = {"lxml": float("inf"), "ours": float("inf")}
    for _ in range(args.repeat):
        for name, fn in (("lxml", run_lxml), ("ours", run_ours)):
            gc.collect()
            start = time.process_time()
            fn(header, chunks)
            best[name] = min(best[name], time.process_time() - start)
    rate_lxml = elements / best["lxml"]
    rate_ours = elements / best["ours"]
    print(f"bare lxml XMLPullParser : {rate_lxml:>10,.0f} elements/s")
    print(f"XmlStreamParser         : {rate_ours:>10,.0f} elements/s")
    print(f"ratio ours/lxml         : {rate_ours / rate_lxml:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
