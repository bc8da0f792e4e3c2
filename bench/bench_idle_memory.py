"""Idle memory: bytes a logged-in, idle client connection keeps alive.

A chat bridge or bot holds many connections that mostly wait, so the resident cost of
one idle connection matters.  One warm-up connection first, so that imports and the
class-level registries every instance shares are not counted; then ``N`` connections are
brought into the logged-in state and kept alive, and the growth divided by ``N`` is the
cost of one.  Two measures, each over its own ``N`` connections:

* ``tracemalloc``: Python allocations only, exact and repeatable.  It does not see
  memory that C libraries allocate themselves -- libxml2 trees behind lxml (which
  cubeproto parses with), OpenSSL contexts (slixmpp makes one per client).
* resident set size growth (``/proc/self/statm``): sees everything, but is coarse (pages,
  allocator arenas), so only meaningful for a large ``N``.

Measured peers:

1. **slixmpp 1.17**: ``ClientXMPP`` with XEP-0085, XEP-0333, XEP-0198 and XEP-0199,
   logged in and stream management enabled (see slixmpp_peer.py), including its
   background send task.  All clients share one ``ssl.SSLContext``: by default slixmpp
   makes one per client with the system CA store loaded, ~0.8 MB of RSS each, which
   says nothing about the protocol state (``--own-ssl-context`` measures that default).
2. **cubeproto** ``ClientConnection``: :func:`measure_cubeproto`.

    python bench/bench_idle_memory.py          # N = 100
    python bench/bench_idle_memory.py -n 500
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import ssl
import sys
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

from slixmpp_peer import log_in, new_client, quiet_logging, shut_down

DEFAULT_CONNECTIONS = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class Footprint:
    """Bytes per idle connection, by each measure."""

    traced: float
    resident: float


def resident_bytes() -> int:
    """This process's resident set size (Linux)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def footprint(n: int, make: Callable[[], object]) -> Footprint:
    """Per-connection growth for ``n`` kept-alive results of ``make`` (after one warm-up)."""
    kept = [make()]
    gc.collect()
    rss_before = resident_bytes()
    kept += [make() for _ in range(n)]
    gc.collect()
    rss_after = resident_bytes()

    tracemalloc.start()
    try:
        traced_before, _ = tracemalloc.get_traced_memory()
        kept += [make() for _ in range(n)]
        gc.collect()
        traced_after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return Footprint(
        traced=(traced_after - traced_before) / n, resident=(rss_after - rss_before) / n
    )


def measure_slixmpp(n: int, *, own_ssl_context: bool = False) -> Footprint:
    """Bytes per idle logged-in slixmpp ``ClientXMPP`` (with its send task)."""
    loop = asyncio.new_event_loop()
    shared = None if own_ssl_context else ssl.create_default_context()
    clients = []

    def make() -> object:
        client = new_client(loop, shared)
        loop.run_until_complete(log_in(client))
        clients.append(client)
        return client

    try:
        return footprint(n, make)
    finally:
        for client in clients:
            loop.run_until_complete(shut_down(client))
        loop.close()


def measure_cubeproto(n: int) -> Footprint:
    """Bytes per idle logged-in cubeproto ``ClientConnection`` with its chat layer
    (ChatSession), driven through login by a scripted exchange (SASL PLAIN, bind, XEP-0198
    enabled with resumption) and then left idle.  The RSS figure includes libxml2's parser
    context, which tracemalloc cannot see."""
    from bench_inbound import cubeproto_logged_in

    def make() -> object:
        conn = cubeproto_logged_in()
        # Idle: the connection's timers fire as an adapter would fire them (the parser's
        # libxml2 context is freed after ClientConfig.release_parser_when_idle seconds).
        while (deadline := conn.get_timer()) is not None and deadline < 3600:
            conn.handle_timer(now=deadline)
        return conn

    return footprint(n, make)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("-n", type=int, default=DEFAULT_CONNECTIONS, help="connections")
    parser.add_argument(
        "--own-ssl-context",
        action="store_true",
        help="let every slixmpp client make its own SSLContext (its default)",
    )
    args = parser.parse_args(argv)

    quiet_logging()
    # Ours first: slixmpp's clients are freed when it is done, and RSS growth measured
    # after that would be hidden by the reused memory.
    ours = measure_cubeproto(args.n)
    slix = measure_slixmpp(args.n, own_ssl_context=args.own_ssl_context)
    print(f"idle logged-in connection, bytes per connection, average of {args.n}:")
    print(f"{'':<28} {'tracemalloc':>12} {'RSS growth':>12}")
    slix_name = "slixmpp 1.17 ClientXMPP" + ("*" if args.own_ssl_context else "")
    print(f"{slix_name:<28} {slix.traced:>12,.0f} {slix.resident:>12,.0f}")
    print(f"{'cubeproto ClientConnection':<28} {ours.traced:>12,.0f} {ours.resident:>12,.0f}")
    print(
        f"ratio ours/slixmpp:  {ours.traced / slix.traced:.3f}x tracemalloc, "
        f"{ours.resident / slix.resident:.3f}x RSS (lower is smaller)"
    )
    if args.own_ssl_context:
        print("* each slixmpp client with its own SSLContext (system CA store loaded)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
