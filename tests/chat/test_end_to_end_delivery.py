"""Issue 15: the end-to-end delivery mode for 1-1 chat (``ChatOptions(end_to_end=...)``).

The chat layer plugged into the real ClientConnection, logged in over a scripted,
ejabberd-shaped exchange; time is the ``now`` the test passes.  A tracked message (1-1,
``markable``, with a dialog id) is written again with its original id when its receiver's
marker does not come within the deadline, and ends with exactly one outcome:
``DeliveryConfirmed`` (a marker came) or ``DeliveryNotConfirmed`` (out of attempts).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "core"))

from scripted import (
    APP,
    FEATURES_BIND,
    FEATURES_SASL,
    HOST,
    JID,
    PEER,
    USER,
    ScriptedServer,
    config,
    drain,
    logged_in,
)

from cubeproto import (
    Checkpoint,
    CheckpointError,
    ClientConnection,
    ConnectionClosed,
    LocalProtocolError,
    MessageSent,
)
from cubeproto.chat import (
    ChatOptions,
    ChatSession,
    ConfirmationTracker,
    DeliveryConfirmed,
    DeliveryNotConfirmed,
    EndToEnd,
    JoinDialog,
    MessageBounced,
    MessageDelivered,
    MessageReceived,
    SendMessage,
)
from cubeproto.events import MessageUnconfirmed, ResumeFailed, StreamResumed
from cubeproto.reconnect import Disconnected, Supervisor

DIALOG = "6507f0a1c2b3d4e5f6a7b8c9"
DEADLINE = 10.0


def e2e_session(attempts: int = 3) -> ChatSession:
    return ChatSession(ChatOptions(end_to_end=EndToEnd(deadline=DEADLINE, max_attempts=attempts)))


def e2e_client(attempts: int = 3) -> tuple[ClientConnection, ScriptedServer]:
    return logged_in(handler_factory=lambda: e2e_session(attempts))


def one_to_one(body: str = "hi", **overrides: Any) -> SendMessage:
    fields: dict[str, Any] = dict(to_user=PEER, dialog_id=DIALOG, body=body, markable=True)
    fields.update(overrides)
    return SendMessage(**fields)


def marker(message_id: str, *, kind: str = "received", sender: int = PEER) -> str:
    return (
        f"<message from='{sender}-{APP}@{HOST}/r' to='{JID}' type='chat' id='m-{message_id}'>"
        f"<{kind} xmlns='urn:xmpp:chat-markers:0' id='{message_id}'/>"
        f"<extraParams xmlns='jabber:client'><dialog_id>{DIALOG}</dialog_id></extraParams>"
        "</message>"
    )


def of(kind: type, events: list[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def send_tracked(
    conn: ClientConnection, server: ScriptedServer, now: float = 1.0, **overrides: Any
) -> tuple[str, bytes]:
    """Send one tracked message at ``now``; its id and the bytes of its stanza."""
    mid = conn.send(one_to_one(**overrides), now=now)
    assert mid is not None
    wire = server.client_sent()
    stanza = wire[wire.index(b"<message") : wire.index(b"</message>") + len(b"</message>")]
    assert f'id="{mid}"'.encode() in stanza
    return mid, stanza


def test_deadline_fires_and_the_same_stanza_is_resent() -> None:
    conn, server = e2e_client()
    mid, stanza = send_tracked(conn, server)
    server.feed("<a xmlns='urn:xmpp:sm:3' h='3'/>")  # carbons IQ, presence, message
    events = drain(conn)
    assert of(MessageSent, events) == [MessageSent(message_id=mid)]
    assert conn.get_timer() == 1.0 + DEADLINE
    conn.handle_timer(now=1.0 + DEADLINE - 0.5)  # early: nothing
    assert server.client_sent() == b""
    conn.handle_timer(now=1.0 + DEADLINE)
    resent = server.client_sent()
    assert stanza in resent  # the very same stanza: same id, same content
    assert resent.count(b"<message") == 1
    assert conn.get_timer() == 1.0 + 2 * DEADLINE
    # The resend's stream-management ack is not a second MessageSent.
    server.feed("<a xmlns='urn:xmpp:sm:3' h='4'/>")
    events = drain(conn)
    assert of(MessageSent, events) == []
    assert of(DeliveryConfirmed, events) == of(DeliveryNotConfirmed, events) == []


def test_a_marker_confirms_and_nothing_is_resent() -> None:
    conn, server = e2e_client()
    mid, _ = send_tracked(conn, server)
    drain(conn)
    server.feed(marker(mid))
    events = drain(conn)
    assert of(DeliveryConfirmed, events) == [DeliveryConfirmed(message_id=mid, attempts=1)]
    assert conn.handler is not None
    assert conn.handler.awaiting_confirmation == 0  # type: ignore[attr-defined]
    conn.handle_timer(now=1.0 + 5 * DEADLINE)
    assert b"<message" not in server.client_sent()
    assert of(DeliveryNotConfirmed, drain(conn)) == []


def test_a_read_marker_after_a_resend_confirms_with_the_attempts_made() -> None:
    conn, server = e2e_client()
    mid, _ = send_tracked(conn, server)
    conn.handle_timer(now=1.0 + DEADLINE)
    assert b"<message" in server.client_sent()
    drain(conn)
    server.feed(marker(mid, kind="displayed"))
    assert of(DeliveryConfirmed, drain(conn)) == [DeliveryConfirmed(message_id=mid, attempts=2)]


def test_max_attempts_then_not_confirmed() -> None:
    conn, server = e2e_client(attempts=3)
    mid, stanza = send_tracked(conn, server)
    server.feed("<a xmlns='urn:xmpp:sm:3' h='3'/>")  # the server has it: the connection lives
    now = 1.0
    for h in (4, 5):
        now += DEADLINE
        conn.handle_timer(now=now)
        assert stanza in server.client_sent()
        server.feed(f"<a xmlns='urn:xmpp:sm:3' h='{h}'/>")
        assert of(DeliveryNotConfirmed, drain(conn)) == []
    now += DEADLINE
    conn.handle_timer(now=now)
    assert b"<message" not in server.client_sent()  # no fourth send
    assert of(DeliveryNotConfirmed, drain(conn)) == [
        DeliveryNotConfirmed(message_id=mid, attempts=3)
    ]
    assert conn.get_timer() is None or conn.get_timer() != now + DEADLINE
    # A marker that comes after the verdict changes nothing.
    server.feed(marker(mid))
    assert of(DeliveryConfirmed, drain(conn)) == []


def test_markers_for_unknown_ids_and_from_ourselves_are_ignored() -> None:
    conn, server = e2e_client()
    mid, stanza = send_tracked(conn, server)
    drain(conn)
    server.feed(marker("0123456789abcdef01234567"))  # never sent
    server.feed(marker(mid, sender=USER))  # our own marker (another resource's carbon)
    events = drain(conn)
    assert of(DeliveryConfirmed, events) == of(DeliveryNotConfirmed, events) == []
    assert len(of(MessageDelivered, events)) == 2  # still reported as markers
    conn.handle_timer(now=1.0 + DEADLINE)
    assert stanza in server.client_sent()  # still waiting for the receiver


@pytest.mark.parametrize(
    "command",
    [
        SendMessage(to_user=PEER, dialog_id=DIALOG, body="not markable"),
        SendMessage(to_user=PEER, body="no dialog id", markable=True),
        SendMessage(to_dialog=DIALOG, body="group", markable=True),
    ],
    ids=["not-markable", "no-dialog-id", "group"],
)
def test_only_markable_one_to_one_messages_with_a_dialog_are_tracked(
    command: SendMessage,
) -> None:
    conn, server = e2e_client()
    conn.send(command, now=1.0)
    server.client_sent()
    assert conn.get_timer() != 1.0 + DEADLINE
    conn.handle_timer(now=1.0 + 10 * DEADLINE)
    assert b"<message" not in server.client_sent()
    assert of(DeliveryNotConfirmed, drain(conn)) == []


def test_off_by_default_nothing_is_resent() -> None:
    conn, server = logged_in(handler_factory=ChatSession)
    send_tracked(conn, server)
    conn.handle_timer(now=1.0 + 10 * DEADLINE)
    assert b"<message" not in server.client_sent()


def bounce(message_id: str, condition: str = "resource-constraint") -> str:
    return (
        f"<message from='{PEER}-{APP}@{HOST}' to='{JID}' type='error' id='{message_id}'>"
        f"<error type='wait'><{condition} "
        "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
    )


def test_a_bounce_does_not_end_the_tracking() -> None:
    """A bounce may be transient (ejabberd's offline queue full while the receiver
    reconnects): the message is resent at its deadline all the same, and ends
    ``DeliveryNotConfirmed(bounced=True)`` only when out of sends."""
    conn, server = e2e_client(attempts=2)
    mid, stanza = send_tracked(conn, server)
    server.feed("<a xmlns='urn:xmpp:sm:3' h='3'/>")
    drain(conn)
    server.feed(bounce(mid))
    events = drain(conn)
    assert len(of(MessageBounced, events)) == 1
    assert of(DeliveryNotConfirmed, events) == []
    conn.handle_timer(now=1.0 + DEADLINE)
    assert stanza in server.client_sent()
    conn.handle_timer(now=1.0 + 2 * DEADLINE)
    assert of(DeliveryNotConfirmed, drain(conn)) == [
        DeliveryNotConfirmed(message_id=mid, attempts=2, bounced=True)
    ]


def test_a_marker_after_a_bounce_confirms() -> None:
    conn, server = e2e_client()
    mid, _ = send_tracked(conn, server)
    server.feed(bounce(mid))
    conn.handle_timer(now=1.0 + DEADLINE)  # resent: the receiver is back
    server.client_sent()
    server.feed(marker(mid))
    assert of(DeliveryConfirmed, drain(conn)) == [DeliveryConfirmed(message_id=mid, attempts=2)]


def reconnect(conn: ClientConnection) -> tuple[ClientConnection, ScriptedServer]:
    conn.receive_eof(now=5)
    closed = drain(conn)[-1]
    assert isinstance(closed, ConnectionClosed) and closed.resumable
    state = conn.resume_state()
    assert state is not None
    new = ClientConnection(config(), resume=state)
    server = ScriptedServer(new)
    server.now = 30.0
    new.start(now=30.0)
    server.open_with(FEATURES_SASL)
    server.sasl_scram()
    server.open_with(FEATURES_BIND)
    assert b"<resume" in server.client_sent()
    return new, server


def test_a_resend_due_while_disconnected_goes_out_on_the_fresh_session() -> None:
    conn, server = e2e_client()
    mid, stanza = send_tracked(conn, server)
    new, srv = reconnect(conn)
    # Due (11.0) while there is no session: no timer for it, nothing written.
    assert new.get_timer() is None or new.get_timer() != 1.0 + DEADLINE
    srv.feed(
        "<failed xmlns='urn:xmpp:sm:3'>"
        "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
    )
    events = drain(new)
    assert of(ResumeFailed, events) and of(MessageUnconfirmed, events)
    srv.bind()
    srv.session_setup()
    drain(new)
    srv.client_sent()
    # A session again: the overdue deadline is the next timer; the resend goes out.
    assert new.get_timer() == 1.0 + DEADLINE
    new.handle_timer(now=31.0)
    assert stanza in srv.client_sent()
    srv.feed(marker(mid))
    assert of(DeliveryConfirmed, drain(new)) == [DeliveryConfirmed(message_id=mid, attempts=2)]


def test_tracking_carries_over_a_resumption() -> None:
    conn, server = e2e_client()
    mid, stanza = send_tracked(conn, server)
    new, srv = reconnect(conn)
    srv.feed("<resumed xmlns='urn:xmpp:sm:3' h='2' previd='smid-1'/>")
    events = drain(new)
    assert of(StreamResumed, events)
    assert stanza in srv.client_sent()  # stream management's own resend of the unacked
    new.handle_timer(now=31.0)
    assert stanza in srv.client_sent()  # the end-to-end resend
    srv.feed(marker(mid))
    assert of(DeliveryConfirmed, drain(new)) == [DeliveryConfirmed(message_id=mid, attempts=2)]


# -- the receiver's side ------------------------------------------------------------


def incoming(message_id: str) -> str:
    return (
        f"<message from='{PEER}-{APP}@{HOST}/r' to='{JID}' type='chat' id='{message_id}'>"
        f"<body>b</body><extraParams xmlns='jabber:client'><dialog_id>{DIALOG}</dialog_id>"
        "<markable>1</markable></extraParams></message>"
    )


def test_the_receiver_answers_a_resent_duplicate_with_a_marker_and_reports_it_once() -> None:
    conn, server = e2e_client()
    server.feed(incoming("in-1"))
    first = drain(conn)
    sent = server.client_sent()
    assert len(of(MessageReceived, first)) == 1
    assert sent.count(b'<received xmlns="urn:xmpp:chat-markers:0" id="in-1"/>') == 1
    server.feed(incoming("in-1"))  # the sender's resend: our first marker was lost
    assert of(MessageReceived, drain(conn)) == []
    assert server.client_sent().count(b'<received xmlns="urn:xmpp:chat-markers:0" id="in-1"/>') == 1


def test_without_the_mode_a_duplicate_gets_no_second_marker() -> None:
    conn, server = logged_in(handler_factory=ChatSession)
    server.feed(incoming("in-1"))
    drain(conn)
    assert b"<received" in server.client_sent()
    server.feed(incoming("in-1"))
    assert drain(conn) == []
    assert b"<received" not in server.client_sent()


def test_settings_are_checked() -> None:
    with pytest.raises(LocalProtocolError):
        EndToEnd(deadline=0)
    with pytest.raises(LocalProtocolError):
        EndToEnd(max_attempts=0)
    with pytest.raises(LocalProtocolError):
        EndToEnd(max_pending=0)


def test_a_full_tracker_gives_the_oldest_its_verdict() -> None:
    tracker = ConfirmationTracker(EndToEnd(deadline=1.0, max_pending=2))
    assert tracker.sent("a", "<a/>", 0.0) == []
    assert tracker.sent("b", "<b/>", 0.0) == []
    assert tracker.sent("c", "<c/>", 0.0) == [DeliveryNotConfirmed(message_id="a", attempts=1)]
    assert len(tracker) == 2 and "a" not in tracker


# -- the outcome rules against an independent model ---------------------------------

IDS = [f"m{i}" for i in range(6)]

operation = st.one_of(
    st.tuples(st.just("send"), st.sampled_from(IDS)),
    st.tuples(st.just("marker"), st.sampled_from([*IDS, "unknown"])),
    st.tuples(st.just("bounce"), st.sampled_from(IDS)),
    st.tuples(st.just("wait"), st.floats(min_value=0.0, max_value=25.0)),
)


@settings(max_examples=300, deadline=None)
@given(
    ops=st.lists(operation, max_size=60),
    attempts=st.integers(min_value=1, max_value=4),
    max_pending=st.integers(min_value=1, max_value=8),
)
def test_outcomes_match_a_model(
    ops: list[tuple[str, Any]], attempts: int, max_pending: int
) -> None:
    """Every send, marker, bounce and deadline against a plain model: a message is
    resent when ``deadline`` has passed since its last send and it has sends left, and
    ends with exactly one outcome -- Confirmed on its first marker, NotConfirmed once out
    of sends or pushed out of a full tracker (``bounced`` if any send of it bounced; a
    bounce alone ends nothing)."""
    tracker = ConfirmationTracker(
        EndToEnd(deadline=DEADLINE, max_attempts=attempts, max_pending=max_pending)
    )
    model: dict[str, dict[str, Any]] = {}  # id -> {"sends", "last", "order"}
    outcomes: dict[str, list[Any]] = {}
    settled: set[str] = set()
    now = 0.0
    order = 0
    for op, arg in ops:
        got: list[Any]
        expected: list[Any] = []
        resent: list[str] = []
        expected_resent: list[str] = []
        if op == "send":
            got = tracker.sent(arg, f"<message id='{arg}'/>", now)
            if arg not in model:  # an id pending already keeps its entry
                settled.discard(arg)  # a settled id sent again is a new message
                order += 1
                model[arg] = {"sends": 1, "last": now, "order": order, "bounced": False}
                if len(model) > max_pending:
                    oldest = min(model, key=lambda k: model[k]["order"])
                    expected.append(
                        DeliveryNotConfirmed(
                            message_id=oldest,
                            attempts=model[oldest]["sends"],
                            bounced=model[oldest]["bounced"],
                        )
                    )
                    del model[oldest]
                    settled.add(oldest)
        elif op == "marker":
            got = tracker.marker(arg)
            if arg in model:
                expected.append(DeliveryConfirmed(message_id=arg, attempts=model.pop(arg)["sends"]))
                settled.add(arg)
        elif op == "bounce":
            tracker.bounced(arg)
            got = []
            if arg in model:
                model[arg]["bounced"] = True
        else:
            now += arg
            got, resends = tracker.due(now)
            resent = [mid for mid, _ in resends]
            for mid in sorted(model, key=lambda k: model[k]["order"]):
                entry = model[mid]
                if entry["last"] + DEADLINE > now:
                    continue
                if entry["sends"] >= attempts:
                    expected.append(
                        DeliveryNotConfirmed(
                            message_id=mid, attempts=entry["sends"], bounced=entry["bounced"]
                        )
                    )
                    del model[mid]
                    settled.add(mid)
                else:
                    entry["sends"] += 1
                    entry["last"] = now
                    order += 1
                    entry["order"] = order
                    expected_resent.append(mid)
            assert all(xml == f"<message id='{mid}'/>" for mid, xml in resends)
        assert sorted(got, key=repr) == sorted(expected, key=repr), (op, arg)
        assert sorted(resent) == sorted(expected_resent), (op, arg)
        for outcome in got:
            outcomes.setdefault(outcome.message_id, []).append(outcome)
        assert len(tracker) == len(model)
        assert all(tracker.attempts(mid) == entry["sends"] for mid, entry in model.items())
        due = [entry["last"] + DEADLINE for entry in model.values()]
        assert tracker.next_deadline() == (min(due) if due else None)


# -- a new process: the pending messages travel in the checkpoint --------------------


def test_a_new_process_resends_what_its_checkpoint_says_is_unconfirmed() -> None:
    conn, server = e2e_client()
    mid, stanza = send_tracked(conn, server)
    server.feed("<a xmlns='urn:xmpp:sm:3' h='3'/>")  # the server has it
    drain(conn)
    checkpoint = conn.checkpoint()
    assert checkpoint is not None
    text = checkpoint.to_json()
    # The process dies; a new one resumes from the JSON text and is refused.
    new = ClientConnection(config(handler_factory=e2e_session), resume=Checkpoint.from_json(text))
    srv = ScriptedServer(new)
    new.start(now=500.0)  # another process: another clock
    srv.now = 500.0
    srv.open_with(FEATURES_SASL)
    srv.sasl_scram()
    srv.open_with(FEATURES_BIND)
    assert b"<resume" in srv.client_sent()
    assert new.get_timer() is None or new.get_timer() >= 500.0  # no session: not due yet
    srv.feed(
        "<failed xmlns='urn:xmpp:sm:3'>"
        "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
    )
    srv.bind()
    srv.session_setup()
    drain(new)
    srv.client_sent()
    deadline = new.get_timer()
    assert deadline is not None and deadline <= 500.0  # due at once
    new.handle_timer(now=500.0)
    assert stanza in srv.client_sent()
    assert new.get_timer() == 500.0 + DEADLINE
    srv.feed(marker(mid))
    assert of(DeliveryConfirmed, drain(new)) == [DeliveryConfirmed(message_id=mid, attempts=2)]


@pytest.mark.parametrize(
    "entry",
    [
        "nope",
        [["id", "<message/>"]],
        [["", "<message/>", 1]],
        [["id", "<iq/>", 1]],
        [["id", "<message/>", 0]],
        [["id", "<message/>", True]],
    ],
)
def test_bad_end_to_end_checkpoint_state_is_refused(entry: Any) -> None:
    state = e2e_session().checkpoint_state()
    state["end_to_end"] = entry
    with pytest.raises(CheckpointError):
        e2e_session().restore_checkpoint_state(state)


def test_checkpoint_state_is_unchanged_without_the_mode() -> None:
    assert set(ChatSession().checkpoint_state()) == {"dedup", "delivery", "joined"}
    # A session not in the mode takes a checkpoint made in it (and forgets its pending).
    session = e2e_session()
    state = session.checkpoint_state()
    state["end_to_end"] = [["abc", "<message id='abc'/>", 2]]
    plain = ChatSession()
    plain.restore_checkpoint_state(state)
    assert plain.awaiting_confirmation == 0
    session.restore_checkpoint_state(state)
    assert session.awaiting_confirmation == 1


# -- a session that cannot be resumed: the Supervisor keeps the chat session ------------


def supervised(factory: Any) -> tuple[Supervisor, list[Any]]:
    return Supervisor(config(handler_factory=factory), jitter=lambda: 0.0), []


def supervised_login(sup: Supervisor, seen: list[Any], now: float) -> ScriptedServer:
    """A new transport and a fresh session *without* resumption (``<enabled/>`` with no
    ``resume``), every event passed through the supervisor into ``seen``."""
    conn = sup.new_connection()
    server = ScriptedServer(conn, now=now)
    conn.start(now=now)
    server.open_with(FEATURES_SASL)
    server.sasl_scram()
    server.open_with(FEATURES_BIND)
    server.bind()
    server.session_setup(resume=False)
    pump(sup, seen, now)
    server.client_sent()
    return server


def pump(sup: Supervisor, seen: list[Any], now: float) -> None:
    conn = sup.connection
    while conn is not None and (event := conn.next_event()) is not None:
        seen.extend(sup.process(event, now=now))


def test_the_supervisor_keeps_the_pending_messages_when_the_session_is_not_resumable() -> None:
    sup, seen = supervised(e2e_session)
    server = supervised_login(sup, seen, 0.0)
    first = sup.connection
    assert first is not None
    mid, stanza = send_tracked(first, server)
    first.receive_eof(now=2.0)  # the transport dies; nothing to resume
    pump(sup, seen, 2.0)
    lost = [e for e in seen if isinstance(e, Disconnected)]
    assert len(lost) == 1 and not lost[0].resumable
    server = supervised_login(sup, seen, 3.0)
    second = sup.connection
    assert second is not None and second is not first
    assert second.handler is first.handler  # the same chat session, its messages in it
    assert second.get_timer() == 1.0 + DEADLINE
    second.handle_timer(now=1.0 + DEADLINE)
    assert stanza in server.client_sent()
    server.feed(marker(mid))
    pump(sup, seen, 12.0)
    assert of(DeliveryConfirmed, seen) == [DeliveryConfirmed(message_id=mid, attempts=2)]


def test_without_the_mode_a_session_that_is_not_resumable_gets_a_new_chat_session() -> None:
    sup, seen = supervised(ChatSession)
    supervised_login(sup, seen, 0.0)
    first = sup.connection
    assert first is not None
    first.receive_eof(now=2.0)
    pump(sup, seen, 2.0)
    supervised_login(sup, seen, 3.0)
    assert sup.connection is not None and sup.connection.handler is not first.handler


def test_a_connection_takes_a_handler_or_a_resumption_not_both() -> None:
    conn, _ = e2e_client()
    conn.receive_eof(now=5)
    drain(conn)
    state = conn.resume_state()
    assert state is not None
    with pytest.raises(LocalProtocolError):
        ClientConnection(config(), resume=state, handler=e2e_session())


class _PlainHandler:
    """A stanza handler of the application's own, with none of the chat layer's optional
    attributes (no ``keep_across_sessions``)."""

    def handle_stanza(self, element: Any, ctx: Any) -> Any:
        return ChatSession().handle_stanza(element, ctx)

    def stanza_sent(self, command: Any, stanza: Any) -> tuple[()]:
        return ()


def test_a_handler_that_does_not_say_is_not_kept_across_sessions() -> None:
    # keep_across_sessions is opt-in: a handler without the attribute is replaced, as
    # every handler was before the end-to-end mode.
    sup, seen = supervised(_PlainHandler)
    supervised_login(sup, seen, 0.0)
    first = sup.connection
    assert first is not None and isinstance(first.handler, _PlainHandler)
    first.receive_eof(now=2.0)
    pump(sup, seen, 2.0)
    supervised_login(sup, seen, 3.0)
    assert sup.connection is not None and sup.connection.handler is not first.handler


def test_a_kept_chat_session_forgets_the_rooms_of_the_session_that_ended() -> None:
    # The old session's rooms are gone with it: the kept chat session must report the
    # re-joins (DialogJoined) again, not believe it is still in them.
    sup, seen = supervised(e2e_session)
    server = supervised_login(sup, seen, 0.0)
    first = sup.connection
    assert first is not None
    dialog = "6507f0a1c2b3d4e5f6a7b8c9"
    sup.send(JoinDialog(dialog_id=dialog), now=1.0)
    join = server.client_sent().decode()
    occupant = join.split('to="')[1].split('"')[0]
    join_id = join.split('id="')[1].split('"')[0]
    server.feed(
        f'<presence from="{occupant}" id="{join_id}">'
        '<x xmlns="http://jabber.org/protocol/muc#user"><status code="110"/></x></presence>'
    )
    pump(sup, seen, 1.0)
    session = first.handler
    assert isinstance(session, ChatSession) and session.joined_dialogs == {dialog}
    first.receive_eof(now=2.0)
    pump(sup, seen, 2.0)
    sup.new_connection()
    assert sup.connection is not None and sup.connection.handler is session  # kept
    assert session.joined_dialogs == frozenset()  # but in no room any more


def test_a_kept_chat_session_then_a_resumable_session_resumes() -> None:
    # A session that could not be resumed (its chat session kept), then one that can: the
    # next connection resumes it, and brings its own handler (none is carried along).
    sup, seen = supervised(e2e_session)
    supervised_login(sup, seen, 0.0)
    first = sup.connection
    assert first is not None
    first.receive_eof(now=2.0)
    pump(sup, seen, 2.0)
    second = sup.new_connection()
    server = ScriptedServer(second, now=3.0)
    second.start(now=3.0)
    server.open_with(FEATURES_SASL)
    server.sasl_scram()
    server.open_with(FEATURES_BIND)
    server.bind()
    server.session_setup(resume=True)
    pump(sup, seen, 3.0)
    second.receive_eof(now=4.0)
    pump(sup, seen, 4.0)
    third = sup.new_connection()  # resumes: raised when handed the kept handler too
    assert third.handler is second.handler is first.handler
