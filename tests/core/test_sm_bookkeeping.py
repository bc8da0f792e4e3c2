"""Stream-management bookkeeping that a deliberate-bug run found unguarded (issue 17).

Each test here was checked against the bug it names, planted by hand: the ack timer not
re-armed after a partial ``<a h/>``; ``pending_messages`` never decremented; ``keep_only``
computing the wrong queue, counter or message count; ``StreamManagement.restore``
ignoring ``outbound_h`` (then the ``send-count`` of ``<handled-count-too-high/>`` is
wrong after a resumption).  The last test drives :class:`StreamManagement` with random
operations against an independent model (a plain list of everything sent and the number
acknowledged), so that a counter mistake anywhere in it shows.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from scripted import (
    FEATURES_BIND,
    FEATURES_SASL,
    Say,
    ScriptedServer,
    attr,
    config,
    drain,
    logged_in,
)
from test_stream_management import drop_and_resume, sent_of

from cubeproto import (
    CloseReason,
    ConnectionClosed,
    ConnectionDead,
    MessageLost,
    MessageSent,
    MessageUnconfirmed,
    Ping,
    PongReceived,
)
from cubeproto._connection import ClientConnection
from cubeproto._sm import MOD, AckError, StreamManagement, Unacked
from cubeproto.chat import (
    ChatSession,
    DeliveryStatus,
    DeliveryStatusChanged,
    SendMessage,
)

SM = "xmlns='urn:xmpp:sm:3'"


def ack(server: ScriptedServer, h: int, *, now: float) -> None:
    server.now = now
    server.feed(f"<a {SM} h='{h}'/>")


def outcomes(events: list[object]) -> list[object]:
    """The delivery outcomes in ``events`` (sent, lost, unconfirmed) and deaths."""
    kinds = (MessageSent, MessageLost, MessageUnconfirmed, ConnectionDead, ConnectionClosed)
    return [e for e in events if isinstance(e, kinds)]


def too_high_counts(out: bytes) -> tuple[str, str]:
    """``(h, send-count)`` of the ``<handled-count-too-high/>`` in a stream error."""
    start = out.index(b"<handled-count-too-high")
    element = out[start : out.index(b"/>", start)]
    return attr(element, "h"), attr(element, "send-count")


# ----------------------------------------------------------------- the ack timer


def test_a_partial_ack_rearms_the_ack_timer_for_the_rest() -> None:
    # Two messages at t=1 (ack deadline 31); at t=20 an ack covers only the first.  The
    # second still needs its outcome: the wait starts again from the ack (deadline 50),
    # and when it runs out the connection is dead (resumable), so that the resumption's
    # h decides.  Without the re-arm the second message waits forever with no outcome.
    conn, server = logged_in()
    first = conn.send(Say(body="a"), now=1)
    second = conn.send(Say(body="b"), now=1)
    server.client_sent()
    assert conn.get_timer() == 31.0
    ack(server, 3, now=20)  # carbons IQ, presence, first message
    assert sent_of(drain(conn)) == [first]
    assert conn.get_timer() == 50.0
    conn.handle_timer(now=49.5)  # past the first deadline, before the second
    assert drain(conn) == []
    conn.handle_timer(now=50.0)
    events = drain(conn)
    assert outcomes(events) == [
        ConnectionDead(idle_seconds=30.0),
        ConnectionClosed(reason=CloseReason.DEAD, resumable=True),
    ]
    new, new_server, _ = drop_and_resume(conn, server)
    new_server.feed(f"<resumed {SM} h='4' previd='smid-1'/>")
    assert sent_of(drain(new)) == [second]


def test_a_complete_ack_cancels_the_ack_timer() -> None:
    # The ack covers the two session stanzas (not messages) and both messages: nothing
    # is pending, so no deadline is left and time passing kills nothing.  Counting the
    # settled stanzas wrongly (never decrementing, or decrementing by every stanza
    # rather than by the messages) leaves a timer that kills a healthy connection.
    conn, server = logged_in()
    ids = [conn.send(Say(body=str(i)), now=1) for i in range(2)]
    server.client_sent()
    ack(server, 4, now=5)
    assert sent_of(drain(conn)) == ids
    assert conn.get_timer() is None
    conn.handle_timer(now=1_000.0)
    assert drain(conn) == []
    # A later message arms it again, from its own send.
    conn.send(Say(body="later"), now=2_000)
    assert conn.get_timer() == 2_030.0


def test_an_ack_of_non_messages_only_keeps_the_timer_for_the_message() -> None:
    # h=2 covers the carbons IQ and the presence, not the message: still pending.
    conn, server = logged_in()
    mid = conn.send(Say(body="x"), now=1)
    server.client_sent()
    ack(server, 2, now=10)
    assert sent_of(drain(conn)) == []
    assert conn.get_timer() == 40.0
    ack(server, 3, now=11)
    assert sent_of(drain(conn)) == [mid]
    assert conn.get_timer() is None


# ------------------------------------------------ resumption: counters carried over


def test_send_count_after_an_in_process_resumption_is_the_sessions_count() -> None:
    # Four stanzas sent (carbons IQ, presence, two messages), three acknowledged.  The
    # new connection resumes from resume_state(); a <resumed/> whose h covers more than
    # was ever sent is refused with send-count = 4, the old session's own count.
    conn, server = logged_in()
    ids = [conn.send(Say(body=str(i)), now=1) for i in range(2)]
    server.client_sent()
    ack(server, 3, now=2)
    assert sent_of(drain(conn)) == ids[:1]
    new, new_server, _ = drop_and_resume(conn, server)
    new_server.feed(f"<resumed {SM} h='9' previd='smid-1'/>")
    events = drain(new)
    assert isinstance(events[-1], ConnectionClosed)
    assert events[-1].condition is not None
    assert events[-1].condition.value == "undefined-condition"
    assert too_high_counts(new_server.client_sent()) == ("9", "4")


def test_send_count_after_a_resumption_follows_what_was_resent() -> None:
    # Three messages after the two session stanzas; the server's <resumed h='3'/>
    # covers the first; the other two are resent, so the server will have seen 5.  Acks
    # up to 5 settle them in order; h=6 is one too many and names send-count 5.
    conn, server = logged_in()
    ids = [conn.send(Say(body=str(i)), now=1) for i in range(3)]
    server.client_sent()
    new, new_server, _ = drop_and_resume(conn, server)
    new_server.feed(f"<resumed {SM} h='3' previd='smid-1'/>")
    assert sent_of(drain(new)) == ids[:1]
    resent = new_server.client_sent().decode()
    assert resent.count("<message") == 2 and ids[1] in resent and ids[2] in resent
    ack(new_server, 4, now=7)
    assert sent_of(drain(new)) == [ids[1]]
    ack(new_server, 5, now=8)
    assert sent_of(drain(new)) == [ids[2]]
    assert new.get_timer() is None  # nothing pending after the resumption's messages
    new.send(Say(body="after"), now=9)
    new_server.client_sent()
    ack(new_server, 7, now=10)
    drain(new)
    assert too_high_counts(new_server.client_sent()) == ("7", "6")


def test_checkpoint_resumption_carries_the_outbound_count() -> None:
    # A new process resumes from a checkpoint.  The checkpoint's outbound_h (4) is what
    # h is compared with: h=4 settles the one unacked message exactly, with nothing to
    # catch up and nothing resent.
    conn, server = logged_in()
    ids = [conn.send(Say(body=str(i)), now=1) for i in range(2)]
    server.client_sent()
    ack(server, 3, now=2)
    drain(conn)
    checkpoint = conn.checkpoint()
    assert checkpoint is not None
    assert (checkpoint.acked_h, checkpoint.outbound_h) == (3, 4)
    restored = StreamManagement.restore(
        inbound_h=checkpoint.inbound_h,
        acked_h=checkpoint.acked_h,
        outbound_h=checkpoint.outbound_h,
        unacked=tuple(Unacked(xml, mid) for xml, mid in checkpoint.unacked),
    )
    assert (restored.acked_h, restored.outbound_h, restored.pending_messages) == (3, 4, 1)
    with_checkpoint = ClientConnection(config(), resume=checkpoint)
    new_server = ScriptedServer(with_checkpoint)
    with_checkpoint.start(now=6)
    new_server.open_with(FEATURES_SASL)
    new_server.sasl_scram()
    new_server.open_with(FEATURES_BIND)
    new_server.client_sent()
    new_server.feed(f"<resumed {SM} h='4' previd='smid-1'/>")
    assert sent_of(drain(with_checkpoint)) == [ids[1]]
    assert b"<message" not in new_server.client_sent()


# ------------------------------------------------------- StreamManagement itself


def item(n: int, *, message: bool) -> Unacked:
    return Unacked(f"<x n='{n}'/>", f"m{n}" if message else None)


def test_restore_keeps_every_counter() -> None:
    unacked = (item(1, message=True), item(2, message=False), item(3, message=True))
    sm = StreamManagement.restore(inbound_h=7, acked_h=MOD - 1, outbound_h=2, unacked=unacked)
    assert (sm.inbound_h, sm.acked_h, sm.outbound_h, sm.pending_messages) == (7, MOD - 1, 2, 2)
    assert tuple(sm.unacked) == unacked
    with_error = None
    try:
        sm.ack(3)
    except AckError as exc:
        with_error = exc
    assert with_error is not None
    assert (with_error.h, with_error.sent) == (3, 2)


def test_keep_only_sets_queue_counter_and_pending_count() -> None:
    # Resumed at acked_h = MOD - 1 (the counter wraps): keep two of three.
    unacked = (item(1, message=True), item(2, message=False), item(3, message=True))
    sm = StreamManagement.restore(inbound_h=0, acked_h=MOD - 1, outbound_h=2, unacked=unacked)
    sm.keep_only([unacked[1], unacked[2]])
    assert list(sm.unacked) == [unacked[1], unacked[2]]
    assert sm.outbound_h == 1  # (MOD - 1 + 2) mod 2**32
    assert sm.pending_messages == 1
    assert sm.ack(0) == [unacked[1]]
    assert sm.pending_messages == 1
    assert sm.ack(1) == [unacked[2]]
    assert sm.pending_messages == 0
    sm.keep_only([])
    assert (list(sm.unacked), sm.outbound_h, sm.pending_messages) == ([], 1, 0)


def test_forget_all_clears_the_queue_and_the_pending_count() -> None:
    sm = StreamManagement()
    sm.sent("<a/>", "m1")
    sm.sent("<b/>", None)
    sm.forget_all()
    assert (list(sm.unacked), sm.pending_messages, sm.outbound_h) == ([], 0, 2)


@st.composite
def operations(draw: st.DrawFn) -> tuple[int, list[tuple[str, int]]]:
    start = draw(st.sampled_from([0, 5, MOD - 3, MOD - 1]))
    ops = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["message", "stanza", "ack", "old-ack", "too-high", "inbound"]),
                st.integers(0, 4),
            ),
            max_size=40,
        )
    )
    return start, ops


@given(operations())
def test_stream_management_against_a_list_model(case: tuple[int, list[tuple[str, int]]]) -> None:
    # The model: every stanza ever sent, in order, and how many of them are acked.  The
    # counters are positions in that list modulo 2**32, starting at ``start``.
    start, ops = case
    sm = StreamManagement.restore(inbound_h=start, acked_h=start, outbound_h=start, unacked=())
    sent: list[Unacked] = []
    acked = 0
    inbound = start
    for op, n in ops:
        if op in ("message", "stanza"):
            unacked = Unacked(
                f"<s n='{len(sent)}'/>", f"id{len(sent)}" if op == "message" else None
            )
            sm.sent(unacked.xml, unacked.message_id)
            sent.append(unacked)
        elif op == "ack":
            upto = acked + min(n, len(sent) - acked)
            assert sm.ack((start + upto) % MOD) == sent[acked:upto]
            acked = upto
        elif op == "old-ack":
            older = max(0, acked - n)
            assert sm.ack((start + older) % MOD) == []
        elif op == "too-high":
            h = (start + len(sent) + 1 + n) % MOD
            try:
                sm.ack(h)
            except AckError as exc:
                assert (exc.h, exc.sent) == (h, (start + len(sent)) % MOD)
            else:
                raise AssertionError(f"h={h} beyond {len(sent)} sent was accepted")
        else:
            sm.handled(n)
            inbound = (inbound + n) % MOD
        assert list(sm.unacked) == sent[acked:]
        assert sm.acked_h == (start + acked) % MOD
        assert sm.outbound_h == (start + len(sent)) % MOD
        assert sm.inbound_h == inbound
        assert sm.pending_messages == sum(1 for u in sent[acked:] if u.message_id is not None)


def test_ack_error_names_h_and_the_send_count() -> None:
    sm = StreamManagement()
    for n in range(4):
        sm.sent(f"<s n='{n}'/>", None)
    for h in (9, MOD, MOD + 5, -1):
        try:
            sm.ack(h)
        except AckError as exc:
            assert (exc.h, exc.sent) == (h, 4)
            assert str(exc) == f"h={h} acknowledges more than the 4 stanzas sent"
        else:
            raise AssertionError(f"h={h} accepted")


def test_the_past_and_the_future_split_at_half_the_counter() -> None:
    # h is compared modulo 2**32: an h up to 2**31 behind the last ack is an old ack
    # (ignored); anything closer to the front, beyond what was sent, is too high.
    sm = StreamManagement.restore(
        inbound_h=0, acked_h=0, outbound_h=1, unacked=(item(1, message=True),)
    )
    assert sm.ack(MOD // 2) == []  # exactly half-way: the past
    assert sm.ack(MOD - 1) == []
    for h in (MOD // 2 - 1, MOD // 3 + 1, 2):
        try:
            sm.ack(h)
        except AckError as exc:
            assert exc.h == h
        else:
            raise AssertionError(f"h={h} accepted")
    assert (sm.acked_h, len(sm.unacked), sm.pending_messages) == (0, 1, 1)


# ------------------------------------------ resuming from a checkpoint: catching up


def resuming_from_a_checkpoint() -> tuple[ClientConnection, ScriptedServer, str]:
    """A new process resuming a session whose checkpoint says: 4 stanzas sent, 3 acked,
    the last one a message (its id is returned); the <resume/> has been sent."""
    conn, server = logged_in()
    ids = [conn.send(Say(body=str(i)), now=1) for i in range(2)]
    server.client_sent()
    ack(server, 3, now=2)
    drain(conn)
    checkpoint = conn.checkpoint()
    assert checkpoint is not None and (checkpoint.acked_h, checkpoint.outbound_h) == (3, 4)
    new = ClientConnection(config(), resume=checkpoint)
    new_server = ScriptedServer(new)
    new.start(now=6)
    new_server.open_with(FEATURES_SASL)
    new_server.sasl_scram()
    new_server.open_with(FEATURES_BIND)
    assert b"<resume " in new_server.client_sent()
    return new, new_server, ids[1]


def test_a_server_one_stanza_ahead_of_the_checkpoint_is_caught_up() -> None:
    # The old process wrote one more stanza after its last checkpoint: h=5 covers the
    # checkpoint's unacked message and that one; nothing is resent, counting goes on.
    conn, server, last = resuming_from_a_checkpoint()
    server.feed(f"<resumed {SM} h='5' previd='smid-1'/>")
    events = drain(conn)
    assert sent_of(events) == [last]
    assert not [e for e in events if isinstance(e, ConnectionClosed)]
    assert b"<message" not in server.client_sent()
    conn.send(Say(body="next"), now=7)
    server.client_sent()
    ack(server, 7, now=8)
    drain(conn)
    assert too_high_counts(server.client_sent()) == ("7", "6")


def test_catching_up_stops_half_way_round_the_counter() -> None:
    # Up to 2**31 - 1 ahead is the old process's unrecorded sends; 2**31 ahead is an old
    # ack (the past): nothing settled, the message resent.
    conn, server, last = resuming_from_a_checkpoint()
    server.feed(f"<resumed {SM} h='{4 + MOD // 2 - 1}' previd='smid-1'/>")
    assert sent_of(drain(conn)) == [last]
    conn, server, last = resuming_from_a_checkpoint()
    server.feed(f"<resumed {SM} h='{4 + MOD // 2}' previd='smid-1'/>")
    events = drain(conn)
    assert sent_of(events) == []
    assert not [e for e in events if isinstance(e, ConnectionClosed)]
    assert last in server.client_sent().decode()  # resent


def test_a_malformed_h_in_resumed_ends_the_stream_as_bad_format() -> None:
    for h in ("x", str(MOD), "-1"):
        conn, server, _ = resuming_from_a_checkpoint()
        server.feed(f"<resumed {SM} h='{h}' previd='smid-1'/>")
        events = drain(conn)
        assert isinstance(events[-1], ConnectionClosed), (h, events)
        assert events[-1].condition is not None
        assert events[-1].condition.value == "bad-format"


def test_an_ack_request_before_resumed_is_not_answered() -> None:
    # XEP-0198: <r/> is answered only on an active session; while <resume/> waits for
    # its answer the session is not active yet.
    conn, server, _ = resuming_from_a_checkpoint()
    server.feed(f"<r {SM}/>")
    assert server.client_sent() == b""
    server.feed(f"<resumed {SM} h='4' previd='smid-1'/>")
    drain(conn)
    server.client_sent()
    server.feed(f"<r {SM}/>")
    # (the checkpoint's inbound count: the carbons result)
    assert server.client_sent() == b'<a xmlns="urn:xmpp:sm:3" h="1"/>'


def test_an_unexpected_resumed_is_a_stream_error() -> None:
    conn, server = logged_in()
    server.feed(f"<resumed {SM} h='1' previd='smid-1'/>")
    events = drain(conn)
    assert isinstance(events[-1], ConnectionClosed)
    assert events[-1].condition is not None
    assert events[-1].condition.value == "unsupported-stanza-type"
    assert events[-1].text == "unexpected <resumed/>"


def test_resumed_without_h_is_bad_format() -> None:
    conn, server = logged_in()
    new, new_server, _ = drop_and_resume(conn, server)
    new_server.feed(f"<resumed {SM} previd='smid-1'/>")
    events = drain(new)
    assert isinstance(events[-1], ConnectionClosed)
    assert events[-1].condition is not None and events[-1].condition.value == "bad-format"
    assert events[-1].text == "<resumed/> without h"


def test_a_resumed_session_keeps_its_window_and_its_outstanding_ping() -> None:
    # A ping outstanding when the connection dropped is still waited for on the resumed
    # one: its round trip counts from the resumption (when it was, in effect, resent).
    conn, server = logged_in(iq_timeout=20.0)
    ping_id = conn.send(Ping(), now=1)
    server.client_sent()
    new, new_server, _ = drop_and_resume(conn, server)
    new_server.now = 6
    new_server.feed(f"<resumed {SM} h='2' previd='smid-1'/>")
    drain(new)
    checkpoint = new.checkpoint()
    assert checkpoint is not None and checkpoint.max_seconds == 300
    new_server.now = 10
    new_server.feed(f"<iq type='result' id='{ping_id}' from='localhost'/>")
    pongs = [e for e in drain(new) if isinstance(e, PongReceived)]
    assert pongs == [PongReceived(ping_id=ping_id, round_trip=4.0, error=None)]


# ------------------------------------------------------------------ bad acks


def closed_by(conn: ClientConnection) -> ConnectionClosed:
    events = drain(conn)
    assert isinstance(events[-1], ConnectionClosed), events
    return events[-1]


def test_an_ack_without_h_is_bad_format() -> None:
    conn, server = logged_in()
    server.feed(f"<a {SM}/>")
    closed = closed_by(conn)
    assert closed.condition is not None and closed.condition.value == "bad-format"
    assert closed.text == "<a/> without h"


def test_h_of_two_to_the_32_is_malformed_and_ends_the_session() -> None:
    conn, server = logged_in()
    conn.send(Say(body="x"), now=1)
    server.client_sent()
    server.feed(f"<a {SM} h='{MOD}'/>")
    closed = closed_by(conn)
    assert closed.condition is not None and closed.condition.value == "bad-format"
    assert closed.text == f"invalid h '{MOD}'"
    assert closed.resumable is False and conn.resume_state() is None


def test_a_too_high_ack_says_why() -> None:
    conn, server = logged_in()
    conn.send(Say(body="x"), now=1)
    server.client_sent()
    server.feed(f"<a {SM} h='9'/>")
    closed = closed_by(conn)
    assert closed.text == "h=9 acknowledges more than the 3 stanzas sent"
    assert closed.resumable is False


def test_the_handler_hears_which_message_was_acked() -> None:
    conn, server = logged_in(handler_factory=ChatSession)
    mid = conn.send(SendMessage(to_user=1002, body="hi"), now=1)
    server.client_sent()
    drain(conn)
    ack(server, 3, now=2)
    events = drain(conn)
    assert MessageSent(message_id=mid) in events
    changed = [e for e in events if isinstance(e, DeliveryStatusChanged)]
    assert changed == [
        DeliveryStatusChanged(
            message_id=mid, status=DeliveryStatus.SENT, previous=DeliveryStatus.QUEUED
        )
    ]


def test_a_sent_stanza_keeps_where_its_name_ends_for_the_resend() -> None:
    # A resend after resumption is framed from the kept name end (over WebSocket the
    # jabber:client qualifier goes there); 0 would write it unqualified.
    sm = StreamManagement()
    sm.sent('<message to="a@b"><body>x</body></message>', "m1", 8)
    sm.sent("<presence/>", None)
    assert [(u.message_id, u.name_end) for u in sm.unacked] == [("m1", 8), (None, 0)]
