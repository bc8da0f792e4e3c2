"""cubeproto.reconnect: what the Supervisor builds and reports for the requests an
application waits for, and the small helpers the adapters share (issue 17: the mutation
run showed ``Supervisor.call``, ``process``, ``_Correlated.build``, ``harvest`` and the
outcome helpers driven by ``tests/core/test_reconnect.py`` without their results being
asserted).

Real objects throughout: each connection is a real ``ClientConnection`` answered by the
ejabberd-shaped ``ScriptedServer``; events the connection would only produce after a
long wait (a timed-out IQ) or that nothing on the wire produces (an answer to a request
nobody waits for) are constructed and handed to ``process``, which is the supervisor's
sans-IO input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from scripted import (
    APP,
    FEATURES_BIND,
    FEATURES_SASL,
    FEATURES_TLS,
    HOST,
    JID,
    USER,
    ScriptedServer,
    config,
)

from cubeproto import (
    CloseReason,
    Connected,
    ConnectionClosed,
    MessageUnconfirmed,
    Ping,
    PingTimedOut,
    PongReceived,
    TlsUpgradeRequired,
)
from cubeproto._connection import ClientConnection
from cubeproto._state import StreamState
from cubeproto.chat import ChatSession, JoinDialog, SendMessage
from cubeproto.chat.commands import GetLastActivity, SetClientState
from cubeproto.chat.events import DialogJoinFailed, LastActivity
from cubeproto.commands import Command, SendIq
from cubeproto.config import Transport
from cubeproto.errors import (
    CubeProtoError,
    LocalProtocolError,
    StanzaError,
    StanzaErrorCondition,
    StanzaErrorType,
)
from cubeproto.events import Event, IqFailed, IqResultReceived, IqTimedOut
from cubeproto.reconnect import (
    CallAnswered,
    CallSettled,
    Disconnected,
    Endpoint,
    IqError,
    IqTimeout,
    NotConnected,
    Supervisor,
    answer_of,
    backoff_delay,
    call_wait,
    error_for,
)

PEER = 1002
DIALOG = "6507f0a1c2b3d4e5f6a7b8c9"
ROOM = f"{APP}_{DIALOG}@muc.{HOST}/{USER}"


class Client:
    """A supervisor whose transports are ScriptedServers (the adapter's duties by hand)."""

    def __init__(self, **kwargs: Any) -> None:
        self.sup = Supervisor(config(handler_factory=ChatSession), jitter=lambda: 0.0, **kwargs)
        self.now = 0.0
        self.server: ScriptedServer | None = None

    @property
    def conn(self) -> ClientConnection:
        assert self.sup.connection is not None
        return self.sup.connection

    def pump(self) -> list[Event | CallSettled]:
        got: list[Event | CallSettled] = []
        conn = self.sup.connection
        while conn is not None and (event := conn.next_event()) is not None:
            got.extend(self.sup.process(event, now=self.now))
        return got

    def login(self) -> list[Event | CallSettled]:
        conn = self.sup.new_connection()
        self.server = server = ScriptedServer(conn, now=self.now)
        conn.start(now=self.now)
        server.open_with(FEATURES_SASL)
        server.sasl_scram()
        server.open_with(FEATURES_BIND)
        server.bind()
        server.session_setup()
        got = self.pump()
        server.client_sent()
        return got

    def sent(self) -> bytes:
        assert self.server is not None
        return self.server.client_sent()

    def feed(self, text: str) -> list[Event | CallSettled]:
        assert self.server is not None
        self.server.feed(text)
        return self.pump()


def settled(items: Sequence[object]) -> list[CallSettled]:
    return [i for i in items if isinstance(i, CallSettled)]


def iq_id_in(sent: bytes) -> str:
    """The id of the one ``<iq`` the client just sent."""
    head = sent[sent.index(b"<iq") :]
    return head.split(b'id="', 1)[1].split(b'"', 1)[0].decode()


# ---------------------------------------------------------------------- call()


def test_a_stanza_request_with_a_parser_is_settled_with_the_parsed_answer() -> None:
    """``call`` wraps the command (``_Correlated``) so that its parsed answer names the
    request: the application gets the parser's event, settled ok, once, and the
    intermediate ``CallAnswered`` never leaks into the event stream."""
    client = Client()
    client.login()
    call_id = client.sup.call(GetLastActivity(user_id=PEER), now=client.now)
    sent = client.sent()
    assert call_id is not None and call_id == iq_id_in(sent)
    assert f'to="{PEER}-{APP}@{HOST}"'.encode() in sent
    got = client.feed(
        f"<iq type='result' id='{call_id}' from='{PEER}-{APP}@{HOST}' to='{JID}'>"
        "<query xmlns='jabber:iq:last' seconds='42'/></iq>"
    )
    assert got == [CallSettled(call_id, LastActivity(user_id=PEER, seconds=42), True)]
    # The same id again is an answer to nothing: the connection drops it, and the
    # supervisor, handed such an answer, reports nothing.
    again = CallAnswered(iq_id=call_id, event=LastActivity(user_id=PEER, seconds=1))
    assert client.sup.process(again, now=client.now) == []


def test_a_stanza_request_answered_with_an_error_is_settled_failed() -> None:
    client = Client()
    client.login()
    call_id = client.sup.call(GetLastActivity(user_id=PEER), now=client.now)
    assert call_id is not None
    client.sent()
    got = client.feed(
        f"<iq type='error' id='{call_id}' from='{PEER}-{APP}@{HOST}' to='{JID}'>"
        "<error type='cancel'><service-unavailable "
        "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )
    (outcome,) = got
    assert isinstance(outcome, CallSettled) and outcome.call_id == call_id and not outcome.ok
    assert isinstance(outcome.event, IqFailed) and outcome.event.error is not None
    assert outcome.event.error.condition is StanzaErrorCondition.SERVICE_UNAVAILABLE
    with pytest.raises(IqError, match="service-unavailable"):
        answer_of(outcome)


def test_a_stanza_without_an_answer_is_not_waited_for() -> None:
    """A message (no id to answer, no parser) and a CSI nonza (no id at all) are done once
    sent: ``call`` returns None and nothing is left waiting (closing settles nothing)."""
    client = Client()
    client.login()
    assert client.sup.call(SendMessage(to_user=PEER, body="hi"), now=client.now) is None
    assert b"<body>hi</body>" in client.sent()
    assert client.sup.call(SetClientState(active=False, mode="csi"), now=client.now) is None
    assert client.sent() == b'<inactive xmlns="urn:xmpp:csi:0"/>'
    assert settled(client.sup.finished()) == []


def test_a_command_that_cannot_be_waited_for_is_refused_before_anything_is_sent() -> None:
    class Opaque(Command):
        __slots__ = ()

    client = Client()
    client.login()
    with pytest.raises(LocalProtocolError, match="cannot wait for Opaque"):
        client.sup.call(Opaque(), now=client.now)
    assert client.sent() == b""


def test_a_raw_iq_call_is_settled_by_its_result_its_error_or_its_timeout() -> None:
    client = Client()
    client.login()
    payload = "<query xmlns='jabber:iq:version'/>"
    ok_id = client.sup.call(SendIq(type="get", payload=payload, to=HOST), now=client.now)
    err_id = client.sup.call(SendIq(type="get", payload=payload, to=HOST), now=client.now)
    late_id = client.sup.call(SendIq(type="get", payload=payload, to=HOST), now=client.now)
    assert None not in (ok_id, err_id, late_id) and len({ok_id, err_id, late_id}) == 3
    assert isinstance(ok_id, str) and isinstance(err_id, str) and isinstance(late_id, str)
    client.sent()
    got = client.feed(f"<iq type='result' id='{ok_id}' from='{HOST}' to='{JID}'/>")
    assert got == [CallSettled(ok_id, IqResultReceived(iq_id=ok_id, payload=None), True)]
    got = client.feed(
        f"<iq type='error' id='{err_id}' from='{HOST}' to='{JID}'><error type='cancel'>"
        "<feature-not-implemented xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )
    (failed,) = got
    assert isinstance(failed, CallSettled) and failed.call_id == err_id and not failed.ok
    assert isinstance(failed.event, IqFailed) and failed.event.iq_id == err_id
    timed_out = IqTimedOut(iq_id=late_id)
    assert client.sup.process(timed_out, now=client.now) == [CallSettled(late_id, timed_out, False)]
    # Each is settled once: the same outcomes again are plain events for the stream.
    assert client.sup.process(timed_out, now=client.now) == [timed_out]
    answer = IqResultReceived(iq_id=ok_id, payload=None)
    assert client.sup.process(answer, now=client.now) == [answer]
    assert settled(client.sup.finished()) == []


def test_an_iq_nobody_waits_for_passes_through() -> None:
    client = Client()
    client.login()
    iq_id = client.sup.send(SendIq(type="get", payload="<q xmlns='x'/>"), now=client.now)
    assert iq_id is not None
    client.sent()
    got = client.feed(f"<iq type='result' id='{iq_id}' to='{JID}'/>")
    assert got == [IqResultReceived(iq_id=iq_id, payload=None)]
    failed = IqFailed(iq_id=iq_id, error=None, reason="x")
    assert client.sup.process(failed, now=client.now) == [failed]


def test_a_ping_call_that_times_out_is_settled_failed() -> None:
    client = Client()
    client.login()
    ping_id = client.sup.call(Ping(timeout=5.0), now=client.now)
    assert ping_id is not None
    lost = PingTimedOut(ping_id=ping_id)
    assert client.sup.process(lost, now=client.now) == [CallSettled(ping_id, lost, False)]
    assert client.sup.process(lost, now=client.now) == [lost]
    pong = PongReceived(ping_id="other", round_trip=0.5)
    assert client.sup.process(pong, now=client.now) == [pong]


def test_a_refused_join_is_reported_and_settled_failed() -> None:
    """An extension's event is delivered to the stream and, when someone waits for it,
    settled too (after the event); an event nobody waits for is delivered alone."""
    client = Client()
    client.login()
    call_id = client.sup.call(JoinDialog(dialog_id=DIALOG), now=client.now)
    assert call_id == f"join:{DIALOG}"
    refused = DialogJoinFailed(
        dialog_id=DIALOG,
        error=StanzaError(
            condition=StanzaErrorCondition.FORBIDDEN,
            condition_name="forbidden",
            type=StanzaErrorType.AUTH,
        ),
    )
    assert client.sup.process(refused, now=client.now) == [
        refused,
        CallSettled(call_id, refused, False),
    ]
    assert client.sup.process(refused, now=client.now) == [refused]
    assert client.sup.joined_dialogs == frozenset()


# ---------------------------------------------------------------------- lifecycle


def test_harvest_says_when_tls_is_needed_and_passes_events_through() -> None:
    sup = Supervisor(config(transport=Transport.TCP), jitter=lambda: 0.0)
    conn = sup.new_connection()
    server = ScriptedServer(conn)
    conn.start(now=0)
    server.open_with(FEATURES_TLS)
    server.client_sent()
    server.feed("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    harvest = sup.harvest(conn, now=0)
    assert harvest.tls_needed and not harvest.checkpoint_changed
    assert harvest.items[-1] == TlsUpgradeRequired()
    assert not sup.harvest(conn, now=0).tls_needed  # taken once


def test_harvest_says_when_the_checkpoint_changed() -> None:
    sup = Supervisor(config(checkpoint_events=True), jitter=lambda: 0.0)
    conn = sup.new_connection()
    server = ScriptedServer(conn)
    server.login()
    harvest = sup.harvest(conn, now=0)
    assert harvest.checkpoint_changed and not harvest.tls_needed
    assert [i for i in harvest.items if isinstance(i, Connected)] == [
        Connected(jid=JID, resumed=False)
    ]
    server.client_sent()
    assert sup.harvest(conn, now=0) == type(harvest)([], False, False)


def test_finished_fails_every_waiting_request_as_stopped() -> None:
    client = Client()
    client.login()
    ping_id = client.sup.call(Ping(), now=client.now)
    assert ping_id is not None
    (outcome,) = client.sup.finished()
    assert isinstance(outcome, CallSettled) and outcome.call_id == ping_id and not outcome.ok
    assert outcome.event == Disconnected(
        closed=None, error="stopped", reconnect_in=None, attempt=0, resumable=False
    )
    assert client.sup.finished() == []


def test_terminate_drops_the_live_connection_and_stops() -> None:
    """``terminate`` with a live session: the stream is not closed (nothing is sent), the
    connection's end is reported, unacked messages are unconfirmed, waiting requests fail."""
    client = Client()
    client.login()
    mid = client.sup.send(SendMessage(to_user=PEER, body="x"), now=client.now)
    ping_id = client.sup.call(Ping(), now=client.now)
    client.sent()
    got = client.sup.terminate(now=client.now)
    assert client.sent() == b""
    assert [e.message_id for e in got if isinstance(e, MessageUnconfirmed)] == [mid]
    (lost,) = [e for e in got if isinstance(e, Disconnected)]
    assert lost.reconnect_in is None and lost.attempt == 0
    # This side dropped the transport: LOCAL, not "the server closed it" (ClientConnection.drop).
    assert lost.closed is not None and lost.closed.reason is CloseReason.LOCAL
    assert not lost.closed.clean
    assert [(s.call_id, s.ok) for s in settled(got)] == [(ping_id, False)]
    assert settled(got)[0].ok is False
    assert client.sup.stopped and client.sup.connection is None


def test_close_twice_closes_the_stream_once() -> None:
    client = Client()
    client.login()
    assert client.sup.close(now=client.now) == []
    assert client.sent().endswith(b"</stream:stream>")
    assert client.conn.state is StreamState.CLOSING
    assert client.sup.close(now=client.now) == []
    assert client.sent() == b""
    assert not client.sup.stopped  # until the server's end arrives


def test_close_between_connections_stops_at_once() -> None:
    client = Client()
    client.login()
    mid = client.sup.send(SendMessage(to_user=PEER, body="x"), now=client.now)
    client.conn.receive_eof(now=client.now)
    lost = [e for e in client.pump() if isinstance(e, Disconnected)]
    assert lost[-1].resumable and lost[-1].reconnect_in == 1.0
    got = client.sup.close(now=client.now)
    assert [e.message_id for e in got if isinstance(e, MessageUnconfirmed)] == [mid]
    assert client.sup.stopped and client.sup.next_delay() is None


def test_disconnected_counts_attempts_and_says_whether_it_will_resume() -> None:
    client = Client()
    client.login()
    client.conn.receive_eof(now=client.now)
    (first,) = [e for e in client.pump() if isinstance(e, Disconnected)]
    assert first.closed is not None and first.closed.reason is CloseReason.REMOTE
    assert (first.attempt, first.resumable, first.error) == (1, True, first.closed.text)
    (second,) = client.sup.connect_failed("refused", now=client.now)
    assert isinstance(second, Disconnected)
    assert (second.attempt, second.resumable, second.closed) == (2, True, None)


def test_two_endpoints_split_by_jitter() -> None:
    nodes = (Endpoint("a.test", 5222), Endpoint("b.test", 5222))
    assert Supervisor(config(), jitter=lambda: 0.49, endpoints=nodes).endpoint == nodes[0]
    assert Supervisor(config(), jitter=lambda: 0.5, endpoints=nodes).endpoint == nodes[1]
    assert Supervisor(config(), jitter=lambda: 1.0, endpoints=nodes).endpoint == nodes[1]
    one = (Endpoint("c.test", 1),)
    assert Supervisor(config(), jitter=lambda: 1.0, endpoints=one).endpoint == one[0]


# ---------------------------------------------------------------------- outcome helpers


def _error(text: str | None = None) -> StanzaError:
    return StanzaError(
        condition=StanzaErrorCondition.ITEM_NOT_FOUND,
        condition_name="item-not-found",
        type=StanzaErrorType.CANCEL,
        text=text,
    )


def test_error_for_names_the_failure() -> None:
    failed = error_for(CallSettled("q1", IqFailed(iq_id="q1", error=_error("gone")), False))
    assert isinstance(failed, IqError) and str(failed) == "item-not-found: gone"
    assert failed.error == _error("gone") and failed.reason == ""
    bare = error_for(CallSettled("q1", IqFailed(iq_id="q1", error=_error()), False))
    assert str(bare) == "item-not-found"
    malformed = error_for(
        CallSettled("q1", IqFailed(iq_id="q1", error=None, reason="no <query/>"), False)
    )
    assert isinstance(malformed, IqError) and malformed.error is None
    assert str(malformed) == "malformed answer: no <query/>" and malformed.reason == "no <query/>"
    silent = error_for(CallSettled("q1", IqFailed(iq_id="q1", error=None), False))
    assert str(silent) == "malformed answer"
    for late in (IqTimedOut(iq_id="q2"), PingTimedOut(ping_id="q2")):
        timeout = error_for(CallSettled("q2", late, False))
        assert type(timeout) is IqTimeout and str(timeout) == "no answer to q2"
    stopped = error_for(CallSettled("q3", ConnectionClosed(reason=CloseReason.LOCAL), False))
    assert type(stopped) is NotConnected
    assert str(stopped) == "the client stopped before q3 was answered"
    refused = DialogJoinFailed(dialog_id=DIALOG, error=_error("no room"))
    joined = error_for(CallSettled("join:x", refused, False))
    assert type(joined) is IqError and joined.error == _error("no room")
    other = error_for(CallSettled("q4", IqResultReceived(iq_id="q4", payload=None), False))
    assert type(other) is CubeProtoError
    assert str(other) == "q4 failed: IqResultReceived(iq_id='q4', payload=None)"


def test_answer_of() -> None:
    event = IqResultReceived(iq_id="q1", payload=b"<x/>")
    assert answer_of(CallSettled("q1", event, True)) is event
    with pytest.raises(IqTimeout):
        answer_of(CallSettled("q1", IqTimedOut(iq_id="q1"), False))
    with pytest.raises(LocalProtocolError, match="not been settled"):
        answer_of(None)


def test_call_wait_is_a_second_past_the_connections_own_timer() -> None:
    assert call_wait(Ping(timeout=3.0), 7.0, 30.0) == 8.0
    assert call_wait(Ping(timeout=3.0), None, 30.0) == 4.0
    assert call_wait(SendMessage(to_user=PEER, body="x"), None, 30.0) == 31.0


# ---------------------------------------------------------------------- state edges


def test_a_new_supervisor_has_no_delay_and_is_not_stopped() -> None:
    sup = Supervisor(config(), jitter=lambda: 1.0)
    assert sup.next_delay() is None and sup.stopped is False and sup.connection is None
    (lost,) = sup.connect_failed("refused", now=0)
    # the first failure is attempt 1, waiting the floor (attempt 0 of the backoff)
    assert isinstance(lost, Disconnected) and (lost.attempt, lost.reconnect_in) == (1, 1.0)
    assert sup.connection is None and not sup.is_connected and sup.stopped is False


def test_a_supervisor_given_a_checkpoint_resumes_it_first() -> None:
    client = Client()
    client.login()
    checkpoint = client.conn.checkpoint()
    assert checkpoint is not None
    sup = Supervisor(config(handler_factory=ChatSession), jitter=lambda: 0.0, resume=checkpoint)
    conn = sup.new_connection()
    server = ScriptedServer(conn)
    conn.start(now=0)
    server.open_with(FEATURES_SASL)
    server.sasl_scram()
    server.open_with(FEATURES_BIND)
    assert b"<resume " in server.client_sent()


def test_a_live_session_has_no_delay() -> None:
    client = Client()
    client.login()
    assert client.sup.next_delay() is None


def test_refusals_say_why() -> None:
    client = Client()
    with pytest.raises(LocalProtocolError, match=r"^not connected$"):
        client.sup.send(Ping(), now=0)
    client.sup.terminate(now=0)
    with pytest.raises(LocalProtocolError, match=r"^the client was closed$"):
        client.sup.new_connection()
    with pytest.raises(LocalProtocolError, match=r"^the request has not been settled$"):
        answer_of(None)


def test_a_stream_error_text_is_the_disconnected_error() -> None:
    client = Client()
    client.login()
    got = client.feed(
        "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
        "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Replaced by new connection</text>"
        "</stream:error></stream:stream>"
    )
    (lost,) = [e for e in got if isinstance(e, Disconnected)]
    assert lost.error == "Replaced by new connection"
    assert lost.closed is not None and lost.closed.text == lost.error


def test_a_stopped_client_fails_what_nothing_will_answer_as_closed_locally() -> None:
    client = Client()
    client.login()
    join_id = client.sup.call(JoinDialog(dialog_id=DIALOG), now=client.now)
    got = client.sup.terminate(now=client.now)
    (outcome,) = [s for s in settled(got) if s.call_id == join_id]
    assert outcome.ok is False
    assert outcome.event == ConnectionClosed(reason=CloseReason.LOCAL)


def test_an_error_without_text_is_named_by_its_condition() -> None:
    refused = DialogJoinFailed(dialog_id=DIALOG, error=_error())
    failed = error_for(CallSettled("join:x", refused, False))
    assert type(failed) is IqError and str(failed) == "item-not-found" and failed.reason == ""


def test_backoff_with_a_zero_floor_reaches_the_cap_at_attempt_64() -> None:
    # floor * 2**attempt stays 0 with a zero floor: from attempt 64 on the step is the cap.
    assert backoff_delay(63, floor=0.0, cap=10.0, jitter=1.0) == 0.0
    assert backoff_delay(64, floor=0.0, cap=10.0, jitter=1.0) == 10.0
    assert backoff_delay(64, floor=0.0, cap=10.0, jitter=0.0) == 5.0
