"""The fault proxy's fault kinds against the real ejabberd (issue 12): truncation in the
middle of a TLS record and of an XML element, resets during the handshake, and hostile
server bytes.  After each, the client resumes its session and nothing is lost or
delivered twice.
"""

from __future__ import annotations

import collections
import contextlib
import time
from collections.abc import Callable

import pytest
from conftest import Connector, Peer, port_for, until_marker
from cubeproto.transports.errors import IqError, IqTimeout, NotConnected
from ejabberd_server import CubeUser, Ejabberd
from faultproxy import FaultProxy, ws_text_frame

from cubeproto import MessageSent, ResumeFailed, Transport
from cubeproto.chat import MessageReceived
from cubeproto.reconnect import Disconnected, Reconnected

pytestmark = pytest.mark.integration

NewUser = Callable[[], CubeUser]


def send_retrying(peer: Peer, **kwargs: object) -> str:
    while True:
        try:
            return str(peer.send_message(**kwargs))
        except NotConnected:
            peer.wait_connected()


def settle(
    sender: Peer, receiver: Peer, sender_id: int, ids: list[str]
) -> collections.Counter[str]:
    """Wait for every ``MessageSent`` and every arrival; returns arrivals per id."""
    for mid in ids:
        sender.wait_for(MessageSent, lambda e, mid=mid: e.message_id == mid, timeout=30.0)
    got: collections.Counter[str] = collections.Counter()
    while not set(ids) <= set(got):
        event = receiver.wait_for(MessageReceived, lambda e: e.sender_id == sender_id, timeout=30.0)
        got[event.message_id] += 1
    for event in until_marker(sender, receiver, receiver.config.user_id)[0]:
        if isinstance(event, MessageReceived) and event.sender_id == sender_id:
            got[event.message_id] += 1
    return got


@pytest.mark.parametrize(
    "transport", [Transport.TCP, Transport.DIRECT_TLS], ids=["tcp-starttls", "direct-tls"]
)
def test_truncation_and_handshake_resets_lose_nothing(
    connect: Connector, ejabberd_user: NewUser, ejabberd: Ejabberd, transport: Transport
) -> None:
    """Each round: the live connection is truncated in the middle of a TLS record; the
    next connection is reset during its negotiation; over STARTTLS the one after that is
    truncated in the middle of an XML start tag of the plaintext negotiation; the next
    one resumes the session."""
    rounds = 3
    xml = transport is Transport.TCP
    with FaultProxy(port_for(ejabberd, transport)) as proxy:
        a, b = ejabberd_user(), ejabberd_user()
        receiver = connect(b)
        sender = connect(a, port=proxy.port)
        ids: list[str] = []
        for r in range(rounds):
            ids += [send_retrying(sender, to_user=b.user_id, body=f"{r}.{i}") for i in range(20)]
            proxy.reset_handshakes(1)
            if xml:
                proxy.truncate_new("xml", 1)
            assert proxy.truncate_all("tls-record") == 1
            # A ping makes the server write: the truncation lands in its answer (or in
            # an earlier server chunk), and the ping fails with the connection.
            with contextlib.suppress(IqError, IqTimeout, NotConnected):
                sender.ping()
            reconnected = sender.wait_for(Reconnected, timeout=30.0)
            assert reconnected.resumed, proxy.counts()
        got = settle(sender, receiver, a.user_id, ids)
        counts = proxy.counts()
        print(f"\ntruncations: messages={len(ids)} received={len(got)} {counts}")
        assert counts["truncated_tls-record"] == rounds, counts
        assert counts.get("truncated_xml", 0) == (rounds if xml else 0), counts
        assert counts["handshake_resets"] == rounds, counts
        assert set(got) == set(ids) and set(got.values()) == {1}, counts


#: Hostile server input, each a reason for the client to end the stream (issue 12 item 6).
HOSTILE = {
    "doctype": ws_text_frame(b'<!DOCTYPE x [<!ENTITY a "b">]>'),
    "invalid-utf8": ws_text_frame(
        b"<message xmlns='jabber:client'><body>\xff\xfe</body></message>"
    ),
    "oversized": ws_text_frame(
        b"<message xmlns='jabber:client'><body>" + b"x" * (600 * 1024) + b"</body></message>"
    ),
}


@pytest.mark.parametrize("transport", [Transport.WEBSOCKET], ids=["websocket"])
@pytest.mark.parametrize("hostile", list(HOSTILE))
def test_hostile_server_bytes_leave_the_session_resumable(
    connect: Connector,
    ejabberd_user: NewUser,
    ejabberd: Ejabberd,
    transport: Transport,
    hostile: str,
) -> None:
    """Issue 12 item 6: the client ends the stream over bad server input, and its
    session survives on the server: the next connection resumes it (no item-not-found),
    nothing is delivered twice, and the session carries on."""
    with FaultProxy(port_for(ejabberd, transport)) as proxy:
        a, b = ejabberd_user(), ejabberd_user()
        sender = connect(a)
        receiver = connect(b, port=proxy.port)
        before = [send_retrying(sender, to_user=b.user_id, body=f"a{i}") for i in range(5)]
        for mid in before:
            receiver.wait_for(MessageReceived, lambda e, mid=mid: e.message_id == mid)
        assert proxy.inject_all(HOSTILE[hostile]) == 1
        lost = receiver.wait_for(Disconnected, timeout=30.0)
        t0 = time.monotonic()
        # Nothing is sent to the receiver until it is back: ejabberd 23.01's WebSocket
        # defect (see test_faults.py) makes a resumption fail after 15 s when the server
        # writes to a session whose WebSocket has just died.
        reconnected = receiver.wait_for(Reconnected, timeout=30.0)
        after = [send_retrying(sender, to_user=b.user_id, body=f"b{i}") for i in range(5)]
        failed = [e for e in receiver.seen if isinstance(e, ResumeFailed)]
        print(
            f"\n{hostile}: {lost!r} -> {reconnected!r} after {time.monotonic() - t0:.1f}s"
            f" {failed} {proxy.counts()}"
        )
        assert lost.resumable, lost
        assert reconnected.resumed, (lost, reconnected)
        for mid in after:
            receiver.wait_for(MessageReceived, lambda e, mid=mid: e.message_id == mid)
        again = [
            e
            for e in until_marker(sender, receiver, b.user_id)[0]
            if isinstance(e, MessageReceived) and e.message_id in before + after
        ]
        assert again == [], again
