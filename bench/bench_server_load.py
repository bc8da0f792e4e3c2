"""Load on three servers side by side: the local server, one ejabberd node and the 2-node
ejabberd cluster, each driven by the same N logged-in chat clients at a sweep of offered
message rates.

Prints, per server and per offered rate (messages sent per second by all clients
together): messages sent and delivered per second, the share of the expected deliveries
that arrived, delivery latency p50/p99 (the sender's monotonic clock in the message, the
receiver's on arrival: one process, one clock), the server's CPU seconds per 1,000
deliveries, how busy the server and the driver were and how long they waited for a CPU --
then one table with the servers side by side.

    .venv/bin/python bench/bench_server_load.py                          # 300 clients
    .venv/bin/python bench/bench_server_load.py --clients 500 --rates 100,200,400,800
    .venv/bin/python bench/bench_server_load.py --clients 20 --rates 20 --duration 2 \\
        --servers local                                                  # a few seconds

**One driver process, no adapter objects.**  Every client is a bare sans-IO
:class:`~cubeproto.ClientConnection` with its :class:`~cubeproto.chat.ChatSession`
(about 5 KB each) on a non-blocking socket; one ``selectors`` loop in this process moves
the bytes of all of them, TLS included (``ssl.SSLObject`` over memory BIOs: STARTTLS on
every server, as a ConnectyCube client does), fires their timers and sends the offered
load: the k-th message of a point leaves at ``start + k / rate`` from client
``k mod N``, alternately a 1-1 message to the client's partner (another client; on the
cluster, on the other node) and a message to its group dialog (``--group-size`` members,
spread over both nodes on the cluster; every member joined the room, the sender gets the
room's echo).  Receivers send the SDK's automatic delivered receipt for every message, as
the official SDK does: the server routes those too.  The old version ran one asyncio
client object per user in one or two processes and measured those processes more than the
server (p50 1.6-4.4 s at 2,000 clients with the server idle 60 % of the time).

**Where the limit is.**  For this process and for the server (all threads of the local
server's process, of the ejabberd VM, of both VMs for the cluster), ``/proc/PID/task/*/
schedstat`` gives the time spent on a CPU (``busy``) and the time runnable but waiting for
one (``waiting for a CPU``), in % of a point's wall time (100 = one core).  A server busy
near 100 % per thread it can use is saturated; a large wait says the machine's other work
set the pace (the test machine has 2 cores shared with other jobs).  ``late`` is how far
the driver fell behind the sending schedule (p99).  A point ends when every expected
delivery arrived, or after ``--drain`` seconds without any.

The servers: the local server runs in a child process (``--role server``: a
:class:`LocalServer` with TLS, users and dialogs made at start).  ejabberd is the shared
single test node (``scripts/ejabberd/start-ejabberd.sh``, found or started through
tests/ejabberd_server.py) and the 2-node cluster of ``scripts/ejabberd/start-cluster.sh``
(tests/ejabberd_cluster.py; which cluster follows ``EJABBERD_CLUSTER_DIR``, its ports
``NODE1_PORTS``/``NODE2_PORTS``/``CLUSTER_EPMD_PORT``, as for the script).  Accounts and
persistent rooms are made through the HTTP admin API for the run and removed after it.
Nothing is asserted: a report.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import selectors
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent.parent / "tests"))

from cubeproto.transports._tls import channel_binding, client_context  # noqa: E402

from cubeproto import (  # noqa: E402
    ClientConfig,
    ClientConnection,
    Connected,
    ConnectionClosed,
    Transport,
)
from cubeproto.chat import (  # noqa: E402
    ChatSession,
    DialogJoined,
    DialogJoinFailed,
    JoinDialog,
    MessageBounced,
    MessageReceived,
    SendMessage,
)
from cubeproto.events import TlsUpgradeRequired  # noqa: E402

APP_ID = 42
SERVERS = ("local", "ejabberd", "cluster")
TITLES = {"local": "local server", "ejabberd": "ejabberd, 1 node", "cluster": "ejabberd, 2 nodes"}
#: Logins in flight at once (a burst of thousands of TLS handshakes helps nobody).
LOGIN_WINDOW = 32
#: Bound on the logins and joins of all clients.
LOGIN_WAIT_S = 300.0


# ---------------------------------------------------------------------- the plan


@dataclass
class Plan:
    """Who logs in where: the users, their partners and groups, the endpoints."""

    domain: str
    ca_file: str
    app_id: int
    #: per user: id, password, endpoint [host, port], partner [id, dialog] or None,
    #: group [dialog, size]
    users: list[dict[str, Any]]
    #: processes whose CPU time is the server's
    server_pids: list[int]
    cleanup: Callable[[], None] = field(default=lambda: None)


def groups_and_pairs(n: int, group_size: int) -> tuple[list[list[int]], list[tuple[int, int]]]:
    """Consecutive clients form the groups and the 1-1 pairs (so on the cluster, where
    client i is on node i mod 2, every pair and every group spans both nodes)."""
    groups = [list(range(s, min(n, s + group_size))) for s in range(0, n, group_size)]
    pairs = [(i, i + 1) for i in range(0, n - 1, 2)]
    return groups, pairs


# ---------------------------------------------------------------------- local server


def serve(args: argparse.Namespace) -> None:
    """``--role server``: a LocalServer with the plan's users and dialogs; writes the plan
    (as JSON) to ``--plan``, prints ``ready`` and serves until terminated."""
    import anyio
    from cubeproto.transports.localserver.hub import GROUP, PRIVATE
    from cubeproto.transports.localserver.server import LocalServer

    async def main() -> None:
        async with LocalServer(tls=True, resume_seconds=60) as server:
            app = server.add_app(900, "bench-key")
            users = [server.add_user(app.id, f"u{i}", f"pw{i}") for i in range(args.clients)]
            groups, pairs = groups_and_pairs(len(users), args.group_size)
            partner: dict[int, list[Any]] = {}
            for a, b in pairs:
                dialog = server.hub.new_dialog(
                    users[a], {"type": PRIVATE, "occupants_ids": [users[a].id, users[b].id]}
                )
                partner[a] = [users[b].id, dialog["_id"]]
                partner[b] = [users[a].id, dialog["_id"]]
            group: dict[int, list[Any]] = {}
            for members in groups:
                dialog = server.hub.new_dialog(
                    users[members[0]],
                    {
                        "type": GROUP,
                        "name": f"g{members[0]}",
                        "occupants_ids": [users[m].id for m in members],
                    },
                )
                for m in members:
                    group[m] = [dialog["_id"], len(members)]
            info = server.info
            plan = {
                "domain": info.domain,
                "ca_file": info.ca_file,
                "app_id": app.id,
                "users": [
                    {
                        "id": u.id,
                        "password": f"pw{i}",
                        "endpoint": [info.host, info.xmpp_port],
                        "partner": partner.get(i),
                        "group": group[i],
                    }
                    for i, u in enumerate(users)
                ],
            }
            Path(args.plan).write_text(json.dumps(plan))
            print("ready", flush=True)
            await anyio.sleep_forever()

    anyio.run(main)


@contextmanager
def local_plan(args: argparse.Namespace, work: Path) -> Iterator[Plan]:
    plan_file = work / "plan.json"
    server = subprocess.Popen(
        [
            sys.executable,
            str(HERE),
            "--role",
            "server",
            "--clients",
            str(args.clients),
            "--group-size",
            str(args.group_size),
            "--plan",
            str(plan_file),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            raise SystemExit("the local server did not start")
        data = json.loads(plan_file.read_text())
        yield Plan(
            domain=data["domain"],
            ca_file=data["ca_file"],
            app_id=data["app_id"],
            users=data["users"],
            server_pids=[server.pid],
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


# ---------------------------------------------------------------------- ejabberd


def ejabberd_plan(args: argparse.Namespace, nodes: list[Any], pids: list[int]) -> Plan:
    """Accounts and persistent rooms for the run through the nodes' admin API (client i
    on node i mod len(nodes); rooms made alternately through each node, so that their
    processes live on both); ``cleanup`` removes them."""
    from ejabberd_server import AccountExists

    run = int.from_bytes(os.urandom(3), "big")
    base = 800_000_000 + run * 1000 % 100_000_000
    users: list[dict[str, Any]] = []

    def register(i: int) -> dict[str, Any]:
        node = nodes[i % len(nodes)]
        uid = base + i
        password = f"bench-{os.urandom(4).hex()}"
        while True:
            try:
                node.register(f"{uid}-{APP_ID}", password)
                break
            except AccountExists:
                uid += 100_000_000
        return {"id": uid, "password": password, "endpoint": [node.host, node.c2s_port]}

    with ThreadPoolExecutor(4) as pool:
        users = list(pool.map(register, range(args.clients)))
    groups, pairs = groups_and_pairs(len(users), args.group_size)
    for a, b in pairs:
        dialog = os.urandom(12).hex()
        users[a]["partner"] = [users[b]["id"], dialog]
        users[b]["partner"] = [users[a]["id"], dialog]
    rooms: list[tuple[Any, str]] = []
    for k, members in enumerate(groups):
        node = nodes[k % len(nodes)]
        dialog = os.urandom(12).hex()
        node.create_room(f"{APP_ID}_{dialog}")
        rooms.append((node, f"{APP_ID}_{dialog}"))
        for m in members:
            users[m]["group"] = [dialog, len(members)]
    for user in users:
        user.setdefault("partner", None)

    def cleanup() -> None:
        def unregister(user: dict[str, Any]) -> None:
            try:
                nodes[0].api("unregister", user=f"{user['id']}-{APP_ID}", host=nodes[0].domain)
            except Exception as exc:  # a report, not a failure: say it and go on
                print(f"  (could not unregister {user['id']}: {exc})")

        for node, name in rooms:
            try:
                node.api("destroy_room", name=name, service=node.muc_domain)
            except Exception as exc:
                print(f"  (could not destroy room {name}: {exc})")
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(unregister, users))

    return Plan(
        domain=nodes[0].domain,
        ca_file=str(nodes[0].ca_file),
        app_id=APP_ID,
        users=users,
        server_pids=pids,
        cleanup=cleanup,
    )


def ejabberd_pid(state_dir: Path) -> int:
    return int((state_dir / "run" / "ejabberd.pid").read_text().strip())


@contextmanager
def single_node_plan(args: argparse.Namespace) -> Iterator[Plan]:
    from ejabberd_server import running_or_started

    node = running_or_started()
    plan = ejabberd_plan(args, [node], [ejabberd_pid(node.state_dir)])
    try:
        yield plan
    finally:
        plan.cleanup()


@contextmanager
def cluster_plan(args: argparse.Namespace) -> Iterator[Plan]:
    from ejabberd_cluster import running_or_started

    cluster = running_or_started()
    pids = [ejabberd_pid(node.state_dir) for node in cluster.nodes]
    plan = ejabberd_plan(args, list(cluster.nodes), pids)
    try:
        yield plan
    finally:
        plan.cleanup()


# ---------------------------------------------------------------------- the driver


class Client:
    """One user: a sans-IO connection, its socket and (after STARTTLS) its TLS object."""

    __slots__ = (
        "conn",
        "group",
        "inbio",
        "index",
        "joined",
        "outbio",
        "partner",
        "ready",
        "sock",
        "timer",
        "tls",
        "tls_done",
        "turn",
        "wbuf",
        "writing",
    )

    def __init__(self, index: int, conn: ClientConnection, user: dict[str, Any]) -> None:
        self.index = index
        self.conn = conn
        self.sock: socket.socket | None = None
        self.tls: ssl.SSLObject | None = None
        self.inbio = ssl.MemoryBIO()
        self.outbio = ssl.MemoryBIO()
        self.tls_done = False
        self.wbuf = bytearray()
        self.writing = False
        self.timer: float | None = None
        self.ready = False
        self.joined = False
        self.partner: list[Any] | None = user["partner"]
        self.group: list[Any] = user["group"]
        self.turn = 0


@dataclass
class Point:
    """What one offered rate gave."""

    rate: float
    sent: int = 0
    sent_1to1: int = 0
    sent_group: int = 0
    expected: int = 0
    received: int = 0
    bounced: int = 0
    latencies: list[float] = field(default_factory=list)
    lateness: list[float] = field(default_factory=list)
    seconds: float = 0.0
    driver_cpu: float = 0.0
    driver_wait: float = 0.0
    server_cpu: float = 0.0
    server_wait: float = 0.0
    last_delivery: float = 0.0
    started: float = 0.0
    #: the machine's 1-minute load average at the end (other work shares the CPUs)
    load: float = 0.0


class Driver:
    """All clients of one server in one ``selectors`` loop."""

    def __init__(self, plan: Plan, *, ack_timeout: float) -> None:
        self.plan = plan
        self.selector = selectors.DefaultSelector()
        self.context = client_context(ca_file=plan.ca_file)
        self.timers: list[tuple[float, int]] = []
        self.clients: list[Client] = []
        self.closed = 0
        self.join_failed = 0
        self.point: Point | None = None
        self.tag = "0"
        #: connections that ended before log_out() (printed, counted)
        self.lost = 0
        self.leaving = False
        for i, user in enumerate(plan.users):
            config = ClientConfig(
                app_id=plan.app_id,
                user_id=user["id"],
                password=user["password"],
                entropy=os.urandom,
                wall_clock=time.time,
                chat_host=plan.domain,
                transport=Transport.TCP,
                handler_factory=ChatSession,
                ack_timeout=ack_timeout,
            )
            self.clients.append(Client(i, ClientConnection(config), user))

    # -- moving bytes ----------------------------------------------------------------

    def open(self, client: Client) -> None:
        host, port = self.plan.users[client.index]["endpoint"]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect_ex((host, port))
        client.sock = sock
        client.writing = True
        self.selector.register(sock, selectors.EVENT_WRITE, client)

    def after(self, client: Client, now: float) -> None:
        """What every call into a connection is followed by: write its output, take its
        events, re-arm its timer."""
        conn = client.conn
        while True:
            event = conn.next_event()
            if event is None:
                break
            self.on_event(client, event, now)
        self.flush(client)
        deadline = conn.get_timer()
        if deadline is not None and deadline != client.timer:
            client.timer = deadline
            heapq.heappush(self.timers, (deadline, client.index))

    def flush(self, client: Client) -> None:
        data = client.conn.data_to_send()
        if client.tls is not None:
            if data and client.tls_done:
                client.tls.write(data)
            data = client.outbio.read()
        if data:
            client.wbuf += data
        if client.wbuf and client.sock is not None:
            try:
                sent = client.sock.send(client.wbuf)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self.drop(client)
                return
            del client.wbuf[:sent]
        want_write = bool(client.wbuf)
        if want_write != client.writing and client.sock is not None:
            client.writing = want_write
            mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if want_write else 0)
            self.selector.modify(client.sock, mask, client)

    def readable(self, client: Client, now: float) -> None:
        assert client.sock is not None
        try:
            data = client.sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        conn = client.conn
        if not data:
            conn.receive_eof(now=now)
            self.after(client, now)
            self.drop(client)
            return
        if client.tls is None:
            conn.receive_data(data, now=now)
        else:
            client.inbio.write(data)
            if not client.tls_done:
                self.handshake(client, now)
            if client.tls_done:
                while True:
                    try:
                        plain = client.tls.read(262144)
                    except ssl.SSLWantReadError:
                        break
                    except ssl.SSLError:
                        plain = b""
                    if not plain:
                        break
                    conn.receive_data(plain, now=now)
        self.after(client, now)

    def handshake(self, client: Client, now: float) -> None:
        assert client.tls is not None
        try:
            client.tls.do_handshake()
        except ssl.SSLWantReadError:
            return
        except ssl.SSLError as exc:
            client.conn.tls_failed(str(exc), now=now)
            return
        client.tls_done = True
        client.conn.tls_established(now=now, channel_binding=channel_binding(client.tls))

    def drop(self, client: Client) -> None:
        if client.sock is not None:
            self.selector.unregister(client.sock)
            client.sock.close()
            client.sock = None
            self.closed += 1

    # -- events ----------------------------------------------------------------------

    def on_event(self, client: Client, event: object, now: float) -> None:
        kind = type(event)
        if kind is MessageReceived:
            point = self.point
            extension = event.extension  # type: ignore[attr-defined]
            if point is not None and extension.get("p") == self.tag:
                point.latencies.append(now - float(extension["t"]))
                point.received += 1
                point.last_delivery = now
        elif kind is TlsUpgradeRequired:
            client.tls = self.context.wrap_bio(
                client.inbio, client.outbio, server_hostname=self.plan.domain
            )
            self.handshake(client, now)
        elif kind is Connected:
            client.ready = True
            client.conn.send(JoinDialog(dialog_id=client.group[0]), now=now)
        elif kind is DialogJoined:
            client.joined = True
        elif kind is DialogJoinFailed:
            self.join_failed += 1
        elif kind is MessageBounced:
            if self.point is not None:
                self.point.bounced += 1
        elif kind is ConnectionClosed and not self.leaving:
            self.lost += 1
            if self.lost <= 5:
                print(f"  client {client.index} closed: {event}")

    # -- the loop --------------------------------------------------------------------

    def turn(self, until: float) -> float:
        """Wait for I/O (at most until ``until`` or the next timer) and serve it."""
        now = time.monotonic()
        timeout = until - now
        if self.timers:
            timeout = min(timeout, self.timers[0][0] - now)
        for key, mask in self.selector.select(max(0.0, timeout)):
            client: Client = key.data
            now = time.monotonic()
            if client.sock is None:
                continue
            if mask & selectors.EVENT_READ:
                self.readable(client, now)
            if client.sock is None:
                continue
            if mask & selectors.EVENT_WRITE:
                if client.conn.state.value == "idle":  # the TCP connect completed
                    if client.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        print(f"  client {client.index}: connect failed")
                        self.drop(client)
                        continue
                    client.conn.start(now=now)
                    self.selector.modify(
                        client.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client
                    )
                self.after(client, now)
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            deadline, index = heapq.heappop(self.timers)
            client = self.clients[index]
            if client.timer == deadline and client.sock is not None:
                client.timer = None
                client.conn.handle_timer(now=now)
                self.after(client, now)
        return now

    def log_in(self) -> float:
        """Connect every client (``LOGIN_WINDOW`` at a time) and join its group; returns
        the seconds it took."""
        t0 = time.monotonic()
        waiting = list(reversed(self.clients))
        while True:
            busy = sum(1 for c in self.clients if c.sock is not None and not c.joined)
            while waiting and busy < LOGIN_WINDOW:
                self.open(waiting.pop())
                busy += 1
            done = sum(1 for c in self.clients if c.joined)
            if not waiting and done + self.closed + self.join_failed >= len(self.clients):
                return time.monotonic() - t0
            if time.monotonic() - t0 > LOGIN_WAIT_S:
                raise SystemExit(f"only {done} of {len(self.clients)} logged in and joined")
            self.turn(time.monotonic() + 0.05)

    def run_point(
        self,
        rate: float,
        duration: float,
        drain: float,
        server_sched: Callable[[], tuple[float, float]],
    ) -> Point:
        """Offer ``rate`` messages/s for ``duration`` s, then wait (at most ``drain`` s
        without progress) until every expected delivery arrived."""
        point = self.point = Point(rate=rate)
        self.tag = str(rate)
        live = [c for c in self.clients if c.joined and c.sock is not None]
        driver_sched = sched_seconds([os.getpid()])
        driver0, server0 = driver_sched(), server_sched()
        start = point.started = time.monotonic()
        total = int(rate * duration)
        k = 0
        now = start
        while k < total:
            due = start + k / rate
            if now < due:
                now = self.turn(due)
                continue
            client = live[k % len(live)]
            k += 1
            if client.sock is None:
                continue
            point.lateness.append(now - due)
            stamp = {"t": repr(now), "p": self.tag}
            if client.turn % 2 == 0 and client.partner is not None:
                partner, dialog = client.partner
                command = SendMessage(
                    to_user=partner, body="1-1", dialog_id=dialog, extension=stamp
                )
                point.sent_1to1 += 1
                point.expected += 1
            else:
                command = SendMessage(to_dialog=client.group[0], body="group", extension=stamp)
                point.sent_group += 1
                point.expected += client.group[1]
            client.turn += 1
            client.conn.send(command, now=now)
            self.after(client, now)
            point.sent += 1
        sent_end = time.monotonic()
        progress_at, seen = sent_end, point.received
        while point.received < point.expected:
            now = self.turn(time.monotonic() + 0.2)
            if point.received != seen:
                progress_at, seen = now, point.received
            elif now - progress_at > drain:
                break
        point.seconds = sent_end - start
        driver1, server1 = driver_sched(), server_sched()
        point.driver_cpu = driver1[0] - driver0[0]
        point.driver_wait = driver1[1] - driver0[1]
        point.server_cpu = server1[0] - server0[0]
        point.server_wait = server1[1] - server0[1]
        point.load = os.getloadavg()[0]
        self.point = None
        return point

    def log_out(self) -> None:
        self.leaving = True
        now = time.monotonic()
        for client in self.clients:
            if client.sock is not None:
                client.conn.close(now=now)
                self.after(client, now)
        deadline = now + 10.0
        while any(c.sock is not None for c in self.clients) and time.monotonic() < deadline:
            self.turn(time.monotonic() + 0.1)
        for client in self.clients:
            self.drop(client)


# ---------------------------------------------------------------------- figures


def sched_seconds(pids: list[int]) -> Callable[[], tuple[float, float]]:
    """A reader of (seconds on a CPU, seconds runnable but waiting for one) of all threads
    of ``pids`` (``/proc/PID/task/*/schedstat``): the second says how much of a point's
    latency is the machine's other work, not the process's own."""

    def read() -> tuple[float, float]:
        run = wait = 0
        for pid in pids:
            for task in Path(f"/proc/{pid}/task").iterdir():
                try:
                    fields = (task / "schedstat").read_text().split()
                except OSError:  # the thread ended meanwhile
                    continue
                run += int(fields[0])
                wait += int(fields[1])
        return run / 1e9, wait / 1e9

    return read


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def describe(point: Point) -> dict[str, float]:
    wall = max(point.seconds, point.last_delivery - point.started, 1e-9)
    return {
        "offered": point.rate,
        "sent/s": point.sent / max(point.seconds, 1e-9),
        "deliv/s": point.received / wall,
        "deliv%": 100.0 * point.received / max(point.expected, 1),
        "p50 ms": percentile(point.latencies, 0.5) * 1000,
        "p99 ms": percentile(point.latencies, 0.99) * 1000,
        "late p99 ms": percentile(point.lateness, 0.99) * 1000,
        "driver busy%": 100.0 * point.driver_cpu / wall,
        "server CPU s/1k": 1000.0 * point.server_cpu / max(point.received, 1),
        "server busy%": 100.0 * point.server_cpu / wall,
        "server wait%": 100.0 * point.server_wait / wall,
        "driver wait%": 100.0 * point.driver_wait / wall,
        "load": point.load,
        "bounced": point.bounced,
    }


def measure(
    name: str, args: argparse.Namespace, work: Path, *, first: bool
) -> list[dict[str, float]]:
    print(f"== {TITLES[name]}")
    if name == "local":
        setup: Any = local_plan(args, work)
    elif name == "ejabberd":
        setup = single_node_plan(args)
    else:
        setup = cluster_plan(args)
    t0 = time.monotonic()
    rows: list[dict[str, float]] = []
    with setup as plan:
        print(
            f"  {len(plan.users)} users and {len(plan.users) // args.group_size} rooms made "
            f"in {time.monotonic() - t0:.1f} s"
        )
        rss0 = rss_kib()
        driver = Driver(plan, ack_timeout=args.ack_timeout)
        seconds = driver.log_in()
        joined = sum(1 for c in driver.clients if c.joined)
        # RSS growth says something only for the first server of a run: later ones reuse
        # the memory the previous clients freed.
        memory = (
            f"; driver RSS {(rss_kib() - rss0) * 1024 / max(joined, 1):,.0f} bytes per "
            "client (connection, chat session, socket, TLS)"
            if first
            else ""
        )
        print(
            f"  {joined} of {len(plan.users)} logged in (STARTTLS, SCRAM, SM, carbons, "
            f"presence) and joined their room in {seconds:.1f} s "
            f"({joined / max(seconds, 1e-9):.0f}/s){memory}"
        )
        server_sched = sched_seconds(plan.server_pids)
        for rate in args.rates:
            point = driver.run_point(rate, args.duration, args.drain, server_sched)
            row = describe(point)
            rows.append(row)
            print(
                f"  offered {rate:.0f}/s: sent {row['sent/s']:.0f}/s, delivered "
                f"{point.received} of {point.expected} ({row['deliv%']:.1f} %, "
                f"{row['deliv/s']:.0f}/s), p50 {row['p50 ms']:.1f} ms, p99 "
                f"{row['p99 ms']:.1f} ms; driver late p99 {row['late p99 ms']:.1f} ms, busy "
                f"{row['driver busy%']:.0f} %, waiting for a CPU {row['driver wait%']:.0f} %; "
                f"server busy {row['server busy%']:.0f} %, waiting for a CPU "
                f"{row['server wait%']:.0f} % (CPU "
                f"{row['server CPU s/1k']:.3f} s per 1,000 deliveries); bounced "
                f"{point.bounced}; load average {point.load:.1f}",
                flush=True,
            )
        driver.log_out()
        if driver.join_failed or driver.lost:
            print(f"  join failures {driver.join_failed}, connections lost {driver.lost}")
    return rows


def side_by_side(results: dict[str, list[dict[str, float]]], rates: list[float]) -> None:
    names = [n for n in SERVERS if n in results]
    cols = ("deliv/s", "deliv%", "p50 ms", "p99 ms", "srv busy", "srv wait")
    width = 10 * len(cols)
    print()
    print("offered  | " + " | ".join(f"{TITLES[n]:<{width}}" for n in names))
    print("msgs/s   | " + " | ".join("".join(f"{c:>10}" for c in cols) for _ in names))
    for k, rate in enumerate(rates):
        cells = []
        for name in names:
            row = results[name][k]
            cells.append(
                f"{row['deliv/s']:>10.0f}{row['deliv%']:>10.1f}{row['p50 ms']:>10.1f}"
                f"{row['p99 ms']:>10.1f}{row['server busy%']:>10.0f}{row['server wait%']:>10.0f}"
            )
        print(f"{rate:>8.0f} | " + " | ".join(cells))
    print(
        "deliv/s: messages received per second (a group message counts once per member, "
        "the sender's echo included); deliv%: of the expected; p50/p99: delivery latency; "
        "srv busy / srv wait: the server's time on a CPU / runnable but waiting for one, "
        "in % of the point's wall time (all threads; both VMs for the cluster; 100 = one "
        "core): a large wait means the machine's other work, not the server, set the pace"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument(
        "--rates",
        default="100,200,400",
        help="offered messages/s of all clients together, comma-separated",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per rate")
    parser.add_argument(
        "--drain",
        type=float,
        default=30.0,
        help="give up waiting after this long without a delivery",
    )
    parser.add_argument("--group-size", type=int, default=10)
    parser.add_argument("--servers", default=",".join(SERVERS), help="of local,ejabberd,cluster")
    parser.add_argument("--ack-timeout", type=float, default=120.0)
    parser.add_argument("--role", choices=["driver", "server"], default="driver")
    parser.add_argument("--plan", default="")
    args = parser.parse_args()
    if args.role == "server":
        serve(args)
        return
    args.rates = [float(r) for r in args.rates.split(",")]
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    unknown = set(names) - set(SERVERS)
    if unknown:
        raise SystemExit(f"unknown servers {sorted(unknown)} (of {', '.join(SERVERS)})")
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-server-load-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    print(
        f"{args.clients} clients in one process, groups of {args.group_size}, "
        f"{args.duration:.0f} s per offered rate, half 1-1 and half group messages"
    )
    try:
        results = {name: measure(name, args, work, first=k == 0) for k, name in enumerate(names)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    side_by_side(results, args.rates)


if __name__ == "__main__":
    main()
