"""What a node's death costs 1-1 chat on a 2-node ejabberd cluster (issue 15), as counts.

Two sender/receiver pairs of our clients (TCP + STARTTLS; the blocking ``ChatClient``, or
with ``--adapter asyncio|trio`` the ``AsyncChatClient`` on that event loop, one loop thread
per client) on the cluster of scripts/ejabberd/start-cluster.sh, one pair each way across
the nodes:

- pair "1->2": the sender on node 1, the receiver on node 2;
- pair "2->1": the sender on node 2, the receiver on node 1.

The clients on node 1 reach it through a loopback proxy
(tests/transports/integration/faultproxy.py), as they would through a load balancer or a DNS
name: today's clients take one endpoint.  Each
sender sends ``--messages`` messages as fast as its client takes them (a burst: the client
queues them faster than the link carries them) or paced at ``--rate``; after
``--kill-at`` of them have been sent by the sender on node 1, node 1's Erlang VM is
SIGKILLed and the proxy is pointed at node 2, so the clients on node 1 reconnect there
(resumption is refused: the session died with the node; then a fresh login).  Sending goes
on while they do (a send refused while reconnecting is retried).  At the end each sender
sends a marker; the receiver's counts are taken once it arrived, the sender's once every
message has its outcome (bounded waits).

Three modes: ``default``, ``resend_unconfirmed=True``, and ``end-to-end`` (issue 15:
every client has ``ChatOptions(end_to_end=EndToEnd(deadline=E2E_DEADLINE,
max_attempts=E2E_ATTEMPTS))``, and the messages are 1-1 with a dialog id and
``markable=True``, so each is resent with its id until its receiver's marker comes).
Printed per pair and per mode: messages received, duplicated, lost; each outcome the
sender reported; and the outcomes of the lost ones (a lost message reported
``MessageSent`` is the silent cost); in the end-to-end mode also each message's
end-to-end outcome and the resends it took.  Nothing is asserted: a report.

    python bench/bench_cluster_kill.py                  # 2,000 messages, kill at 1,000
    python bench/bench_cluster_kill.py --rate 200         # paced: 200 msgs/s per sender
    python bench/bench_cluster_kill.py --messages 500 --kill-at 250 --repeat 3
    python bench/bench_cluster_kill.py --mode end-to-end  # one mode only
    python bench/bench_cluster_kill.py --adapter trio     # the async client on trio

The cluster is started (and the killed node restarted after each run) by the script,
through tests/ejabberd_cluster.py.  ~30-60 s per run on the 2-core test machine.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent / "tests" / "transports" / "integration"))

import anyio  # noqa: E402
from anyio.from_thread import BlockingPortal, start_blocking_portal  # noqa: E402
from cubeproto.transports.anyio_chat import AsyncChatClient  # noqa: E402
from cubeproto.transports.blocking_chat import ChatClient  # noqa: E402
from cubeproto.transports.errors import NotConnected  # noqa: E402
from ejabberd_cluster import Cluster, running_or_started  # noqa: E402
from ejabberd_server import AccountExists, Ejabberd  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402

from cubeproto import (  # noqa: E402
    ClientConfig,
    MessageLost,
    MessageRejected,
    MessageSent,
    MessageUnconfirmed,
    ResumeFailed,
    Transport,
)
from cubeproto.chat import (  # noqa: E402
    ChatOptions,
    ChatSession,
    DeliveryConfirmed,
    DeliveryNotConfirmed,
    EndToEnd,
    MessageBounced,
    MessageReceived,
)
from cubeproto.events import Event  # noqa: E402
from cubeproto.reconnect import Reconnected, ReconnectPolicy  # noqa: E402

APP_ID = 42
OUTCOMES = (MessageSent, MessageUnconfirmed, MessageLost, MessageRejected)
#: Bound on each wait of a run (a marker, the outcomes, a reconnection).
WAIT_S = 120.0
#: The end-to-end mode's settings: a marker normally comes back within a second even in
#: a burst (the receiver answers as it reads); 10 s leaves room for the kill, the
#: reconnection and the burst's queue; 6 sends cover a minute.
E2E_DEADLINE = 10.0
E2E_ATTEMPTS = 6
#: The modes: name -> (resend_unconfirmed, end-to-end settings or None).
MODES: dict[str, tuple[bool, EndToEnd | None]] = {
    "default": (False, None),
    "resend_unconfirmed": (True, None),
    "end-to-end": (False, EndToEnd(deadline=E2E_DEADLINE, max_attempts=E2E_ATTEMPTS)),
}
E2E_OUTCOMES = (DeliveryConfirmed, DeliveryNotConfirmed)
#: The clients a run can use: the blocking one, or the async one on either event loop.
ADAPTERS = ("blocking", "asyncio", "trio")


@dataclass
class Recorder:
    """Everything one client reported, from its I/O thread."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    received: collections.Counter[str] = field(default_factory=collections.Counter)
    outcomes: dict[str, list[str]] = field(default_factory=lambda: collections.defaultdict(list))
    #: message id -> (end-to-end outcome, sends) for each such outcome reported
    confirmations: dict[str, list[tuple[str, int]]] = field(
        default_factory=lambda: collections.defaultdict(list)
    )
    #: message id -> bounces (``<message type="error">`` for a message we sent)
    bounced: collections.Counter[str] = field(default_factory=collections.Counter)
    resume_failed: list[str | None] = field(default_factory=list)
    reconnected: list[bool] = field(default_factory=list)
    changed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)

    def on_event(self, event: Event) -> None:
        with self.lock:
            if isinstance(event, MessageReceived) and event.message_id is not None:
                self.received[event.message_id] += 1
            elif isinstance(event, OUTCOMES):
                self.outcomes[event.message_id].append(type(event).__name__)
            elif isinstance(event, E2E_OUTCOMES):
                self.confirmations[event.message_id].append((type(event).__name__, event.attempts))
            elif isinstance(event, MessageBounced) and event.message_id is not None:
                self.bounced[event.message_id] += 1
            elif isinstance(event, ResumeFailed):
                self.resume_failed.append(event.condition_name)
            elif isinstance(event, Reconnected):
                self.reconnected.append(event.resumed)
            self.changed.notify_all()

    def wait(self, what: str, test: Any, timeout: float = WAIT_S) -> bool:
        """Wait (bounded) until ``test()`` holds, under the lock."""
        with self.changed:
            ok = bool(self.changed.wait_for(test, timeout))
        if not ok:
            print(f"  (gave up waiting for {what} after {timeout:.0f} s)")
        return ok


def new_user(node: Ejabberd) -> tuple[int, str]:
    while True:
        uid = 900_000_000 + int.from_bytes(os.urandom(3), "big")
        password = f"bench-{os.urandom(4).hex()}"
        try:
            node.register(f"{uid}-{APP_ID}", password)
        except AccountExists:
            continue
        return uid, password


class Sender(Protocol):
    """What a run needs of a client, whichever adapter runs it."""

    def send_message(self, **fields: Any) -> str: ...

    def wait_connected(self, timeout: float, *, settled: bool = False) -> bool: ...


class Blocking:
    """The blocking ``ChatClient`` as a :class:`Sender` (its events go to the recorder
    through ``on_event``, from its I/O thread)."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client

    def send_message(self, **fields: Any) -> str:
        return str(self.client.send_message(**fields))

    def wait_connected(self, timeout: float, *, settled: bool = False) -> bool:
        return self.client.wait_connected(timeout, settled=settled)


class OnLoop:
    """An ``AsyncChatClient`` as a :class:`Sender`: each call runs on the client's event
    loop (asyncio or trio) through a blocking portal, and returns its result here."""

    def __init__(self, client: AsyncChatClient, portal: BlockingPortal) -> None:
        self.client = client
        self.portal = portal

    def send_message(self, **fields: Any) -> str:
        async def send() -> str:
            return str(await self.client.send_message(**fields))

        return self.portal.call(send)

    def wait_connected(self, timeout: float, *, settled: bool = False) -> bool:
        async def wait() -> bool:
            with anyio.move_on_after(timeout):
                await self.client.wait_connected(settled=settled)
                return True
            return False

        return self.portal.call(wait)


async def record(client: AsyncChatClient, recorder: Recorder) -> None:
    """Hand every event of ``client`` to ``recorder`` until the client stops."""
    async for event in client.events():
        recorder.on_event(event)


@contextlib.contextmanager
def client(
    cluster: Cluster,
    user: tuple[int, str],
    port: int,
    recorder: Recorder,
    resend: bool,
    end_to_end: EndToEnd | None = None,
    adapter: str = "blocking",
) -> Iterator[Sender]:
    """A client of ``adapter`` for ``user`` through ``port``, reporting to ``recorder``;
    closed (its stream ended) on leaving."""
    config = ClientConfig(
        app_id=APP_ID,
        user_id=user[0],
        password=user[1],
        chat_host=cluster.nodes[0].domain,
        transport=Transport.TCP,
        entropy=os.urandom,
        wall_clock=time.time,
        handler_factory=lambda: ChatSession(ChatOptions(end_to_end=end_to_end)),
        resend_unconfirmed=resend,
    )
    policy = ReconnectPolicy(floor=0.05, cap=0.5)
    if adapter == "blocking":
        with ChatClient(
            config,
            host="127.0.0.1",
            port=port,
            ca_file=cluster.ca_file,
            policy=policy,
            on_event=recorder.on_event,
        ) as blocking:
            yield Blocking(blocking)
        return
    if adapter not in ADAPTERS:
        raise ValueError(f"no such adapter: {adapter!r} (one of {', '.join(ADAPTERS)})")
    with (
        start_blocking_portal(adapter) as portal,
        portal.wrap_async_context_manager(
            AsyncChatClient(
                config, host="127.0.0.1", port=port, ca_file=cluster.ca_file, policy=policy
            )
        ) as async_client,
    ):
        # Not cancelled when the run ends: the client stops first, its event stream then
        # ends, and the portal waits for this task, so the recorder has every event
        # (cancelling it dropped what it had not taken yet -- messages received late,
        # counted lost although their senders had their markers).
        recording = portal.start_task_soon(record, async_client, recorder)
        yield OnLoop(async_client, portal)
    recording.result(timeout=0)  # done by now; raises what the task raised


#: Markers sent, each after the previous one did not arrive within WAIT_S / MARKER_TRIES.
MARKER_TRIES = 4


def send(sender: Sender, to_user: int, body: str, dialog_id: str | None = None) -> str:
    """Send (1-1); with ``dialog_id`` also ``markable``, as the end-to-end mode tracks."""
    while True:
        try:
            if dialog_id is None:
                return sender.send_message(to_user=to_user, body=body)
            return sender.send_message(
                to_user=to_user, body=body, dialog_id=dialog_id, markable=True
            )
        except NotConnected:
            sender.wait_connected(WAIT_S)


def run(
    cluster: Cluster,
    messages: int,
    kill_at: int,
    resend: bool,
    rate: float,
    end_to_end: EndToEnd | None = None,
    adapter: str = "blocking",
) -> dict[str, Any]:
    """One run: two pairs, node 1 killed after ``kill_at`` sends of its sender; each sender
    paced at ``rate`` messages per second (0: as fast as its client takes them).  With
    ``end_to_end`` every client is in that mode and the messages ask for markers.  Every
    client is of ``adapter`` (see :data:`ADAPTERS`)."""
    node1, node2 = cluster.nodes
    users = {name: new_user(node1) for name in ("s1", "r2", "s2", "r1")}
    rec = {name: Recorder() for name in users}
    report: dict[str, Any] = {}
    with (
        FaultProxy(node1.c2s_port) as proxy,
        client(cluster, users["s1"], proxy.port, rec["s1"], resend, end_to_end, adapter) as s1,
        client(cluster, users["r2"], node2.c2s_port, rec["r2"], resend, end_to_end, adapter) as r2,
        client(cluster, users["s2"], node2.c2s_port, rec["s2"], resend, end_to_end, adapter) as s2,
        client(cluster, users["r1"], proxy.port, rec["r1"], resend, end_to_end, adapter) as r1,
    ):
        for c in (s1, r2, s2, r1):
            c.wait_connected(WAIT_S, settled=True)
        ids: dict[str, list[str]] = {"1->2": [], "2->1": []}
        killed_after: dict[str, int] = {}
        dialogs = {name: os.urandom(12).hex() if end_to_end is not None else None for name in ids}

        def pump(name: str, sender: Sender, to: int, kill: bool) -> None:
            t0 = time.monotonic()
            for i in range(messages):
                if rate > 0 and (ahead := t0 + i / rate - time.monotonic()) > 0:
                    time.sleep(ahead)
                ids[name].append(send(sender, to, f"{name} {i}", dialogs[name]))
                if kill and i + 1 == kill_at:
                    killed_after["1->2"] = len(ids["1->2"])
                    killed_after["2->1"] = len(ids["2->1"])
                    t0 = time.monotonic()
                    cluster.kill(0)
                    report["kill_noticed_s"] = round(time.monotonic() - t0, 3)
                    proxy.upstream_port = node2.c2s_port
                    proxy.reset_all()

        errors: list[str] = []

        def pump_other() -> None:
            try:
                pump("2->1", s2, users["r1"][0], False)
            except Exception as exc:  # reported, not raised: the run goes on
                errors.append(f"2->1 sender: {exc!r}")

        other = threading.Thread(target=pump_other)
        t_start = time.monotonic()
        other.start()
        pump("1->2", s1, users["r2"][0], True)
        other.join()
        report["errors"] = errors
        report["send_s"] = round(time.monotonic() - t_start, 2)
        waits: list[bool] = []

        for name, sender, receiver, to in (
            ("1->2", s1, rec["r2"], users["r2"][0]),
            ("2->1", s2, rec["r1"], users["r1"][0]),
        ):
            # The marker is a message like the others: in the end-to-end mode it is tracked
            # (resent until confirmed); in every mode a marker that does not come (lost in a
            # second drop of the sender's session) is followed by a new one.
            markers: list[str] = []
            for attempt in range(MARKER_TRIES):
                markers.append(send(sender, to, f"marker {attempt}", dialogs[name]))
                arrived = receiver.wait(
                    f"{name} marker {attempt}",
                    lambda ms=markers, r=receiver: any(r.received[m] > 0 for m in ms),
                    WAIT_S / MARKER_TRIES,
                )
                if arrived:
                    break
            waits.append(arrived)
            report.setdefault("markers_sent", {})[name] = len(markers)
        for name, sender_name in (("1->2", "s1"), ("2->1", "s2")):
            r = rec[sender_name]
            waits.append(
                r.wait(
                    f"{name} outcomes",
                    lambda r=r, name=name: all(r.outcomes.get(m) for m in ids[name]),
                )
            )
            if end_to_end is not None:
                waits.append(
                    r.wait(
                        f"{name} end-to-end outcomes",
                        lambda r=r, name=name: all(r.confirmations.get(m) for m in ids[name]),
                    )
                )
        report["complete"] = all(waits)

    for name, sender_name, receiver_name in (("1->2", "s1", "r2"), ("2->1", "s2", "r1")):
        sent_ids = ids[name]
        got = rec[receiver_name].received
        said = rec[sender_name].outcomes
        lost = [m for m in sent_ids if got[m] == 0]
        kinds = collections.Counter(k for m in sent_ids for k in said.get(m, ["(none)"]))
        lost_kinds = collections.Counter(said.get(m, ["(none)"])[-1] for m in lost)
        report[name] = {
            "sent": len(sent_ids),
            "sent_before_kill": killed_after.get(name),
            "received": sum(1 for m in sent_ids if got[m] > 0),
            "duplicated": sum(1 for m in sent_ids if got[m] > 1),
            "lost": len(lost),
            "outcomes": dict(sorted(kinds.items())),
            "outcomes_of_lost": dict(sorted(lost_kinds.items())),
            "more_than_one_outcome": sum(1 for m in sent_ids if len(said.get(m, [])) > 1),
            "bounced": sum(1 for m in sent_ids if rec[sender_name].bounced[m]),
            "sender_resume_failed": rec[sender_name].resume_failed,
            "receiver_resume_failed": rec[receiver_name].resume_failed,
        }
        if end_to_end is not None:
            confirmations = rec[sender_name].confirmations
            final = [confirmations.get(m, [("(none)", 0)])[-1] for m in sent_ids]
            report[name]["end_to_end"] = dict(
                sorted(collections.Counter(k for k, _ in final).items())
            )
            report[name]["end_to_end_of_lost"] = dict(
                sorted(
                    collections.Counter(
                        confirmations.get(m, [("(none)", 0)])[-1][0] for m in lost
                    ).items()
                )
            )
            report[name]["more_than_one_end_to_end"] = sum(
                1 for m in sent_ids if len(confirmations.get(m, [])) > 1
            )
            report[name]["resends"] = sum(max(0, n - 1) for _, n in final)
            report[name]["resent_messages"] = sum(1 for _, n in final if n > 1)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="per sender [2000]")
    parser.add_argument("--kill-at", type=int, default=None, help="[messages / 2]")
    parser.add_argument("--repeat", type=int, default=1, help="runs per mode [1]")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="messages/s per sender, 0: unpaced [0]"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line per run")
    parser.add_argument(
        "--adapter", choices=ADAPTERS, default="blocking", help="the clients' adapter [blocking]"
    )
    parser.add_argument(
        "--mode", choices=sorted(MODES), action="append", help="run only these modes [all]"
    )
    args = parser.parse_args()
    kill_at = args.kill_at if args.kill_at is not None else args.messages // 2

    cluster = running_or_started()
    for mode_name in args.mode or list(MODES):
        resend, end_to_end = MODES[mode_name]
        mode = {
            "default": "default (resend_unconfirmed=False)",
            "resend_unconfirmed": "resend_unconfirmed=True",
            "end-to-end": (
                f"end-to-end (EndToEnd(deadline={E2E_DEADLINE:g}, max_attempts={E2E_ATTEMPTS}))"
            ),
        }[mode_name]
        for n in range(args.repeat):
            cluster.restore()
            report = run(
                cluster, args.messages, kill_at, resend, args.rate, end_to_end, args.adapter
            )
            if args.json:
                print(json.dumps({"mode": mode, "adapter": args.adapter, "run": n + 1, **report}))
                continue
            pace = f"{args.rate:g}/s" if args.rate > 0 else "unpaced"
            print(
                f"\n{mode}, {args.adapter} clients, run {n + 1}: {args.messages} messages"
                f" per sender ({pace}),"
                " node 1 killed"
            )
            print(
                f"  after {kill_at} sends of the node-1 sender; survivor noticed in "
                f"{report['kill_noticed_s']} s; sending took {report['send_s']} s"
            )
            for name in ("1->2", "2->1"):
                r = report[name]
                print(
                    f"  {name}: sent {r['sent']} (before the kill {r['sent_before_kill']}),"
                    f" received {r['received']}, duplicated {r['duplicated']}, lost {r['lost']}"
                )
                print(
                    f"        outcomes {r['outcomes']};"
                    f" outcomes of the lost {r['outcomes_of_lost']}"
                )
                print(
                    f"        bounced {r['bounced']}; more than one outcome:"
                    f" {r['more_than_one_outcome']};"
                    f" ResumeFailed sender {r['sender_resume_failed']},"
                    f" receiver {r['receiver_resume_failed']}"
                )
                if end_to_end is not None:
                    print(
                        f"        end-to-end {r['end_to_end']}; of the lost"
                        f" {r['end_to_end_of_lost']}; resends {r['resends']}"
                        f" ({r['resent_messages']} messages); more than one:"
                        f" {r['more_than_one_end_to_end']}"
                    )
    cluster.restore()


if __name__ == "__main__":
    main()
