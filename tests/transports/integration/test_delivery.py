"""Delivery outcomes are facts (issue 12), against the real ejabberd through the fault proxy.

Every message the sender sends gets exactly one outcome, and the outcome is true at the
receiver: ``MessageSent`` only for a message the receiver got, ``MessageLost`` only for
one it did not, ``MessageUnconfirmed`` where nobody can know.  The faults are network
outages (black holes) that heal -- what was in flight arrives late -- and ones that do
not, long enough for the sender's ack timeout to fire.
"""

from __future__ import annotations

import collections
import os
import random
import time
from collections.abc import Callable

import pytest
from conftest import Connector, Peer, port_for, until_marker
from cubeproto.transports.errors import NotConnected
from ejabberd_server import CubeUser, Ejabberd
from faultproxy import FaultProxy

import cubeproto
from cubeproto import MessageLost, MessageSent, Transport
from cubeproto.chat import MessageReceived
from cubeproto.errors import LocalProtocolError
from cubeproto.reconnect import Disconnected, Reconnected

pytestmark = pytest.mark.integration

NewUser = Callable[[], CubeUser]

#: Outcome event types; MessageUnconfirmed/MessageRejected exist since issue 12.
OUTCOMES: tuple[type, ...] = tuple(
    t
    for t in (
        MessageSent,
        MessageLost,
        getattr(cubeproto, "MessageUnconfirmed", None),
        getattr(cubeproto, "MessageRejected", None),
    )
    if t is not None
)


def send_retrying(peer: Peer, **kwargs: object) -> str:
    """Send; while reconnecting (NotConnected), wait for the session and send again."""
    while True:
        try:
            return str(peer.send_message(**kwargs))
        except NotConnected:
            peer.wait_connected()


def outcomes_of(peer: Peer) -> dict[str, list[str]]:
    """message id -> the outcome kinds the peer reported for it (in order)."""
    out: dict[str, list[str]] = collections.defaultdict(list)
    for event in peer.seen:
        if isinstance(event, OUTCOMES):
            out[event.message_id].append(type(event).__name__)
    return out


@pytest.mark.parametrize("transport", [Transport.TCP], ids=["tcp-starttls"])
def test_outcomes_are_true_at_the_receiver_across_black_holes(
    connect: Connector, ejabberd_user: NewUser, ejabberd: Ejabberd, transport: Transport
) -> None:
    """Issue 12 item 4 at scale: 2,000 messages, black holes that heal and ones that do
    not, each outlasting the sender's ack timeout; every outcome is true."""
    messages, outages = 2000, 12
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    with FaultProxy(port_for(ejabberd, transport), seed=seed) as proxy:
        a, b = ejabberd_user(), ejabberd_user()
        receiver = connect(b)
        sender = connect(
            a,
            port=proxy.port,
            ack_timeout=0.5,
            keepalive_interval=0.5,
            keepalive_timeout=0.5,
        )
        ids: list[str] = []
        healed = 0
        per_phase = messages // (outages + 1)
        for phase in range(outages + 1):
            for _ in range(per_phase if phase < outages else messages - len(ids)):
                ids.append(send_retrying(sender, to_user=b.user_id, body=f"n{len(ids)}"))
            if phase == outages:
                break
            heal = rng.random() < 0.5
            healed += heal
            sender.wait_connected()
            refused = proxy.refused
            assert proxy.begin_outage(heal=heal) == 1
            # A few messages straight into the hole: only the outage's end can tell.
            for _ in range(rng.randint(1, 10)):
                ids.append(send_retrying(sender, to_user=b.user_id, body=f"n{len(ids)}"))
            # The ack timeout (or keepalive) declares the connection dead ...
            sender.wait_for(Disconnected, timeout=20.0)
            # ... its reconnection attempt fails while the outage lasts ...
            sender.wait_for(Disconnected, timeout=20.0)
            assert proxy.refused > refused
            proxy.end_outage()  # ... then the network comes back
            sender.wait_for(Reconnected, timeout=20.0)
            # Further failed attempts of this outage (all before Reconnected) are done.
            sender.seen[:] = [e for e in sender.seen if not isinstance(e, Disconnected)]
        assert len(set(ids)) == len(ids)

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if len(outcomes_of(sender)) >= len(ids):
                break
            sender.next_event(1.0)
        got: collections.Counter[str] = collections.Counter()
        deadline = time.monotonic() + 120
        sent_ids = {mid for mid, kinds in outcomes_of(sender).items() if "MessageSent" in kinds}
        while time.monotonic() < deadline and not sent_ids <= set(got):
            event = receiver.next_event(1.0)
            if isinstance(event, MessageReceived) and event.sender_id == a.user_id:
                got[event.message_id] += 1
        # Late duplicates or late arrivals of messages reported lost would show now: a
        # ping answered by the server comes after anything it routed to the receiver.
        for event in until_marker(sender, receiver, b.user_id)[0]:
            if isinstance(event, MessageReceived) and event.sender_id == a.user_id:
                got[event.message_id] += 1

        outcomes = outcomes_of(sender)
        kinds = collections.Counter(k for v in outcomes.values() for k in v)
        counts = {
            "seed": seed,
            "messages": len(ids),
            "outages": outages,
            "healed": healed,
            "received": len(got),
            "duplicated": sum(1 for n in got.values() if n > 1),
            "lost": len(set(ids) - set(got)),
            **{f"outcome_{k}": n for k, n in sorted(kinds.items())},
            **proxy.counts(),
        }
        print(f"\nblack holes: {counts}")
        context = repr(counts)
        assert set(outcomes) == set(ids), context  # every message has an outcome ...
        assert all(len(v) == 1 for v in outcomes.values()), context  # ... exactly one
        assert set(got) <= set(ids), context
        assert all(n == 1 for n in got.values()), context  # nothing twice
        for mid, (kind,) in outcomes.items():
            if kind == "MessageSent":
                assert mid in got, f"MessageSent for {mid} that never arrived; {context}"
            elif kind == "MessageLost":
                assert mid not in got, f"MessageLost for {mid} that arrived; {context}"
        assert healed and healed < outages, context  # both kinds happened


@pytest.mark.parametrize("transport", [Transport.TCP], ids=["tcp-starttls"])
def test_unconfirmed_messages_are_received_again_after_resumption(
    connect: Connector, ejabberd_user: NewUser, ejabberd: Ejabberd, transport: Transport
) -> None:
    """Issue 12 items 1 and 3: a receiver with app-controlled acks confirms 50 messages,
    takes 5 more without confirming, and its connection is cut: after the resumption the
    server redelivers exactly the 5 and each is reported again (``MessageReceived``),
    none of the 50 is; the sender's outcomes are all ``MessageSent``."""
    with FaultProxy(port_for(ejabberd, transport)) as proxy:
        a, b = ejabberd_user(), ejabberd_user()
        sender = connect(a)
        receiver = connect(b, port=proxy.port, app_controlled_acks=True)

        def take(ids: list[str]) -> None:
            for mid in ids:
                receiver.wait_for(MessageReceived, lambda e, mid=mid: e.message_id == mid)

        confirmed = [send_retrying(sender, to_user=b.user_id, body=f"c{i}") for i in range(50)]
        take(confirmed)
        receiver.ping()  # every event before the pong has been taken ...
        receiver.drain(0.1)
        assert receiver.confirm_handled() is True  # ... so the client is caught up
        unconfirmed = [send_retrying(sender, to_user=b.user_id, body=f"u{i}") for i in range(5)]
        take(unconfirmed)
        assert proxy.cut_all() == 1
        assert receiver.wait_for(Reconnected, timeout=30.0).resumed
        again: collections.Counter[str] = collections.Counter()
        for _ in unconfirmed:
            event = receiver.wait_for(MessageReceived, lambda e: e.sender_id == a.user_id)
            again[event.message_id] += 1
        for event in until_marker(sender, receiver, b.user_id)[0]:
            if isinstance(event, MessageReceived) and event.sender_id == a.user_id:
                again[event.message_id] += 1
        outcomes = outcomes_of(sender)
        for mid in confirmed + unconfirmed:
            if mid not in outcomes:
                sender.wait_for(MessageSent, lambda e, mid=mid: e.message_id == mid)
                outcomes[mid].append("MessageSent")
        print(
            f"\napp-controlled acks: confirmed={len(confirmed)} unconfirmed={len(unconfirmed)}"
            f" received_again={sum(again.values())} {proxy.counts()}"
        )
        assert again == collections.Counter(unconfirmed), again
        assert all(outcomes[mid] == ["MessageSent"] for mid in confirmed + unconfirmed)


@pytest.mark.parametrize("transport", [Transport.TCP], ids=["tcp-starttls"])
def test_oversized_message_is_refused_before_it_is_queued(
    connect: Connector, ejabberd_user: NewUser, ejabberd: Ejabberd, transport: Transport
) -> None:
    """Issue 12 item 5, first half: by default a message over ejabberd's (and
    ConnectyCube's) 256 KiB stanza limit raises ``LocalProtocolError`` and nothing is
    queued; the session goes on undisturbed."""
    with FaultProxy(port_for(ejabberd, transport)) as proxy:
        a, b = ejabberd_user(), ejabberd_user()
        receiver = connect(b)
        sender = connect(a, port=proxy.port)
        with pytest.raises(LocalProtocolError, match="bytes"):
            sender.send_message(to_user=b.user_id, body="x" * 400_000)
        mid = send_retrying(sender, to_user=b.user_id, body="small")
        sender.wait_for(MessageSent, lambda e: e.message_id == mid)
        receiver.wait_for(MessageReceived, lambda e: e.message_id == mid)
        assert not [e for e in sender.seen if isinstance(e, (Disconnected, *OUTCOMES))]
        assert proxy.counts()["connections"] == 1


@pytest.mark.parametrize("adapter", ["blocking"])  # the poison logic is the core's
@pytest.mark.parametrize("transport", [Transport.TCP], ids=["tcp-starttls"])
def test_poison_message_is_rejected_and_the_rest_proceed(
    connect: Connector, ejabberd_user: NewUser, ejabberd: Ejabberd, transport: Transport
) -> None:
    """Issue 12 item 5, second half: a message the server ends the stream over (no
    client-side limit here; ejabberd's ``max_stanza_size`` is 256 KiB), with the policy
    that resends unconfirmed messages, is ``MessageRejected`` after the second stream
    death, and the messages after it are delivered, each exactly once."""
    with FaultProxy(port_for(ejabberd, transport)) as proxy:
        a, b = ejabberd_user(), ejabberd_user()
        receiver = connect(b)
        sender = connect(
            a, port=proxy.port, max_outbound_stanza_bytes=None, resend_unconfirmed=True
        )
        poison = send_retrying(sender, to_user=b.user_id, body="x" * 400_000)
        after = [send_retrying(sender, to_user=b.user_id, body=f"after{i}") for i in range(3)]
        try:
            rejected = sender.wait_for(
                cubeproto.MessageRejected, lambda e: e.message_id == poison, timeout=15.0
            )
        finally:
            deaths = sum(1 for e in sender.seen if isinstance(e, Disconnected))
            print(f"\npoison: stream deaths={deaths} {proxy.counts()}")
        for mid in after:
            receiver.wait_for(MessageReceived, lambda e, mid=mid: e.message_id == mid)
        late_received, _ = until_marker(sender, receiver, b.user_id)
        late = [
            e
            for e in late_received
            if isinstance(e, MessageReceived) and e.message_id in [poison, *after]
        ]
        assert late == []
        assert sender.ping() >= 0  # the connection works: no resend loop
        assert rejected.condition is cubeproto.StreamErrorCondition.POLICY_VIOLATION
        assert deaths == 2  # the second death right after it rejects it: no resend loop
        for mid in after:
            sender.wait_for(MessageSent, lambda e, mid=mid: e.message_id == mid)
        # Anything else that came is in `seen`: until_marker above waited for a marker's
        # outcome, and acks are cumulative, so every earlier outcome came before it.
        outcomes = outcomes_of(sender)
        # wait_for took the one expected outcome of each out of `seen`: no other remains.
        assert outcomes[poison] == [], outcomes[poison]
        assert all(outcomes[mid] == [] for mid in after), {m: outcomes[m] for m in after}
