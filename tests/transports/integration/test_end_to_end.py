"""Issue 15: the end-to-end delivery mode against the real ejabberd (the shared node).

A message reaches the receiver's *session* on the server -- its sender is told
``MessageSent``, truthfully -- but never the receiver's *client*: the receiver's link is
a black hole (the fault proxy drops everything, and the server does not notice), as if
the receiver's process were gone; the receiver comes back as a new client with a fresh
session.  The server keeps the
message in the old, detached session, so without the mode it is lost silently.  With the
mode the sender resends it with its original id when no marker comes within the
deadline, the new client receives it exactly once, its automatic ``delivered`` marker
comes back, and the sender's outcome is ``DeliveryConfirmed`` after two or more sends.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable

import pytest
from conftest import Connector, port_for, until_marker
from ejabberd_server import CubeUser, Ejabberd
from faultproxy import FaultProxy

from cubeproto import MessageSent, Transport
from cubeproto.chat import (
    ChatOptions,
    ChatSession,
    DeliveryConfirmed,
    DeliveryNotConfirmed,
    EndToEnd,
    MessageReceived,
)

pytestmark = pytest.mark.integration

#: Seconds without a marker before a resend: short, so that the test is quick; a resend
#: that goes out before the new receiver is up only costs another attempt.
DEADLINE = 1.5
ATTEMPTS = 20


def e2e_session() -> ChatSession:
    return ChatSession(ChatOptions(end_to_end=EndToEnd(deadline=DEADLINE, max_attempts=ATTEMPTS)))


@pytest.mark.parametrize("transport", [Transport.TCP], ids=["tcp-starttls"])
def test_a_message_lost_in_the_receivers_session_is_resent_and_arrives_once(
    connect: Connector,
    ejabberd_user: Callable[[], CubeUser],
    ejabberd: Ejabberd,
    transport: Transport,
) -> None:
    dialog = os.urandom(12).hex()
    a, b = ejabberd_user(), ejabberd_user()
    sender = connect(a, handler_factory=e2e_session)
    with FaultProxy(port_for(ejabberd, transport)) as proxy:
        first = connect(b, port=proxy.port)

        # The mode at work when nothing goes wrong: one send, the receiver's marker.
        ok = sender.send_message(to_user=b.user_id, dialog_id=dialog, body="ok", markable=True)
        first.wait_for(MessageReceived, lambda e: e.message_id == ok)
        confirmed = sender.wait_for(DeliveryConfirmed, lambda e: e.message_id == ok)
        assert confirmed.attempts == 1

        # The receiver's link swallows everything from now on, and the server does not
        # know: the receiver's client is never heard from again (its process is gone).
        assert proxy.blackhole_all() == 1
        mid = sender.send_message(to_user=b.user_id, dialog_id=dialog, body="lost", markable=True)
        sender.wait_for(MessageSent, lambda e: e.message_id == mid)  # the server has it

        # The receiver comes back: a new client, a fresh session (nothing to resume).
        again = connect(b)
        confirmed = sender.wait_for(
            (DeliveryConfirmed, DeliveryNotConfirmed),  # type: ignore[arg-type]
            lambda e: e.message_id == mid,
            timeout=DEADLINE * ATTEMPTS + 15,
        )
        got: collections.Counter[str] = collections.Counter()
        # A resend still on its way would come before this marker message.
        for event in until_marker(sender, again, b.user_id)[0]:
            if isinstance(event, MessageReceived) and event.sender_id == a.user_id:
                got[event.message_id] += 1
    print(f"\nend-to-end: {confirmed!r}, received by the new client: {dict(got)}")
    assert isinstance(confirmed, DeliveryConfirmed), confirmed
    assert confirmed.attempts >= 2  # the first send died in the old session
    assert got == {mid: 1}, got  # the resend arrived, exactly once
    # One outcome per message: nothing more for either message.
    assert not [
        e
        for e in sender.seen
        if isinstance(e, (DeliveryConfirmed, DeliveryNotConfirmed)) and e.message_id in (ok, mid)
    ]
