"""IQ tracking (every request resolves exactly once), pings both ways, keepalive."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from scripted import HOST, JID, attr, drain, logged_in

from cubeproto import (
    CloseReason,
    ConnectionClosed,
    ConnectionDead,
    IqFailed,
    IqResultReceived,
    IqTimedOut,
    LocalProtocolError,
    Ping,
    PingReceived,
    PingTimedOut,
    PongReceived,
    SendIq,
    StanzaErrorCondition,
    UnhandledStanza,
)
from cubeproto.commands import (
    UNSTATED,
    Addressing,
    OutboundStanza,
    StanzaCommand,
    StanzaContext,
)
from cubeproto.events import Event


def test_ping_pong_with_round_trip_time() -> None:
    conn, server = logged_in()
    ping_id = conn.send(Ping(), now=10.0)
    sent = server.client_sent()
    assert ping_id is not None and ping_id.endswith(":ping")
    assert f'to="{HOST}"'.encode() in sent and b'<ping xmlns="urn:xmpp:ping"/>' in sent
    server.now = 10.25
    server.feed(f"<iq type='result' id='{ping_id}' from='{HOST}' to='{JID}'/>")
    assert drain(conn) == [PongReceived(ping_id=ping_id, round_trip=0.25)]


def test_ping_timeout() -> None:
    conn, server = logged_in()
    ping_id = conn.send(Ping(timeout=1.0), now=10.0)
    assert conn.get_timer() == 11.0
    conn.handle_timer(now=11.0)
    assert drain(conn) == [PingTimedOut(ping_id=ping_id)]
    # A late answer is not a second resolution.
    server.feed(f"<iq type='result' id='{ping_id}' from='{HOST}'/>")
    assert [type(e) for e in drain(conn)] == [UnhandledStanza]


def test_ping_error_answer_still_proves_liveness() -> None:
    conn, server = logged_in()
    ping_id = conn.send(Ping(), now=0)
    server.feed(
        f"<iq type='error' id='{ping_id}' from='{HOST}'><error type='cancel' code='503'>"
        "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )
    (pong,) = drain(conn)
    assert isinstance(pong, PongReceived) and pong.error is not None
    assert pong.error.condition is StanzaErrorCondition.SERVICE_UNAVAILABLE
    assert pong.error.code == 503


def test_server_ping_is_answered() -> None:
    conn, server = logged_in()
    server.feed(
        f"<iq type='get' id='s1' from='{HOST}' to='{JID}'><ping xmlns='urn:xmpp:ping'/></iq>"
    )
    assert server.client_sent() == f'<iq type="result" id="s1" to="{HOST}"/>'.encode()
    assert drain(conn) == [PingReceived(sender=HOST, iq_id="s1")]


def test_unknown_iq_get_gets_service_unavailable() -> None:
    conn, server = logged_in()
    server.feed(f"<iq type='get' id='q1' from='{HOST}'><query xmlns='urn:x:unknown'/></iq>")
    out = server.client_sent()
    assert b'type="error"' in out and b'id="q1"' in out and b"<service-unavailable" in out
    assert [type(e) for e in drain(conn)] == [UnhandledStanza]


def test_send_iq_result_error_timeout_each_resolve_once() -> None:
    conn, server = logged_in()
    ok = conn.send(SendIq(type="get", payload='<query xmlns="jabber:iq:version"/>'), now=0)
    bad = conn.send(SendIq(type="get", payload='<query xmlns="jabber:iq:version"/>'), now=0)
    slow = conn.send(SendIq(type="get", payload="<q xmlns='x'/>", timeout=5), now=0)
    server.client_sent()
    server.feed(
        f"<iq type='result' id='{ok}'><query xmlns='jabber:iq:version'><name>e</name></query></iq>"
    )
    server.feed(
        f"<iq type='error' id='{bad}'><error type='cancel'>"
        "<feature-not-implemented xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>nope</text></error></iq>"
    )
    conn.handle_timer(now=5)
    events = drain(conn)
    assert isinstance(events[0], IqResultReceived) and events[0].iq_id == ok
    assert events[0].payload is not None and b"<name>e</name>" in events[0].payload
    assert isinstance(events[1], IqFailed) and events[1].iq_id == bad
    assert events[1].error is not None and events[1].error.text == "nope"
    assert events[1].error.condition is StanzaErrorCondition.FEATURE_NOT_IMPLEMENTED
    assert events[2] == IqTimedOut(iq_id=slow)
    conn.handle_timer(now=100)
    assert drain(conn) == []


def test_answer_from_the_wrong_sender_is_not_taken() -> None:
    conn, server = logged_in()
    iq_id = conn.send(SendIq(type="get", payload="<q xmlns='x'/>", to="1002-42@localhost"), now=0)
    server.feed(f"<iq type='result' id='{iq_id}' from='evil@localhost'/>")
    assert [type(e) for e in drain(conn)] == [UnhandledStanza]
    server.feed(f"<iq type='result' id='{iq_id}' from='1002-42@localhost'/>")
    assert drain(conn) == [IqResultReceived(iq_id=iq_id, payload=None)]


def test_iq_table_is_bounded() -> None:
    conn, server = logged_in(max_pending_iqs=2)
    conn.send(Ping(), now=0)
    conn.send(Ping(), now=0)
    before = server.client_sent()
    with pytest.raises(LocalProtocolError, match="outstanding"):
        conn.send(Ping(), now=0)
    assert server.client_sent() == b""  # nothing was queued by the refused command
    assert before.count(b"<ping") == 2


def test_bad_iq_payload_is_refused_without_state_change() -> None:
    conn, server = logged_in()
    with pytest.raises(LocalProtocolError):
        conn.send(SendIq(type="get", payload="<unclosed>"), now=0)
    with pytest.raises(LocalProtocolError):
        SendIq(type="result", payload="<q/>")
    assert server.client_sent() == b""


def test_keepalive_pings_when_idle_and_declares_death() -> None:
    conn, server = logged_in(keepalive_interval=40.0, keepalive_timeout=1.0)
    assert conn.get_timer() == 40.0
    server.now = 30.0
    server.feed("<presence from='x@localhost'/>")
    conn.handle_timer(now=40.0)  # not idle long enough: re-armed, no ping
    assert server.client_sent() == b""
    assert conn.get_timer() == 70.0
    conn.handle_timer(now=70.0)
    ping = server.client_sent()
    assert b"<ping" in ping
    conn.handle_timer(now=71.0)
    events = drain(conn)
    assert isinstance(events[-2], ConnectionDead)
    assert isinstance(events[-1], ConnectionClosed) and events[-1].reason is CloseReason.DEAD
    assert events[-1].resumable


def test_keepalive_answer_keeps_the_connection() -> None:
    conn, server = logged_in(keepalive_interval=40.0, keepalive_timeout=1.0)
    conn.handle_timer(now=40.0)
    ping_id = attr(server.client_sent(), "id")
    server.now = 40.5
    server.feed(f"<iq type='result' id='{ping_id}' from='{HOST}'/>")
    conn.handle_timer(now=41.0)
    assert not any(isinstance(e, ConnectionDead) for e in drain(conn))
    assert conn.get_timer() == 80.5


def test_idle_connection_releases_its_parser_and_rebuilds_it_on_input() -> None:
    conn, server = logged_in(release_parser_when_idle=10.0)
    assert conn.get_timer() == 10.0
    conn.handle_timer(now=10.0)
    assert conn.get_timer() is None  # released; nothing wakes an idle connection
    server.now = 50.0
    server.feed(f"<iq type='get' id='p1' from='{HOST}'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert drain(conn) == [PingReceived(sender=HOST, iq_id="p1")]
    assert b'id="p1"' in server.client_sent()
    assert conn.get_timer() == 60.0  # re-armed by the input


def test_idle_timer_waits_for_a_slow_stanza_to_finish() -> None:
    conn, server = logged_in(release_parser_when_idle=10.0)
    server.now = 5.0
    server.feed("<message from='1002-42@localhost/r' type='chat' id='m'><body>slo")
    conn.handle_timer(now=10.0)
    assert conn.get_timer() == 15.0  # input at 5 s: not idle yet
    conn.handle_timer(now=15.0)
    assert conn.get_timer() == 25.0  # idle, but mid-stanza: not released
    server.feed("w</body></message>")
    events = drain(conn)
    assert len(events) == 1 and type(events[0]).__name__ == "UnhandledStanza"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Ask(StanzaCommand):
    """An IQ request whose builder states its addressee (``to``) or leaves it unstated."""

    xml_to: str
    stated: str | Addressing | None

    def build(self, ctx: StanzaContext) -> OutboundStanza:
        iq_id = ctx.new_iq_id("ask")
        return OutboundStanza(
            xml=f'<iq type="get" id="{iq_id}" to="{self.xml_to}"><q xmlns="x"/></iq>',
            stanza_id=iq_id,
            result_parser=lambda _el: Pong(),
            timeout=10,
            to=self.stated,
        )


@dataclass(frozen=True, slots=True)
class Pong(Event):
    """What _Ask's parser makes of an answer."""


def test_an_iq_answer_is_checked_against_the_stated_addressee() -> None:
    """The connection takes the addressee from ``OutboundStanza.to`` (it does not read
    the XML again): an answer from the XML's ``to`` is not the answer when the builder
    said otherwise."""
    conn, server = logged_in()
    iq_id = conn.send(_Ask(xml_to="1002-42@localhost", stated="1003-42@localhost"), now=0)
    server.feed(f"<iq type='result' id='{iq_id}' from='1002-42@localhost'/>")
    assert [type(e) for e in drain(conn)] == [UnhandledStanza]
    server.feed(f"<iq type='result' id='{iq_id}' from='1003-42@localhost'/>")
    assert drain(conn) == [Pong()]


def test_an_unstated_addressee_is_read_from_the_xml() -> None:
    """Builders written before ``OutboundStanza.to`` keep working."""
    conn, server = logged_in()
    iq_id = conn.send(_Ask(xml_to="1002-42@localhost", stated=UNSTATED), now=0)
    server.feed(f"<iq type='result' id='{iq_id}' from='1003-42@localhost'/>")
    assert [type(e) for e in drain(conn)] == [UnhandledStanza]
    server.feed(f"<iq type='result' id='{iq_id}' from='1002-42@localhost'/>")
    assert drain(conn) == [Pong()]
