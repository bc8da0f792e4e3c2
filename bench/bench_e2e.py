"""End-to-end through the real ejabberd: messages per second and idle-connection memory.

1. Throughput: one sender, one receiver, both logged in over TCP + STARTTLS (SCRAM), the
   sender sends ``--messages`` chat messages as fast as the client lets it; the figure is
   messages per second from the first send to the receiver's last "message received"
   event.  Measured for our asyncio, trio and blocking clients and for slixmpp 1.17 (two
   ``ClientXMPP`` on one asyncio loop), in this run, on this server; ratios ours/slixmpp.
2. Memory: ``--idle`` logged-in idle connections in one fresh process, RSS growth per
   connection, ours (asyncio ``AsyncChatClient``) vs slixmpp.  Each side runs in its own
   child interpreter so that neither pays for the other's imports.

    python bench/bench_e2e.py                 # 5,000 messages, 1,000 idle connections
    python bench/bench_e2e.py --quick         # 1,000 messages, 200 idle connections

Nothing is asserted: this is a report.  Needs the test ejabberd (``make servers``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from ejabberd_server import AccountExists, Ejabberd, running_or_started  # noqa: E402

from cubeproto import ClientConfig, Transport  # noqa: E402
from cubeproto.chat import ChatOptions, ChatSession, MessageReceived  # noqa: E402

APP_ID = 42


def users(server: Ejabberd, count: int, base: int) -> list[tuple[int, str]]:
    """``count`` registered accounts (user id, password), made once and reused."""
    out = []
    for i in range(count):
        uid = base + i
        password = f"bench-{uid}"
        with contextlib.suppress(AccountExists):  # made by an earlier run
            server.register(f"{uid}-{APP_ID}", password)
        out.append((uid, password))
    return out


def config(server: Ejabberd, uid: int, password: str) -> ClientConfig:
    return ClientConfig(
        app_id=APP_ID,
        user_id=uid,
        password=password,
        chat_host=server.domain,
        transport=Transport.TCP,
        mechanisms=("SCRAM-SHA-256",),
        entropy=os.urandom,
        wall_clock=time.time,
        # No automatic delivered receipts: slixmpp sends none either.
        handler_factory=lambda: ChatSession(ChatOptions(auto_delivered_receipts=False)),
    )


# ---------------------------------------------------------------------- throughput


def run_anyio(server: Ejabberd, pair: list[tuple[int, str]], n: int, backend: str) -> float:
    import anyio
    from cubeproto.transports.anyio_chat import AsyncChatClient

    (a, pa), (b, pb) = pair

    async def main() -> float:
        kw: dict[str, Any] = {"host": "127.0.0.1", "ca_file": server.ca_file}
        async with (
            AsyncChatClient(config(server, a, pa), **kw) as sender,
            AsyncChatClient(config(server, b, pb), **kw) as receiver,
        ):
            await receiver.ping()
            done = anyio.Event()
            t0 = time.perf_counter()
            elapsed = 0.0

            async def receive() -> None:
                nonlocal elapsed
                got = 0
                async for event in receiver.events():
                    if isinstance(event, MessageReceived):
                        got += 1
                        if got == n:
                            elapsed = time.perf_counter() - t0
                            done.set()
                            return

            async with anyio.create_task_group() as tg:
                tg.start_soon(receive)
                for i in range(n):
                    await sender.send_message(to_user=b, body=f"message {i}")
                await done.wait()
            return n / elapsed

    return float(anyio.run(main, backend=backend))


def run_blocking(server: Ejabberd, pair: list[tuple[int, str]], n: int) -> float:
    from cubeproto.transports.blocking_chat import ChatClient

    from cubeproto.events import Event

    (a, pa), (b, pb) = pair
    done = threading.Event()
    got = [0]

    def on_event(event: Event) -> None:
        if isinstance(event, MessageReceived):
            got[0] += 1
            if got[0] == n:
                done.set()

    kw: dict[str, Any] = {"host": "127.0.0.1", "ca_file": server.ca_file}
    with (
        ChatClient(config(server, a, pa), on_event=lambda e: None, **kw) as sender,
        ChatClient(config(server, b, pb), on_event=on_event, **kw) as receiver,
    ):
        receiver.ping()
        t0 = time.perf_counter()
        for i in range(n):
            sender.send_message(to_user=b, body=f"message {i}")
        done.wait()
        return n / (time.perf_counter() - t0)


def slix_client(server: Ejabberd, uid: int, password: str) -> Any:
    import slixmpp

    client = slixmpp.ClientXMPP(f"{uid}-{APP_ID}@{server.domain}", password)
    client.ssl_context = server.ssl_context()
    client.register_plugin("xep_0198")
    client.register_plugin("xep_0199")
    return client


async def slix_login(client: Any) -> None:
    started = asyncio.get_running_loop().create_future()

    def on_start(_: Any) -> None:
        client.send_presence()
        if not started.done():
            started.set_result(None)

    client.add_event_handler("session_start", on_start)
    client.connect("127.0.0.1", 5222)
    await asyncio.wait_for(started, 30)
    await client.plugin["xep_0199"].ping(timeout=10)


def run_slixmpp(server: Ejabberd, pair: list[tuple[int, str]], n: int) -> float:
    (a, pa), (b, pb) = pair

    async def main() -> float:
        sender, receiver = slix_client(server, a, pa), slix_client(server, b, pb)
        await slix_login(sender)
        await slix_login(receiver)
        done = asyncio.get_running_loop().create_future()
        got = [0]

        def on_message(msg: Any) -> None:
            got[0] += 1
            if got[0] == n and not done.done():
                done.set_result(time.perf_counter())

        receiver.add_event_handler("message", on_message)
        to = f"{b}-{APP_ID}@{server.domain}"
        t0 = time.perf_counter()
        for i in range(n):
            sender.send_message(mto=to, mbody=f"message {i}", mtype="chat")
            if i % 100 == 99:
                await asyncio.sleep(0)  # let it write, as an application would
        t1 = await asyncio.wait_for(done, 300)
        for client in (sender, receiver):
            await client.disconnect()
        return n / (t1 - t0)

    return asyncio.run(main())


# ---------------------------------------------------------------------- memory


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def child_idle(kind: str, count: int, base: int) -> None:
    """Run in a fresh interpreter: log ``count`` users in, report RSS growth as JSON."""
    server = running_or_started()
    accounts = users(server, count, base)
    import anyio  # noqa: F401  (imported before the baseline: both sides pay their imports)
    import slixmpp  # noqa: F401
    from cubeproto.transports.anyio_chat import AsyncChatClient

    async def ours() -> int:
        from contextlib import AsyncExitStack

        async with AsyncExitStack() as stack:
            clients = []
            for uid, pw in accounts[:1]:
                clients.append(
                    await stack.enter_async_context(
                        AsyncChatClient(
                            config(server, uid, pw), host="127.0.0.1", ca_file=server.ca_file
                        )
                    )
                )
            before = rss_kib()
            for uid, pw in accounts[1:]:
                clients.append(
                    await stack.enter_async_context(
                        AsyncChatClient(
                            config(server, uid, pw), host="127.0.0.1", ca_file=server.ca_file
                        )
                    )
                )
            await anyio_sleep(1.0)
            return rss_kib() - before

    async def anyio_sleep(seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def theirs() -> int:
        clients = [slix_client(server, *accounts[0])]
        await slix_login(clients[0])
        before = rss_kib()
        for uid, pw in accounts[1:]:
            client = slix_client(server, uid, pw)
            await slix_login(client)
            clients.append(client)
        await asyncio.sleep(1.0)
        grown = rss_kib() - before
        for client in clients:
            await client.disconnect()
        return grown

    logging.disable(logging.CRITICAL)
    t0 = time.perf_counter()
    grown = asyncio.run(ours() if kind == "ours" else theirs())
    print(json.dumps({"kib": grown, "count": count - 1, "seconds": time.perf_counter() - t0}))


def idle_memory(kind: str, count: int, base: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child-idle", kind, str(count), str(base)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child-idle", nargs=3, metavar=("KIND", "COUNT", "BASE"))
    args = parser.parse_args()
    if args.child_idle:
        kind, count, base = args.child_idle
        child_idle(kind, int(count), int(base))
        return 0
    if args.quick:
        args.messages, args.idle = 1000, 200
    logging.disable(logging.CRITICAL)
    server = running_or_started()
    base = 50_000_000
    pair = users(server, 2, base)
    n = args.messages
    rates = {
        "asyncio": run_anyio(server, pair, n, "asyncio"),
        "trio": run_anyio(server, pair, n, "trio"),
        "blocking": run_blocking(server, pair, n),
        "slixmpp 1.17": run_slixmpp(server, pair, n),
    }
    slix = rates["slixmpp 1.17"]
    print(f"end-to-end through ejabberd, {n:,} messages, sender -> receiver (TCP+STARTTLS)")
    for name, rate in rates.items():
        print(f"  {name:<13} {rate:>9,.0f} msg/s   ratio to slixmpp {rate / slix:5.2f}")
    ours = idle_memory("ours", args.idle + 1, base + 100)
    theirs = idle_memory("slixmpp", args.idle + 1, base + 100)
    print(f"idle logged-in connections in one process: {ours['count']:,}")
    for name, r in (("ours (asyncio)", ours), ("slixmpp 1.17", theirs)):
        print(
            f"  {name:<15} {r['kib'] / r['count']:7.1f} KiB per connection "
            f"(RSS +{r['kib'] / 1024:.1f} MiB; set up in {r['seconds']:.0f} s)"
        )
    print(f"  ratio slixmpp/ours: {theirs['kib'] / max(ours['kib'], 1):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
