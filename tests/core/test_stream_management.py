"""XEP-0198: counting, acks, ack timeouts, resumption (partial, failed), wraparound,
contradictory acks, and application-controlled acks."""

from __future__ import annotations

import pytest
from scripted import (
    FEATURES_BIND,
    FEATURES_SASL,
    JID,
    Say,
    ScriptedServer,
    attr,
    config,
    drain,
    drop_and_resume,
    logged_in,
)

from cubeproto import (
    CloseReason,
    Connected,
    ConnectionClosed,
    LostReason,
    MessageLost,
    MessageSent,
    MessageUnconfirmed,
    ResumeFailed,
    StreamResumed,
)
from cubeproto._connection import ClientConnection, ResumableSession
from cubeproto._sm import MOD, Unacked


def sent_of(events: list[object]) -> list[str]:
    return [e.message_id for e in events if isinstance(e, MessageSent)]


def lost_of(events: list[object]) -> list[tuple[str, LostReason]]:
    return [(e.message_id, e.reason) for e in events if isinstance(e, MessageLost)]


def test_countable_message_requests_ack_and_is_sent_once() -> None:
    conn, server = logged_in()
    mid = conn.send(Say(body="hi"), now=1)
    assert mid is not None and len(mid) == 24
    out = server.client_sent()
    assert out.endswith(b'<r xmlns="urn:xmpp:sm:3"/>')
    # carbons IQ (1), presence (2), message (3)
    server.feed("<a xmlns='urn:xmpp:sm:3' h='3'/>")
    assert sent_of(drain(conn)) == [mid]
    server.feed("<a xmlns='urn:xmpp:sm:3' h='3'/>")  # duplicate ack
    assert drain(conn) == []


def test_partial_acks_settle_in_order() -> None:
    conn, server = logged_in()
    ids = [conn.send(Say(body=str(i)), now=1) for i in range(5)]
    server.client_sent()
    server.feed("<a xmlns='urn:xmpp:sm:3' h='4'/>")  # 2 non-countable + 2 messages
    assert sent_of(drain(conn)) == ids[:2]
    server.feed("<a xmlns='urn:xmpp:sm:3' h='3'/>")  # an older ack: nothing
    assert drain(conn) == []
    server.feed("<a xmlns='urn:xmpp:sm:3' h='7'/>")
    assert sent_of(drain(conn)) == ids[2:]


def test_ack_above_sent_is_a_stream_error() -> None:
    conn, server = logged_in()
    conn.send(Say(body="x"), now=1)
    server.client_sent()
    server.feed("<a xmlns='urn:xmpp:sm:3' h='9'/>")
    events = drain(conn)
    assert isinstance(events[-1], ConnectionClosed)
    assert events[-1].condition is not None
    assert events[-1].condition.value == "undefined-condition"
    out = server.client_sent()
    assert b"handled-count-too-high" in out and b'h="9"' in out


def test_malformed_h_is_a_stream_error() -> None:
    conn, server = logged_in()
    server.feed("<a xmlns='urn:xmpp:sm:3' h='-1'/>")
    events = drain(conn)
    assert isinstance(events[-1], ConnectionClosed)
    assert events[-1].condition is not None and events[-1].condition.value == "bad-format"


def test_server_request_is_answered_with_handled_count() -> None:
    _conn, server = logged_in()
    server.feed("<presence from='1001-42@localhost/res1' to='1001-42@localhost'/>")
    server.feed("<message from='x@localhost' type='chat' id='m1'><body>b</body></message>")
    server.feed("<r xmlns='urn:xmpp:sm:3'/>")
    # The carbons result, the presence and the message.
    assert server.client_sent() == b'<a xmlns="urn:xmpp:sm:3" h="3"/>'


def test_ack_timeout_is_a_dead_connection_not_a_loss() -> None:
    # Issue 12 item 4: an ack timeout reports nothing lost; the connection is dead (closed
    # without a stream close, resumable) and the resumption's h settles the message.
    conn, server = logged_in()
    conn.send(Say(body="x"), now=10)
    server.client_sent()
    deadline = conn.get_timer()
    assert deadline == 10 + 30.0
    conn.handle_timer(now=deadline - 0.001)
    assert drain(conn) == []
    conn.handle_timer(now=deadline)
    events = drain(conn)
    assert lost_of(events) == []
    assert not any(isinstance(e, MessageUnconfirmed) for e in events)
    assert events[-1] == ConnectionClosed(reason=CloseReason.DEAD, resumable=True)
    assert server.client_sent() == b""  # no </stream:stream>: the session stays resumable
    assert conn.resume_state() is not None and conn.checkpoint() is not None


@pytest.mark.parametrize("arrived", [True, False])
def test_after_an_ack_timeout_the_resumption_h_decides(arrived: bool) -> None:
    conn, server = logged_in()
    mid = conn.send(Say(body="x"), now=1)
    server.client_sent()
    conn.handle_timer(now=100)
    assert lost_of(drain(conn)) == []
    new, new_server, _ = drop_and_resume(conn, server)
    # The carbons IQ and the presence are 1-2; the message is 3.
    new_server.feed(f"<resumed xmlns='urn:xmpp:sm:3' h='{3 if arrived else 2}' previd='smid-1'/>")
    events = drain(new)
    assert lost_of(events) == []
    if arrived:
        assert sent_of(events) == [mid]
        assert mid not in new_server.client_sent().decode()
    else:
        assert sent_of(events) == []
        assert mid in new_server.client_sent().decode()  # resent on the resumed stream
        new_server.feed("<a xmlns='urn:xmpp:sm:3' h='3'/>")
        assert sent_of(drain(new)) == [mid]


def test_clean_close_reports_unacked_unconfirmed() -> None:
    # Issue 12: nobody knows whether the server got it before the close: unconfirmed.
    conn, server = logged_in()
    mid = conn.send(Say(body="x"), now=1)
    server.client_sent()
    conn.close(now=2)
    assert server.client_sent().endswith(b"</stream:stream>")
    server.feed("</stream:stream>")
    events = drain(conn)
    assert lost_of(events) == []
    assert [e for e in events if isinstance(e, MessageUnconfirmed)] == [
        MessageUnconfirmed(message_id=mid)
    ]
    assert events[-1] == ConnectionClosed(reason=events[-1].reason, clean=True)
    assert conn.resume_state() is None


def test_resume_drops_what_was_acked_and_resends_the_rest() -> None:
    conn, server = logged_in()
    server.feed("<message from='x@localhost' type='chat' id='m1'><body>b</body></message>")
    ids = [conn.send(Say(body=str(i)), now=1) for i in range(4)]
    server.client_sent()
    server.feed("<a xmlns='urn:xmpp:sm:3' h='3'/>")  # first message acked
    assert sent_of(drain(conn)) == ids[:1]
    new, new_server, resume = drop_and_resume(conn, server)
    # h=2: the carbons result and the message were handled.
    assert resume == b'<resume xmlns="urn:xmpp:sm:3" h="2" previd="smid-1"/>'
    new_server.feed("<resumed xmlns='urn:xmpp:sm:3' h='4' previd='smid-1'/>")
    events = drain(new)
    assert sent_of(events) == [ids[1]]
    assert StreamResumed(previous_id="smid-1", resent=2) in events
    assert events[-1] == Connected(jid=JID, resumed=True)
    resent = new_server.client_sent().decode()
    assert ids[2] in resent and ids[3] in resent and ids[1] not in resent
    assert resent.endswith('<r xmlns="urn:xmpp:sm:3"/>')
    new_server.feed("<a xmlns='urn:xmpp:sm:3' h='6'/>")
    assert sent_of(drain(new)) == ids[2:]


def test_failed_resume_reports_each_unacked_message_lost_then_binds() -> None:
    conn, server = logged_in()
    ids = [conn.send(Say(body=str(i)), now=1) for i in range(3)]
    server.client_sent()
    new, new_server, _ = drop_and_resume(conn, server)
    new_server.feed(
        "<failed xmlns='urn:xmpp:sm:3' h='3'>"
        "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
    )
    events = drain(new)
    assert sent_of(events) == ids[:1]  # h=3 still acknowledged the first message
    assert lost_of(events) == [(i, LostReason.RESUME_FAILED) for i in ids[1:]]
    assert ResumeFailed(condition_name="item-not-found") in events
    new_server.bind()
    new_server.session_setup()
    events = drain(new)
    assert events[-1] == Connected(jid=JID, resumed=False)


def test_counters_wrap_at_2_to_the_32() -> None:
    state = ResumableSession(
        resume_id="w",
        jid=JID,
        location=None,
        max_seconds=None,
        inbound_h=MOD - 1,
        acked_h=MOD - 2,
        outbound_h=MOD - 1,
        unacked=(Unacked('<message id="old" type="chat"><body>o</body></message>', "old"),),
        lost_reported=frozenset(),
        pending_iqs=(),
    )
    conn = ClientConnection(config(), resume=state)
    server = ScriptedServer(conn)
    conn.start(now=0)
    server.open_with(FEATURES_SASL)
    server.sasl_scram()
    server.open_with(FEATURES_BIND)
    assert server.client_sent() == (
        f'<resume xmlns="urn:xmpp:sm:3" h="{MOD - 1}" previd="w"/>'.encode()
    )
    server.feed(f"<resumed xmlns='urn:xmpp:sm:3' h='{MOD - 2}' previd='w'/>")
    drain(conn)
    server.client_sent()
    ids = [conn.send(Say(body=str(i)), now=1) for i in range(2)]
    server.client_sent()
    # old message was stanza MOD-1; ids[0] wraps to 0; ids[1] is 1.
    server.feed("<a xmlns='urn:xmpp:sm:3' h='0'/>")
    assert sent_of(drain(conn)) == ["old", ids[0]]
    server.feed("<message from='x@localhost' type='chat' id='m'><body>b</body></message>")
    server.feed("<r xmlns='urn:xmpp:sm:3'/>")
    assert server.client_sent() == b'<a xmlns="urn:xmpp:sm:3" h="0"/>'  # MOD-1 + 1 wraps
    server.feed("<a xmlns='urn:xmpp:sm:3' h='1'/>")
    assert sent_of(drain(conn)) == [ids[1]]


def test_app_controlled_acks_advance_only_on_confirmation() -> None:
    conn, server = logged_in(app_controlled_acks=True)
    for i in range(3):
        server.feed(f"<message from='x@localhost' type='chat' id='m{i}'><body>b</body></message>")
    server.feed("<r xmlns='urn:xmpp:sm:3'/>")
    assert server.client_sent() == b'<a xmlns="urn:xmpp:sm:3" h="0"/>'
    assert conn.next_event() is not None  # take the first message's event
    conn.confirm_handled(now=1)
    server.feed("<r xmlns='urn:xmpp:sm:3'/>")
    # The carbons result (consumed by the core) and m0; m1 and m2 are still queued.
    assert server.client_sent() == b'<a xmlns="urn:xmpp:sm:3" h="2"/>'
    drain(conn)
    conn.confirm_handled(now=1)
    server.feed("<r xmlns='urn:xmpp:sm:3'/>")
    assert server.client_sent() == b'<a xmlns="urn:xmpp:sm:3" h="4"/>'


def test_app_controlled_acks_crash_before_handling_means_redelivery() -> None:
    conn, server = logged_in(app_controlled_acks=True)
    server.feed("<message from='x@localhost' type='chat' id='m0'><body>b</body></message>")
    # The application never takes or confirms the event, and the connection drops.
    conn.receive_eof(now=2)
    state = conn.resume_state()
    assert state is not None and state.inbound_h == 0  # the server will redeliver m0


def test_confirm_handled_requires_the_switch() -> None:
    conn, _ = logged_in()
    with pytest.raises(Exception, match="app_controlled_acks"):
        conn.confirm_handled(now=0)


def test_enable_refused_continues_without_sm() -> None:
    conn = ClientConnection(config())
    server = ScriptedServer(conn)
    conn.start(now=0)
    server.open_with(FEATURES_SASL)
    server.sasl_scram()
    server.open_with(FEATURES_BIND)
    server.bind()
    server.client_sent()
    server.feed(
        "<failed xmlns='urn:xmpp:sm:3'>"
        "<unexpected-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
    )
    assert isinstance(drain(conn)[-1], Connected)
    conn.send(Say(body="x"), now=1)
    assert b"<r " not in server.client_sent()
    conn.receive_eof(now=2)
    assert conn.resume_state() is None


def test_attr_helper_finds_ids() -> None:
    assert attr(b'<iq id="abc" type="set"/>', "id") == "abc"


@pytest.mark.parametrize("h", ["\u00b2", "1" * 5000, "+1", " 1", "1.0", ""])
def test_h_that_int_would_choke_on_is_a_stream_error_not_an_exception(h: str) -> None:
    conn, server = logged_in()
    server.feed(f"<a xmlns='urn:xmpp:sm:3' h='{h}'/>")
    (closed,) = drain(conn)
    assert isinstance(closed, ConnectionClosed)
    assert closed.condition is not None and closed.condition.value == "bad-format"
