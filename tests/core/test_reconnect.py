"""cubeproto.reconnect: the backoff policy (properties) and the Supervisor's decisions,
driven with real ClientConnection objects against the ejabberd-shaped scripted server.

No adapter and no clock: each "transport" is a fresh ScriptedServer, a loss is the
connection's own ``receive_eof``, time is the ``now`` argument.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree
from scripted import (
    APP,
    FEATURES_BIND,
    FEATURES_SASL,
    HOST,
    JID,
    USER,
    ScriptedServer,
    config,
)

from cubeproto import (
    Checkpoint,
    CloseReason,
    Connected,
    ConnectionClosed,
    MessageLost,
    MessageSent,
    MessageUnconfirmed,
    Ping,
    PingTimedOut,
    PongReceived,
    ResumeFailed,
)
from cubeproto._connection import ClientConnection
from cubeproto.chat import ChatSession, DialogJoined, DialogJoinFailed, JoinDialog, SendMessage
from cubeproto.errors import LocalProtocolError
from cubeproto.events import Event
from cubeproto.reconnect import (
    CallSettled,
    Disconnected,
    Endpoint,
    Reconnected,
    ReconnectPolicy,
    Supervisor,
    backoff_delay,
)

DIALOG = "6507f0a1c2b3d4e5f6a7b8c9"
ROOM = f"{APP}_{DIALOG}@muc.{HOST}/{USER}"
PEER = 1002

# ---------------------------------------------------------------------- backoff_delay

floats = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)
jitters = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
attempts = st.integers(min_value=0, max_value=10_000)


@given(attempt=attempts, jitter=jitters, floor=floats, extra=floats)
def test_delay_within_floor_cap_and_jitter_band(
    attempt: int, jitter: float, floor: float, extra: float
) -> None:
    cap = floor + extra
    delay = backoff_delay(attempt, floor=floor, cap=cap, jitter=jitter)
    base = cap if attempt >= 64 else min(cap, floor * 2.0**attempt)
    assert floor <= delay <= cap
    # "equal jitter": the upper half of the step (but never under the floor)
    assert max(floor, base / 2) * (1 - 1e-12) <= delay <= base * (1 + 1e-12)


@given(attempt=st.integers(min_value=0, max_value=200), jitter=jitters)
def test_delay_never_shrinks_as_attempts_grow(attempt: int, jitter: float) -> None:
    now = backoff_delay(attempt, floor=1.0, cap=300.0, jitter=jitter)
    later = backoff_delay(attempt + 1, floor=1.0, cap=300.0, jitter=jitter)
    assert later >= now


@given(jitter=jitters)
def test_default_bounds_floor_1s_cap_5min(jitter: float) -> None:
    policy = ReconnectPolicy()
    assert (policy.floor, policy.cap) == (1.0, 300.0)
    assert backoff_delay(0, floor=policy.floor, cap=policy.cap, jitter=jitter) == 1.0
    assert 150.0 <= backoff_delay(9, floor=1.0, cap=300.0, jitter=jitter) <= 300.0
    assert 150.0 <= backoff_delay(10_000, floor=1.0, cap=300.0, jitter=jitter) <= 300.0


def test_delay_doubles_then_stops_at_the_cap() -> None:
    top = [backoff_delay(a, floor=1.0, cap=300.0, jitter=1.0) for a in range(11)]
    assert top == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    bottom = [backoff_delay(a, floor=1.0, cap=300.0, jitter=0.0) for a in range(11)]
    assert bottom == [1, 1, 2, 4, 8, 16, 32, 64, 128, 150, 150]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"attempt": -1, "floor": 1.0, "cap": 2.0, "jitter": 0.5},
        {"attempt": 0, "floor": 1.0, "cap": 2.0, "jitter": 1.5},
        {"attempt": 0, "floor": 1.0, "cap": 2.0, "jitter": -0.1},
        {"attempt": 0, "floor": 1.0, "cap": 2.0, "jitter": math.nan},
        {"attempt": 0, "floor": -1.0, "cap": 2.0, "jitter": 0.5},
        {"attempt": 0, "floor": 3.0, "cap": 2.0, "jitter": 0.5},
    ],
)
def test_delay_rejects_misuse(kwargs: dict[str, Any]) -> None:
    kwargs = dict(kwargs)  # the parameter is shared by every run of this test: keep it whole
    attempt = kwargs.pop("attempt")
    with pytest.raises(LocalProtocolError):
        backoff_delay(attempt, **kwargs)


@pytest.mark.parametrize(
    "kwargs", [{"floor": -1.0}, {"floor": 5.0, "cap": 4.0}, {"max_attempts": -1}]
)
def test_policy_validates(kwargs: dict[str, Any]) -> None:
    with pytest.raises(LocalProtocolError):
        ReconnectPolicy(**kwargs)


# ---------------------------------------------------------------------- the Supervisor


class Client:
    """A Supervisor plus the "adapter" duties, done by hand: one ScriptedServer per
    transport, every connection event passed through ``process``."""

    def __init__(
        self,
        policy: ReconnectPolicy | None = None,
        jitter: float = 0.0,
        *,
        resume: Checkpoint | None = None,
    ) -> None:
        self.sup = Supervisor(
            config(handler_factory=ChatSession), policy, jitter=lambda: jitter, resume=resume
        )
        self.out: list[Event | CallSettled] = []
        self.now = 0.0
        self.server: ScriptedServer | None = None

    @property
    def conn(self) -> ClientConnection:
        assert self.sup.connection is not None
        return self.sup.connection

    def pump(self) -> list[Event | CallSettled]:
        """Pass the live connection's events through the supervisor; return what it
        reported (also kept in ``out``)."""
        got: list[Event | CallSettled] = []
        conn = self.sup.connection
        while conn is not None and (event := conn.next_event()) is not None:
            got.extend(self.sup.process(event, now=self.now))
        self.out.extend(got)
        return got

    def open(self) -> ScriptedServer:
        """A new transport: the supervisor's next connection, started, up to SASL."""
        conn = self.sup.new_connection()
        self.server = server = ScriptedServer(conn, now=self.now)
        conn.start(now=self.now)
        server.open_with(FEATURES_SASL)
        server.sasl_scram()
        server.open_with(FEATURES_BIND)
        return server

    def login(self, *, resume: bool = True) -> list[Event | CallSettled]:
        server = self.open()
        server.bind()
        server.session_setup(resume=resume)
        got = self.pump()
        server.client_sent()
        return got

    def fresh_session(self, server: ScriptedServer) -> list[Event | CallSettled]:
        """The server binds a new resource and sets up a session that cannot be resumed
        later; return what the supervisor reported."""
        server.bind()
        server.session_setup()
        return self.pump()

    def refuse_resumption(self, server: ScriptedServer) -> list[Event | CallSettled]:
        """The server answers the client's ``<resume/>`` with ``item-not-found``."""
        assert b"<resume" in server.client_sent()
        server.feed(
            "<failed xmlns='urn:xmpp:sm:3'>"
            "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
        )
        return self.pump()

    def rejoined(self) -> None:
        """The room answers the supervisor's automatic re-join: DIALOG is joined again."""
        self.answer_join()
        assert of(DialogJoined, self.pump()) == [DialogJoined(dialog_id=DIALOG)]
        assert self.sup.joined_dialogs == {DIALOG}

    def lose(self) -> Disconnected:
        """The transport dies under the connection."""
        self.now += 1
        self.conn.receive_eof(now=self.now)
        got = self.pump()
        assert isinstance(got[-1], Disconnected), got
        return got[-1]

    def join(self, dialog_id: str = DIALOG) -> str:
        call_id = self.sup.call(JoinDialog(dialog_id=dialog_id), now=self.now)
        assert call_id is not None
        self.answer_join()
        return call_id

    def answer_join(self) -> None:
        """The room's self-presence for the join the client just sent."""
        assert self.server is not None
        sent = stanzas(self.server.client_sent())
        (presence,) = [s for s in sent if s.tag.endswith("presence") and s.get("to") == ROOM]
        self.server.feed(
            f"<presence from='{ROOM}' to='{JID}' id='{presence.get('id')}'>"
            "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' "
            "role='participant'/><status code='110'/></x></presence>"
        )


def stanzas(data: bytes) -> list[etree._Element]:
    return list(etree.fromstring(b'<s xmlns="jabber:client">' + data + b"</s>"))


def of(kind: type[Any], items: Sequence[object]) -> list[Any]:
    return [i for i in items if isinstance(i, kind)]


def test_first_connection_reports_connected_not_reconnected() -> None:
    client = Client()
    got = client.login()
    assert of(Connected, got) == [Connected(jid=JID, resumed=False)]
    assert of(Reconnected, got) == []
    assert client.sup.is_connected and not client.sup.stopped


def test_lost_connection_is_resumed_first_and_nothing_is_rejoined() -> None:
    client = Client()
    client.login()
    client.join()
    assert client.pump()[-1] == CallSettled(f"join:{DIALOG}", DialogJoined(dialog_id=DIALOG), True)
    mid = client.sup.send(SendMessage(to_user=PEER, body="x"), now=client.now)
    assert client.server is not None
    client.server.client_sent()

    lost = client.lose()
    assert lost.resumable and lost.reconnect_in == 1.0 and lost.attempt == 1
    assert client.sup.next_delay() == 1.0 and not client.sup.is_connected

    server = client.open()
    assert b"<resume" in server.client_sent()
    server.feed("<resumed xmlns='urn:xmpp:sm:3' h='4' previd='smid-1'/>")
    got = client.pump()
    assert of(Reconnected, got) == [Reconnected(jid=JID, resumed=True)]
    assert of(MessageSent, got) == [MessageSent(message_id=str(mid))]
    assert ROOM.encode() not in server.client_sent()  # the room survived with the session
    assert client.sup.joined_dialogs == {DIALOG}


def test_refused_resumption_binds_fresh_and_rejoins_with_dialog_joined_again() -> None:
    client = Client()
    client.login()
    client.join()
    client.pump()
    mid = client.sup.send(SendMessage(to_user=PEER, body="x"), now=client.now)
    client.lose()

    server = client.open()
    got = client.refuse_resumption(server)
    assert ResumeFailed(condition_name="item-not-found") in got
    # Issue 12: <failed/> without h proves nothing: the message's fate is unknown.
    assert of(MessageLost, got) == []
    assert of(MessageUnconfirmed, got) == [MessageUnconfirmed(message_id=str(mid))]
    got = client.fresh_session(server)
    assert of(Reconnected, got) == [Reconnected(jid=JID, resumed=False)]
    client.answer_join()  # the supervisor re-sent the join; the room answers
    got = client.pump()
    assert of(DialogJoined, got) == [DialogJoined(dialog_id=DIALOG)]
    assert of(CallSettled, got) == []  # nobody waits for an automatic re-join
    assert client.sup.joined_dialogs == {DIALOG}


def test_a_refused_rejoin_drops_the_room_from_those_rejoined_later() -> None:
    # The server said we are not in the room: it is no longer among the joined dialogs,
    # and the next fresh session does not ask again (before: every fresh session re-sent
    # the join, and every one was refused again).  The application was told and decides.
    client = Client()
    client.login(resume=False)
    client.join()
    client.pump()
    client.lose()
    server = client.open()
    client.fresh_session(server)
    sent = stanzas(server.client_sent())
    (presence,) = [s for s in sent if s.tag.endswith("presence") and s.get("to") == ROOM]
    server.feed(
        f"<presence from='{ROOM}' to='{JID}' type='error' id='{presence.get('id')}'>"
        "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        "</error></presence>"
    )
    got = client.pump()
    assert [e.dialog_id for e in of(DialogJoinFailed, got)] == [DIALOG]
    assert client.sup.joined_dialogs == set()
    client.lose()
    server = client.open()
    client.refuse_resumption(server)
    assert of(Reconnected, client.fresh_session(server)) == [Reconnected(jid=JID, resumed=False)]
    assert ROOM.encode() not in server.client_sent()


def test_unresumable_session_gets_a_fresh_one_with_dialogs_rejoined() -> None:
    client = Client()
    client.login(resume=False)
    client.join()
    client.pump()
    lost = client.lose()
    assert not lost.resumable and lost.reconnect_in == 1.0
    server = client.open()
    got = client.fresh_session(server)
    assert of(Reconnected, got) == [Reconnected(jid=JID, resumed=False)]
    client.answer_join()
    assert of(DialogJoined, client.pump()) == [DialogJoined(dialog_id=DIALOG)]


def checkpoint_in_the_room() -> Checkpoint:
    """The checkpoint of a process that joined DIALOG."""
    first = Client()
    first.login()
    first.join()
    first.pump()
    checkpoint = first.conn.checkpoint()
    assert checkpoint is not None
    return checkpoint


def test_a_process_resuming_a_checkpoint_rejoins_its_rooms_after_a_later_fresh_session() -> None:
    # The rooms joined by the process that wrote the checkpoint are the new process's
    # too: resumed, it is still in them (nothing is re-sent), and when a later loss
    # cannot be resumed, the fresh session re-joins them as it would its own.
    checkpoint = checkpoint_in_the_room()

    client = Client(resume=checkpoint)
    server = client.open()
    assert b"<resume" in server.client_sent()
    h = checkpoint.outbound_h  # the server had them all
    server.feed(f"<resumed xmlns='urn:xmpp:sm:3' h='{h}' previd='smid-1'/>")
    assert of(Connected, client.pump()) == [Connected(jid=JID, resumed=True)]
    assert ROOM.encode() not in server.client_sent()
    assert client.sup.joined_dialogs == {DIALOG}

    client.lose()
    server = client.open()
    client.refuse_resumption(server)
    assert of(Reconnected, client.fresh_session(server)) == [Reconnected(jid=JID, resumed=False)]
    client.rejoined()


def test_a_checkpoint_whose_session_is_gone_gets_a_fresh_one_with_its_rooms_rejoined() -> None:
    checkpoint = checkpoint_in_the_room()

    client = Client(resume=checkpoint)
    server = client.open()
    client.refuse_resumption(server)
    # the first connection of this process: Connected, and the old process's room joined
    assert of(Connected, client.fresh_session(server)) == [Connected(jid=JID, resumed=False)]
    client.rejoined()


def test_rejoin_can_be_switched_off() -> None:
    client = Client(ReconnectPolicy(rejoin_dialogs=False))
    client.login(resume=False)
    client.join()
    client.pump()
    client.lose()
    server = client.open()
    client.fresh_session(server)
    assert ROOM.encode() not in server.client_sent()


def test_authentication_failure_stops_retrying() -> None:
    client = Client()
    client.login()
    client.lose()
    conn = client.sup.new_connection()
    server = ScriptedServer(conn)
    conn.start(now=client.now)
    server.open_with(FEATURES_SASL)
    server.client_sent()
    server.feed("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>")
    got = client.pump()
    lost = of(Disconnected, got)[-1]
    assert lost.closed is not None and lost.closed.reason is CloseReason.AUTH_FAILED
    assert lost.reconnect_in is None
    assert client.sup.stopped and client.sup.next_delay() is None
    with pytest.raises(LocalProtocolError):
        client.sup.new_connection()


def test_conflict_stops_retrying() -> None:
    client = Client()
    client.login()
    assert client.server is not None
    client.server.feed(
        "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
        "</stream:error></stream:stream>"
    )
    lost = of(Disconnected, client.pump())[-1]
    assert lost.reconnect_in is None and client.sup.stopped


def test_failed_attempts_back_off_until_max_attempts() -> None:
    client = Client(ReconnectPolicy(max_attempts=4), jitter=1.0)
    client.login()
    delays = [client.lose().reconnect_in]
    for _ in range(5):
        (lost,) = client.sup.connect_failed("refused", now=client.now)
        assert isinstance(lost, Disconnected) and lost.error == "refused"
        delays.append(lost.reconnect_in)
    assert delays == [1.0, 2.0, 4.0, 8.0, None, None]
    assert client.sup.stopped


def test_a_successful_connection_resets_the_backoff() -> None:
    client = Client(jitter=1.0)
    client.login(resume=False)
    client.lose()
    client.sup.connect_failed("refused", now=client.now)
    assert client.sup.next_delay() == 2.0
    client.login()
    assert client.lose().reconnect_in == 1.0


def test_disabled_policy_stops_after_the_first_loss() -> None:
    client = Client(ReconnectPolicy(enabled=False))
    client.login()
    assert client.lose().reconnect_in is None and client.sup.stopped


def test_close_settles_waiting_calls_and_stops() -> None:
    client = Client()
    client.login()
    ping_id = client.sup.call(Ping(timeout=5.0), now=client.now)
    join_id = client.sup.call(JoinDialog(dialog_id=DIALOG), now=client.now)
    assert ping_id is not None and join_id is not None
    assert client.sup.close(now=client.now) == []
    assert client.server is not None
    assert client.server.client_sent().endswith(b"</stream:stream>")
    client.server.feed("</stream:stream>")
    got = client.pump()
    lost = of(Disconnected, got)[-1]
    assert lost.reconnect_in is None and client.sup.stopped
    settled = {s.call_id: s for s in of(CallSettled, got)}
    assert len(of(CallSettled, got)) == len(settled) == 2  # each exactly once
    assert not settled[ping_id].ok and isinstance(settled[ping_id].event, PingTimedOut)
    # Nothing on the wire answers a join: the supervisor fails it itself.
    assert not settled[join_id].ok and isinstance(settled[join_id].event, ConnectionClosed)


def test_ping_call_is_settled_by_its_pong_and_others_pass_through() -> None:
    client = Client()
    client.login()
    assert client.server is not None
    ping_id = client.sup.call(Ping(timeout=5.0), now=client.now)
    client.server.client_sent()
    client.server.feed(f"<iq type='result' id='{ping_id}' from='{HOST}' to='{JID}'/>")
    (settled,) = client.pump()
    assert isinstance(settled, CallSettled) and settled.ok and settled.call_id == ping_id
    assert isinstance(settled.event, PongReceived)
    other = client.sup.send(Ping(timeout=5.0), now=client.now)  # not awaited
    client.server.client_sent()
    client.server.feed(f"<iq type='result' id='{other}' from='{HOST}' to='{JID}'/>")
    (event,) = client.pump()
    assert isinstance(event, PongReceived) and event.ping_id == other


def test_terminate_between_connections_reports_unacked_messages_unconfirmed() -> None:
    client = Client()
    client.login()
    mid = client.sup.send(SendMessage(to_user=PEER, body="x"), now=client.now)
    client.lose()
    got = client.sup.terminate(now=client.now)
    # Issue 12: an abandoned session's unacked message is unconfirmed, not lost.
    assert [e.message_id for e in of(MessageUnconfirmed, got)] == [mid]
    assert of(MessageLost, got) == []
    assert client.sup.stopped and client.sup.next_delay() is None


def test_send_without_a_session_is_refused() -> None:
    client = Client()
    with pytest.raises(LocalProtocolError):
        client.sup.send(Ping(), now=0)
    client.login()
    client.lose()
    with pytest.raises(LocalProtocolError):
        client.sup.call(Ping(), now=0)


def test_a_first_failure_is_final_when_the_client_does_not_retry_it() -> None:
    """The clients' connect() raises a first failure: with retry_first=False the
    Disconnected says so (no reconnect_in that no one will honour); after one session,
    losses are retried as the policy says."""
    sup = Supervisor(config(), jitter=lambda: 0.0, retry_first=False)
    (lost,) = sup.connect_failed("connection refused", now=0)
    assert isinstance(lost, Disconnected)
    assert lost.reconnect_in is None and sup.stopped
    retried = Supervisor(config(), jitter=lambda: 0.0)
    (again,) = retried.connect_failed("connection refused", now=0)
    assert isinstance(again, Disconnected) and again.reconnect_in == 1.0
    assert not retried.stopped


NODES = (Endpoint("node1.test", 5222), Endpoint("node2.test", 5222), Endpoint("node3.test", 15222))


def test_endpoints_spread_by_jitter_and_fail_over_in_order() -> None:
    """The first endpoint is drawn (clients spread over the nodes); a failed attempt moves
    on, round robin; without endpoints there is none."""
    assert Supervisor(config(), jitter=lambda: 0.0).endpoint is None
    assert Supervisor(config(), jitter=lambda: 0.0, endpoints=NODES).endpoint == NODES[0]
    assert Supervisor(config(), jitter=lambda: 0.5, endpoints=NODES).endpoint == NODES[1]
    assert Supervisor(config(), jitter=lambda: 0.9999, endpoints=NODES).endpoint == NODES[2]
    sup = Supervisor(config(), jitter=lambda: 0.5, endpoints=NODES)
    seen = []
    for _ in range(4):
        seen.append(sup.endpoint)
        sup.connect_failed("connection refused", now=0)
    assert seen == [NODES[1], NODES[2], NODES[0], NODES[1]]
    assert str(NODES[2]) == "node3.test:15222"


def test_a_lost_session_is_retried_on_its_node_a_failed_attempt_is_not() -> None:
    client = Client()
    client.sup = Supervisor(
        config(handler_factory=ChatSession), jitter=lambda: 0.0, endpoints=NODES
    )
    client.login()
    client.lose()  # the session was up there: the next attempt goes to the same node
    assert client.sup.endpoint == NODES[0]
    client.open()  # the attempt gets as far as binding, and the node goes away
    client.lose()
    assert client.sup.endpoint == NODES[1]
    client.sup.connect_failed("connection refused", now=client.now)
    assert client.sup.endpoint == NODES[2]


def test_a_first_connection_tries_every_endpoint_before_its_failure_is_final() -> None:
    """retry_first=False (the clients' connect()): the next endpoint is tried at once
    (RFC 6120 3.2.1 tries the SRV targets in turn); each Disconnected names the endpoint
    that failed, and the last one is final."""
    sup = Supervisor(config(), jitter=lambda: 0.0, retry_first=False, endpoints=NODES)
    lost = [sup.connect_failed("connection refused", now=0)[0] for _ in NODES]
    assert all(isinstance(d, Disconnected) for d in lost)
    assert [d.endpoint for d in lost] == list(NODES)  # type: ignore[attr-defined]
    assert [d.reconnect_in for d in lost] == [0.0, 0.0, None]  # type: ignore[attr-defined]
    assert sup.stopped


def test_use_endpoints_sets_the_order_between_connections() -> None:
    sup = Supervisor(config(), jitter=lambda: 0.9999)
    sup.use_endpoints(NODES)
    assert sup.endpoint == NODES[0]  # the order is meant: not drawn at random
    sup.use_endpoints(())
    assert sup.endpoint == NODES[0]  # nothing found: what was there stays
    sup.new_connection()
    with pytest.raises(LocalProtocolError, match="between connections"):
        sup.use_endpoints(NODES[1:])


def test_failed_everywhere_counts_failures_since_the_last_ready_session() -> None:
    """What tells a client with DNS SRV to look again: as many failures (lost sessions
    or failed attempts) in a row as there are endpoints, since a session was ready."""
    client = Client()
    client.sup = Supervisor(
        config(handler_factory=ChatSession), jitter=lambda: 0.0, endpoints=NODES[:2]
    )
    client.login()
    assert not client.sup.failed_everywhere
    client.lose()
    assert not client.sup.failed_everywhere  # one of two
    client.sup.connect_failed("connection refused", now=client.now)
    assert client.sup.failed_everywhere
    client.sup.use_endpoints([NODES[2]])  # looked again: a new list, a new count
    assert not client.sup.failed_everywhere and client.sup.endpoint == NODES[2]
    server = client.open()
    assert b"<resume" in server.client_sent()
    server.feed("<resumed xmlns='urn:xmpp:sm:3' h='0' previd='smid-1'/>")
    assert of(Reconnected, client.pump()) == [Reconnected(jid=JID, resumed=True)]
    assert not client.sup.failed_everywhere
    # without endpoints, the one server: every failure is a failure everywhere
    single = Supervisor(config(), jitter=lambda: 0.0)
    single.connect_failed("connection refused", now=0)
    assert single.failed_everywhere


@pytest.mark.parametrize("stop", ["terminate", "close"])
def test_a_final_disconnect_never_promises_a_resumption(stop: str) -> None:
    """``resumable`` says whether the next attempt resumes; when the client stops there is
    no next attempt (before: terminate() reported resumable=True and then abandoned the
    session)."""
    client = Client()
    client.login()
    if stop == "terminate":
        got = client.sup.terminate(now=client.now)
    else:
        client.sup.close(now=client.now)
        assert client.server is not None
        client.server.client_sent()
        client.server.feed("</stream:stream>")
        got = client.pump()
    (lost,) = of(Disconnected, got)
    assert lost.reconnect_in is None and not lost.resumable
    assert client.sup.stopped


def test_policy_disabled_loss_is_final_and_not_resumable() -> None:
    client = Client(ReconnectPolicy(enabled=False))
    client.login()
    lost = client.lose()
    assert lost.reconnect_in is None and not lost.resumable
