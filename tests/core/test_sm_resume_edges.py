"""The client's resumption and ack paths (``cubeproto/_client_sm.py``) where the mutation
run of issue 17 found nothing asserted: the timers a ``<resumed/>`` arms (IQ, ack,
keepalive, idle), where the next resumption goes, ``<a/>`` before the session is
active again, the poison-strike bookkeeping across acks and resumptions, the text of a
malformed ``h``, and a message already reported lost that is acknowledged afterwards.

Real ``ClientConnection`` objects answered by the ejabberd-shaped ``ScriptedServer``;
time is the ``now`` argument, timers are fired with ``handle_timer``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from scripted import (
    FEATURES_BIND,
    FEATURES_SASL,
    Say,
    ScriptedServer,
    config,
    drain,
)

from cubeproto import (
    ConnectionClosed,
    ConnectionDead,
    MessageRejected,
    MessageSent,
)
from cubeproto._connection import ClientConnection
from cubeproto._state import StreamState
from cubeproto.commands import SendIq
from cubeproto.errors import StreamErrorCondition
from cubeproto.events import Event, IqTimedOut

SM = "xmlns='urn:xmpp:sm:3'"
LOCATION = "node2.example:5223"


def logged_in(
    location: str | None = None, **overrides: Any
) -> tuple[ClientConnection, ScriptedServer]:
    """A session with resumption enabled (optionally with a ``location``); the carbons
    IQ and the presence are stanzas 1 and 2."""
    conn = ClientConnection(config(**overrides))
    server = ScriptedServer(conn)
    conn.start(now=0)
    server.open_with(FEATURES_SASL)
    server.sasl_scram()
    server.open_with(FEATURES_BIND)
    server.bind()
    sent = server.client_sent()
    assert b"<enable" in sent
    where = f" location='{location}'" if location else ""
    server.feed(f"<enabled {SM} id='smid-1' resume='true' max='300'{where}/>")
    carbons = sent[sent.index(b'<iq type="set"') :].split(b'id="', 1)[1].split(b'"', 1)[0]
    server.feed(f"<iq type='result' id='{carbons.decode()}' to='1001-42@localhost/res1'/>")
    drain(conn)
    server.client_sent()
    return conn, server


def resume(
    conn: ClientConnection, *, now: float = 6.0, **overrides: Any
) -> tuple[ClientConnection, ScriptedServer]:
    """Cut ``conn`` (unless it ended already) and resume it on a new connection up to
    the ``<resume/>``; the new server's clock is ``now``."""
    if conn.state is not StreamState.CLOSED:
        conn.receive_eof(now=now - 1)
        closed = drain(conn)
        assert isinstance(closed[-1], ConnectionClosed) and closed[-1].resumable
    state = conn.resume_state()
    assert state is not None
    new = ClientConnection(config(**overrides), resume=state)
    server = ScriptedServer(new, now=now)
    new.start(now=now)
    server.open_with(FEATURES_SASL)
    server.sasl_scram()
    server.open_with(FEATURES_BIND)
    assert b"<resume " in server.client_sent()
    return new, server


def timers_until(conn: ClientConnection, now: float) -> list[Event]:
    conn.handle_timer(now=now)
    return drain(conn)


# ------------------------------------------------------------------ timers on <resumed/>


def test_an_outstanding_iq_times_out_its_full_timeout_after_the_resumption() -> None:
    conn, server = logged_in()
    iq_id = conn.send(SendIq(type="get", payload="<q xmlns='x'/>", timeout=20.0), now=1)
    server.client_sent()
    new, new_server = resume(conn, now=6)
    new_server.feed(f"<resumed {SM} h='3' previd='smid-1'/>")
    drain(new)
    assert [e for e in timers_until(new, 25.5) if isinstance(e, IqTimedOut)] == []
    assert IqTimedOut(iq_id=str(iq_id)) in timers_until(new, 26.0)


def test_the_resent_messages_are_given_a_whole_ack_timeout() -> None:
    conn, server = logged_in()
    mid = conn.send(Say(body="x"), now=1)
    server.client_sent()
    new, new_server = resume(conn, now=6)
    new_server.feed(f"<resumed {SM} h='2' previd='smid-1'/>")
    drain(new)
    resent = new_server.client_sent()
    assert str(mid).encode() in resent and resent.endswith(b'<r xmlns="urn:xmpp:sm:3"/>')
    assert not [e for e in timers_until(new, 35.5) if isinstance(e, ConnectionDead)]
    assert new.state is StreamState.READY
    assert [e for e in timers_until(new, 36.0) if isinstance(e, ConnectionDead)]


def test_keepalive_and_idle_release_are_armed_by_the_resumption() -> None:
    conn, _ = logged_in()
    new, new_server = resume(conn, now=6, keepalive_interval=40.0, release_parser_when_idle=5.0)
    new_server.feed(f"<resumed {SM} h='2' previd='smid-1'/>")
    drain(new)
    new_server.client_sent()
    assert new.get_timer() == 11.0  # the idle release, 5 s after the last input
    timers_until(new, 11.0)
    assert new_server.client_sent() == b""
    assert new.get_timer() == 46.0  # the keepalive, 40 s after the last input
    timers_until(new, 46.0)
    assert b"urn:xmpp:ping" in new_server.client_sent()


# ------------------------------------------------------------------ what is carried over


def test_the_resume_location_survives_a_resumption() -> None:
    conn, _ = logged_in(location=LOCATION)
    new, new_server = resume(conn)
    new_server.feed(f"<resumed {SM} h='2' previd='smid-1'/>")
    drain(new)
    checkpoint = new.checkpoint()
    assert checkpoint is not None and checkpoint.location == LOCATION
    new.receive_eof(now=7)
    drain(new)
    again = new.resume_state()
    assert again is not None and again.location == LOCATION


def test_an_ack_before_resumed_is_ignored() -> None:
    """XEP-0198: the session is not active until ``<resumed/>``; an ``<a/>`` before it
    settles nothing (here it would wrongly report the unacked message sent)."""
    conn, server = logged_in()
    mid = conn.send(Say(body="x"), now=1)
    server.client_sent()
    new, new_server = resume(conn)
    drain(new)  # the stream opened, SASL
    new_server.feed(f"<a {SM} h='3'/>")
    assert drain(new) == []
    new_server.feed(f"<resumed {SM} h='2' previd='smid-1'/>")
    events = drain(new)
    assert not [e for e in events if isinstance(e, MessageSent)]
    assert str(mid).encode() in new_server.client_sent()  # resent: not yet acknowledged


def test_a_malformed_h_is_quoted_up_to_32_characters() -> None:
    conn, server = logged_in()
    h = "9" * 40
    server.feed(f"<a {SM} h='{h}'/>")
    events = drain(conn)
    assert isinstance(events[-1], ConnectionClosed)
    assert events[-1].text == f"invalid h {h[:32]!r}"


def test_a_message_already_reported_lost_is_not_reported_sent_the_others_are() -> None:
    """The set of messages already reported lost travels with the resumable session; an
    ack that covers one of them reports only the others sent."""
    conn, server = logged_in()
    first = conn.send(Say(body="1"), now=1)
    second = conn.send(Say(body="2"), now=1)
    server.client_sent()
    conn.receive_eof(now=2)
    drain(conn)
    state = conn.resume_state()
    assert state is not None
    state = dataclasses.replace(state, lost_reported=frozenset({str(first)}))
    new = ClientConnection(config(), resume=state)
    new_server = ScriptedServer(new, now=6)
    new.start(now=6)
    new_server.open_with(FEATURES_SASL)
    new_server.sasl_scram()
    new_server.open_with(FEATURES_BIND)
    new_server.client_sent()
    new_server.feed(f"<resumed {SM} h='4' previd='smid-1'/>")
    sent = [e.message_id for e in drain(new) if isinstance(e, MessageSent)]
    assert sent == [second]


# ------------------------------------------------------------------ poison strikes


def policy_violation(server: ScriptedServer) -> None:
    server.feed(
        "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
        "</stream:error></stream:stream>"
    )


def twice_killed_after(h_at_second_resumption: int) -> tuple[list[Event], str, str]:
    """Two messages; the server ends the stream with policy-violation, the session is
    resumed acknowledging nothing new, and the stream dies the same way again (two
    strikes against the first message).  The second resumption's events, and the ids."""
    conn, server = logged_in()
    first = str(conn.send(Say(body="1"), now=1))
    second = str(conn.send(Say(body="2"), now=1))
    server.client_sent()
    policy_violation(server)
    drain(conn)
    new, new_server = resume(conn)
    new_server.feed(f"<resumed {SM} h='2' previd='smid-1'/>")
    events = drain(new)
    assert not [e for e in events if isinstance(e, MessageRejected)]
    new_server.client_sent()
    policy_violation(new_server)
    drain(new)
    last, last_server = resume(new, now=8)
    last_server.feed(f"<resumed {SM} h='{h_at_second_resumption}' previd='smid-1'/>")
    return drain(last), first, second


def test_two_deaths_after_the_same_message_reject_it() -> None:
    events, first, _ = twice_killed_after(2)
    rejected = [e for e in events if isinstance(e, MessageRejected)]
    assert rejected == [
        MessageRejected(message_id=first, condition=StreamErrorCondition.POLICY_VIOLATION)
    ]


def test_progress_past_the_head_voids_all_but_the_last_strike() -> None:
    """The server acknowledged the first message at the second resumption: the strikes
    against it are void, except that the last death came after the new head, which is
    one strike (not two): nothing is rejected, the first is reported sent."""
    events, first, _ = twice_killed_after(3)
    assert [e for e in events if isinstance(e, MessageRejected)] == []
    assert [e.message_id for e in events if isinstance(e, MessageSent)] == [first]


def test_an_ack_without_progress_keeps_the_strike() -> None:
    """One strike against the head; an ``<a/>`` that acknowledges nothing new does not
    void it, so a second death after the same message rejects it."""
    conn, server = logged_in()
    first = str(conn.send(Say(body="1"), now=1))
    server.client_sent()
    policy_violation(server)
    drain(conn)
    new, new_server = resume(conn)
    new_server.feed(f"<resumed {SM} h='2' previd='smid-1'/>")
    drain(new)
    new_server.client_sent()
    new_server.feed(f"<a {SM} h='2'/>")  # the same count again: no progress
    assert drain(new) == []
    policy_violation(new_server)
    drain(new)
    last, last_server = resume(new, now=8)
    last_server.feed(f"<resumed {SM} h='2' previd='smid-1'/>")
    rejected = [e for e in drain(last) if isinstance(e, MessageRejected)]
    assert [e.message_id for e in rejected] == [first]


def test_an_ack_with_progress_clears_the_strike_and_its_condition() -> None:
    conn, server = logged_in()
    first = str(conn.send(Say(body="1"), now=1))
    conn.send(Say(body="2"), now=1)
    server.client_sent()
    policy_violation(server)
    drain(conn)
    new, new_server = resume(conn)
    new_server.feed(f"<resumed {SM} h='2' previd='smid-1'/>")
    drain(new)
    before = new.checkpoint()
    assert before is not None and (before.poison_strikes, before.poison_condition) == (
        1,
        "policy-violation",
    )
    new_server.client_sent()
    new_server.feed(f"<a {SM} h='3'/>")
    assert [e.message_id for e in drain(new) if isinstance(e, MessageSent)] == [first]
    after = new.checkpoint()
    assert after is not None and (after.poison_strikes, after.poison_condition) == (0, None)


def test_resumed_before_the_resume_was_sent_is_a_stream_error() -> None:
    """A connection that holds a session to resume but has not asked for it yet (it is
    still authenticating) refuses ``<resumed/>``: only RESUMING expects it."""
    conn, _ = logged_in()
    conn.receive_eof(now=2)
    drain(conn)
    state = conn.resume_state()
    assert state is not None
    new = ClientConnection(config(), resume=state)
    server = ScriptedServer(new, now=6)
    new.start(now=6)
    server.open_with(FEATURES_SASL)
    assert new.state is StreamState.AUTHENTICATING
    server.feed(f"<resumed {SM} h='2' previd='smid-1'/>")
    closed = drain(new)[-1]
    assert isinstance(closed, ConnectionClosed)
    assert closed.condition is StreamErrorCondition.UNSUPPORTED_STANZA_TYPE
    assert closed.text == "unexpected <resumed/>"
