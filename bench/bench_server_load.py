"""Load on one local-server process: N concurrent logged-in chat clients (spread over one
or two client processes) exchanging 1-1 and group messages.

Prints: login time, messages sent and delivered per second, delivery latency p50/p99
(sender's monotonic clock in the message, receiver's on arrival: one machine, one clock),
and the server's resident memory (idle, after the logins, peak while messaging).

    .venv/bin/python bench/bench_server_load.py                  # 2,000 clients, 2 procs
    .venv/bin/python bench/bench_server_load.py --clients 200 --duration 10

Three processes: this one (orchestrates, samples the server's RSS from /proc), the server
(``--role server``: a :class:`LocalServer` on loopback, plain TCP, SCRAM logins, users and
dialogs created at start), and the client processes (``--role clients``: the project's own
async client, one per user, on asyncio).  Each client sends ``--rate`` messages per second,
alternating between a 1-1 message to its partner and a message to its group dialog (of
``--group-size`` members, all of whom receive it).  Nothing is asserted: on a 2-core
machine the clients and the server share the CPU, so the figures are a floor.
``BENCH_PROFILE=file`` writes a cProfile of the server role (on SIGTERM at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio

HERE = Path(__file__).resolve()


# ---------------------------------------------------------------------- server role


async def serve(args: argparse.Namespace) -> None:
    from cubeproto.transports.localserver.hub import GROUP, PRIVATE
    from cubeproto.transports.localserver.server import LocalServer

    async with LocalServer(tls=False, resume_seconds=60) as server:
        app = server.add_app(900, "bench-key")
        users = [server.add_user(app.id, f"u{i}", f"pw{i}") for i in range(args.clients)]
        hub = server.hub
        pairs = {}
        for i in range(0, len(users) - 1, 2):
            dialog = hub.new_dialog(
                users[i], {"type": PRIVATE, "occupants_ids": [users[i].id, users[i + 1].id]}
            )
            pairs[users[i].id] = (users[i + 1].id, dialog["_id"])
            pairs[users[i + 1].id] = (users[i].id, dialog["_id"])
        groups = {}
        for start in range(0, len(users), args.group_size):
            members = users[start : start + args.group_size]
            dialog = hub.new_dialog(
                members[0],
                {"type": GROUP, "name": f"g{start}", "occupants_ids": [m.id for m in members]},
            )
            for member in members:
                groups[member.id] = (dialog["_id"], len(members))
        plan = {
            "host": server.info.host,
            "port": server.info.xmpp_port,
            "domain": server.info.domain,
            "app_id": app.id,
            "users": [
                {
                    "id": u.id,
                    "password": f"pw{i}",
                    "partner": pairs.get(u.id),
                    "group": groups[u.id],
                }
                for i, u in enumerate(users)
            ],
        }
        Path(args.plan).write_text(json.dumps(plan))
        print("ready", flush=True)
        await anyio.sleep_forever()


# ---------------------------------------------------------------------- client role


async def run_clients(args: argparse.Namespace) -> None:
    from cubeproto.transports.anyio_chat import AsyncChatClient

    from cubeproto import ClientConfig, Transport
    from cubeproto.chat import ChatSession, MessageReceived
    from cubeproto.reconnect import ReconnectPolicy

    plan = json.loads(Path(args.plan).read_text())
    mine = plan["users"][args.index :: args.of]
    latencies: list[float] = []
    counts = {"sent_1to1": 0, "sent_group": 0, "received": 0, "failed_logins": 0}
    clients: list[Any] = []
    connect_limit = anyio.Semaphore(64)
    start_gate = anyio.Event()
    stop_at = [0.0]
    connected = [0]

    async def listen(client: Any) -> None:
        async for event in client.events():
            if isinstance(event, MessageReceived):
                stamp = event.extension.get("t") if event.extension else None
                if isinstance(stamp, str):
                    latencies.append(time.monotonic() - float(stamp))
                    counts["received"] += 1

    async def one(user: dict[str, Any], tg: Any) -> None:
        config = ClientConfig(
            app_id=plan["app_id"],
            user_id=user["id"],
            password=user["password"],
            entropy=os.urandom,
            wall_clock=time.time,
            chat_host=plan["domain"],
            transport=Transport.TCP,
            require_tls=False,
            handler_factory=ChatSession,
            ack_timeout=120.0,
        )
        client = AsyncChatClient(
            config,
            host=plan["host"],
            port=plan["port"],
            policy=ReconnectPolicy(floor=0.5, cap=5.0),
            connect_timeout=60.0,
        )
        async with connect_limit:
            try:
                await client.connect()
            except Exception:
                counts["failed_logins"] += 1
                return
        clients.append(client)
        connected[0] += 1
        async with anyio.create_task_group() as inner:
            inner.start_soon(listen, client)
            await start_gate.wait()
            period = 1.0 / args.rate
            await anyio.sleep(random.random() * period)
            turn = 0
            while time.monotonic() < stop_at[0]:
                stamp = {"t": repr(time.monotonic())}
                try:
                    if turn % 2 == 0 and user["partner"] is not None:
                        partner, dialog_id = user["partner"]
                        await client.send_message(
                            to_user=partner, body="1-1", dialog_id=dialog_id, extension=stamp
                        )
                        counts["sent_1to1"] += 1
                    else:
                        await client.send_message(
                            to_dialog=user["group"][0], body="group", extension=stamp
                        )
                        counts["sent_group"] += 1
                except Exception:
                    pass
                turn += 1
                await anyio.sleep(period)
            await anyio.sleep(args.drain)
            inner.cancel_scope.cancel()
        await client.disconnect()

    async with anyio.create_task_group() as tg:
        for user in mine:
            tg.start_soon(one, user, tg)
        t0 = time.monotonic()
        while connected[0] + counts["failed_logins"] < len(mine):
            await anyio.sleep(0.1)
        login_seconds = time.monotonic() - t0
        print(json.dumps({"logged_in": connected[0], "login_seconds": login_seconds}), flush=True)
        # Wait for the orchestrator's go (a line on stdin), then message for --duration.
        await anyio.to_thread.run_sync(sys.stdin.readline)
        stop_at[0] = time.monotonic() + args.duration
        start_gate.set()
    Path(args.out).write_text(json.dumps({"counts": counts, "latencies": latencies}))


# ---------------------------------------------------------------------- orchestrator


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def orchestrate(args: argparse.Namespace) -> None:
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-server-load-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    plan = work / "plan.json"
    common = ["--clients", str(args.clients), "--plan", str(plan)]
    common += ["--group-size", str(args.group_size), "--rate", str(args.rate)]
    common += ["--duration", str(args.duration), "--drain", str(args.drain)]
    t0 = time.monotonic()
    server = subprocess.Popen(
        [sys.executable, str(HERE), "--role", "server", *common],
        stdout=subprocess.PIPE,
        text=True,
    )
    procs: list[subprocess.Popen[str]] = []
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            raise SystemExit("the server did not start")
        setup = time.monotonic() - t0
        idle_rss = rss_kib(server.pid)
        print(
            f"server pid {server.pid}: {args.clients} users and their dialogs created in "
            f"{setup:.1f} s; RSS idle {idle_rss / 1024:.1f} MiB"
        )
        for k in range(args.procs):
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        str(HERE),
                        "--role",
                        "clients",
                        "--index",
                        str(k),
                        "--of",
                        str(args.procs),
                        "--out",
                        str(work / f"out{k}.json"),
                        *common,
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        logged, login_time = 0, 0.0
        for p in procs:
            assert p.stdout is not None
            report = json.loads(p.stdout.readline())
            logged += report["logged_in"]
            login_time = max(login_time, report["login_seconds"])
        after_login_rss = rss_kib(server.pid)
        print(
            f"{logged} of {args.clients} clients logged in (SCRAM, SM with "
            f"resumption, carbons, presence) in {login_time:.1f} s "
            f"({logged / max(login_time, 1e-9):.0f} logins/s); server RSS "
            f"{after_login_rss / 1024:.1f} MiB "
            f"({(after_login_rss - idle_rss) * 1024 / max(logged, 1):.0f} bytes per session)"
        )
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        peak = after_login_rss
        t_msg = time.monotonic()
        while any(p.poll() is None for p in procs):
            peak = max(peak, rss_kib(server.pid))
            time.sleep(0.5)
            if time.monotonic() - t_msg > args.duration + args.drain + 120:
                raise SystemExit("clients did not finish")
        counts: dict[str, int] = {}
        latencies: list[float] = []
        for k in range(args.procs):
            data = json.loads((work / f"out{k}.json").read_text())
            for key, value in data["counts"].items():
                counts[key] = counts.get(key, 0) + value
            latencies.extend(data["latencies"])
        sent = counts["sent_1to1"] + counts["sent_group"]
        expected = counts["sent_1to1"] + counts["sent_group"] * args.group_size
        print(
            f"messaging {args.duration:.0f} s at {args.rate} msg/s per client: sent {sent} "
            f"({counts['sent_1to1']} 1-1, {counts['sent_group']} group), "
            f"{sent / args.duration:.0f} sent/s; delivered {counts['received']} of about "
            f"{expected} ({counts['received'] / args.duration:.0f} deliveries/s)"
        )
        print(
            f"delivery latency: p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, "
            f"mean {statistics.fmean(latencies) * 1000 if latencies else float('nan'):.1f} ms"
        )
        print(f"server RSS peak while messaging: {peak / 1024:.1f} MiB")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--procs", type=int, default=2, help="client processes (1 or 2)")
    parser.add_argument("--rate", type=float, default=0.2, help="messages/s per client")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of messaging")
    parser.add_argument("--drain", type=float, default=10.0, help="seconds to wait after")
    parser.add_argument("--group-size", type=int, default=10)
    parser.add_argument("--role", choices=["orchestrator", "server", "clients"])
    parser.add_argument("--plan", default="")
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--of", type=int, default=1)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    if args.role == "server":
        profile = os.environ.get("BENCH_PROFILE")  # a file: cProfile the server role
        if profile:
            import cProfile
            import signal

            profiler = cProfile.Profile()

            def dump(*_: object) -> None:
                profiler.dump_stats(profile)
                os._exit(0)

            signal.signal(signal.SIGTERM, dump)
            profiler.enable()
        anyio.run(serve, args)
    elif args.role == "clients":
        anyio.run(run_clients, args)
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
