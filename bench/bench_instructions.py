"""Inbound cost in CPU instructions: the same consumers as bench_inbound.py, counted by
valgrind's callgrind instead of timed.

On a shared 2-core machine wall-clock rates swing by +-30% from run to run; instruction
counts do not (callgrind gives the same total for the same binary and input, whatever
else the machine is doing).  They are a proxy: they ignore cache misses and branch
mispredictions, so a ratio of instructions is not a ratio of seconds (on the machine this
was written on, cubeproto's time ratio to lxml was about 0.8x its instruction ratio).  Use
this script to compare two versions of cubeproto reliably, and bench_inbound.py for the
headline rates.

Each consumer runs twice in a child process under callgrind: once over the whole seeded
stream and once over none of it, with the same setup (imports, login, warm-up); the
difference divided by the stream's top-level elements is its cost per element.  Both
kinds of stream of ``stream_gen`` are measured, one after the other: ``uniform`` (few
peers, a new resource on every stanza) and ``recurring`` (a bounded population with a
realistic skew: the same senders, resources and dialogs recur).

    python bench/bench_instructions.py              # 10,000 elements (~6 minutes)
    python bench/bench_instructions.py -n 2000      # quicker
    python bench/bench_instructions.py --only cubeproto core --stream recurring
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from stream_gen import STREAMS, generate_stream  # noqa: E402  (a sibling script)

#: Consumer name -> what the child runs (see :func:`child`).
CONSUMERS = ("lxml", "floor", "slixmpp", "cubeproto", "core")
LABELS = {
    "lxml": "lxml XMLPullParser",
    "floor": "floor: lxml + message fields",
    "slixmpp": "slixmpp 1.17 ClientXMPP",
    "cubeproto": "cubeproto ClientConnection",
    "core": "cubeproto core alone (no handler)",
}
_COLLECTED = re.compile(rb"Collected : (\d+)")


def child(consumer: str, stream_file: str, whole: bool) -> None:
    """Run one consumer over the stream (``whole``) or over none of it."""
    sys.path.insert(0, str(HERE))
    import bench_inbound

    body = Path(stream_file).read_bytes()
    limit = None if whole else 0
    if consumer == "lxml":
        bench_inbound.measure_lxml(body, chunk_limit=limit)
    elif consumer == "floor":
        bench_inbound.measure_floor(body, chunk_limit=limit)
    elif consumer == "slixmpp":
        bench_inbound.quiet_logging()
        bench_inbound.measure_slixmpp(body, chunk_limit=limit)
    else:
        bench_inbound.measure_cubeproto(body, chat=consumer == "cubeproto", chunk_limit=limit)


def count(consumer: str, stream_file: str, whole: bool) -> int:
    """Instructions of one child run, as callgrind reports them."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        consumer,
        stream_file,
        "whole" if whole else "none",
    ]
    done = subprocess.run(command, capture_output=True, check=True)
    found = _COLLECTED.search(done.stderr)
    if found is None:
        raise SystemExit(f"callgrind printed no total:\n{done.stderr.decode()[-2000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=10_000, help="top-level elements")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--only", nargs="+", choices=CONSUMERS, default=list(CONSUMERS))
    parser.add_argument(
        "--stream", nargs="+", choices=STREAMS, default=list(STREAMS), help="stream kinds"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        consumer, stream_file, whole = args.child
        child(consumer, stream_file, whole == "whole")
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    for kind in args.stream:
        measure_stream(kind, args.n, args.seed, args.only)
    return 0


def measure_stream(kind: str, n: int, seed: int, consumers: list[str]) -> None:
    """Print each consumer's instructions per element on one kind of stream, and the
    ratios between them."""
    body = generate_stream(n, seed, kind=kind)
    print(f"{kind} stream ({n:,} elements, seed {seed}; lower is cheaper):")
    per_element: dict[str, float] = {}
    with tempfile.NamedTemporaryFile(suffix=".xml") as stream:
        stream.write(body)
        stream.flush()
        for consumer in consumers:
            cost = count(consumer, stream.name, True) - count(consumer, stream.name, False)
            per_element[consumer] = cost / n
            print(f"  {LABELS[consumer]:<36} {per_element[consumer]:>10,.0f} instructions/element")
    for ours in ("cubeproto", "core", "floor"):
        for peer in ("lxml", "slixmpp"):
            if ours in per_element and peer in per_element:
                print(
                    f"  ratio {ours}/{peer} (as a rate: their instructions / ours): "
                    f"{per_element[peer] / per_element[ours]:.2f}x"
                )


if __name__ == "__main__":
    sys.exit(main())
