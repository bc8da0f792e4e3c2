"""Per-stanza cost by shape: microseconds per KiB for growing N, client and server roles.

Issue 11: a ``<message>`` of N ``<a/>`` siblings used to cost O(N^2) (lxml's ``remove``
re-declares namespaces node by node through a cache that grows per node: 100k siblings
took seconds).  This prints, for each shape and N, the time one logged-in connection of
each role (``ClientConnection`` receiving from its server, ``ServerConnection`` receiving
from its client; fuzz/role_verdicts.py pairs them in memory) takes to take in one such
stanza, fed in 64 KiB chunks, divided by the stanza's size (CPU time of this process,
so other jobs on a busy machine count less).  Linear cost shows as a flat
column; nothing is asserted.

Shapes (each within the default limits unless noted):

* ``flat``: ``<message>`` + ``<a/>`` x N (N up to ``max_elements``; the ``flat*`` rows
  raise ``max_elements`` to 200,000 to show the cost past the default limit, up to the
  512 KiB stanza limit);
* ``nested``: N chains of 31 nested ``<n>`` (the depth limit is 32 with the message);
* ``attrs``: N ``<a/>`` with 60 attributes each;
* ``refs``: one ``<body>`` of N runs of ``x&amp;&#233;`` (text runs, character references);
* ``text``: one ``<body>`` of N KiB of plain text.

    python bench/bench_stanza_shapes.py            # best of 3
    python bench/bench_stanza_shapes.py --repeat 1
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "fuzz"))
sys.path.insert(0, str(ROOT))

from role_verdicts import logged_in_pair  # noqa: E402

from cubeproto._xmlstream import XmlLimits  # noqa: E402

CHUNK = 64 * 1024
OPEN = b"<message type='chat' id='s1' to='777-105@localhost/r'>"
CLOSE = b"</message>"


def flat(n: int) -> bytes:
    return OPEN + b"<a/>" * n + CLOSE


def nested(n: int) -> bytes:
    return OPEN + (b"<n>" * 31 + b"</n>" * 31) * n + CLOSE


def attrs(n: int) -> bytes:
    one = b"<a" + b"".join(b' a%d="v"' % i for i in range(60)) + b"/>"
    return OPEN + one * n + CLOSE


def refs(n: int) -> bytes:
    return OPEN + b"<body>" + b"x&amp;&#233;" * n + b"</body>" + CLOSE


def text(n: int) -> bytes:
    return OPEN + b"<body>" + b"x" * (1024 * n) + b"</body>" + CLOSE


BIG = XmlLimits(max_elements=200_000)
#: (label, builder, N values, limits)
SHAPES: list[tuple[str, Callable[[int], bytes], tuple[int, ...], XmlLimits | None]] = [
    ("flat", flat, (1_000, 4_000, 16_000), None),
    ("flat*", flat, (32_000, 64_000, 128_000), BIG),
    ("nested", nested, (10, 100, 500), None),
    ("attrs", attrs, (10, 100, 900), None),
    ("refs", refs, (1_000, 10_000, 40_000), None),
    ("text", text, (16, 64, 250), None),
]


def measure(data: bytes, limits: XmlLimits | None, repeat: int) -> tuple[float, float]:
    """Best seconds for the client and the server role to take in ``data``."""
    best_client = best_server = float("inf")
    for _ in range(repeat):
        client, server = logged_in_pair(limits)
        gc.collect()
        start = time.process_time()
        for at in range(0, len(data), CHUNK):
            client.receive_data(data[at : at + CHUNK], now=1.0)
        while (event := client.next_event()) is not None:
            if type(event).__name__ == "ConnectionClosed":
                raise SystemExit(f"the client refused the stanza: {event}")
        best_client = min(best_client, time.process_time() - start)
        start = time.process_time()
        for at in range(0, len(data), CHUNK):
            server.receive_data(data[at : at + CHUNK], now=1.0)
        while (event := server.next_event()) is not None:
            if type(event).__name__ == "ClientClosed":
                raise SystemExit(f"the server refused the stanza: {event}")
        best_server = min(best_server, time.process_time() - start)
    return best_client, best_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'shape':8} {'N':>8} {'KiB':>7} {'client us/KiB':>14} {'server us/KiB':>14}")
    for label, build, values, limits in SHAPES:
        for n in values:
            data = build(n)
            kib = len(data) / 1024
            client, server = measure(data, limits, args.repeat)
            print(
                f"{label:8} {n:>8,} {kib:>7.1f} {client * 1e6 / kib:>14.1f} "
                f"{server * 1e6 / kib:>14.1f}",
                flush=True,
            )
    print("(* max_elements raised to 200,000; best of", args.repeat, "runs)")


if __name__ == "__main__":
    main()
