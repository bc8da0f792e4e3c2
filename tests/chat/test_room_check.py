"""The periodic room check (XEP-0410 self-ping, issue 15): a client that only listens
notices a room that forgot it.

The answers are the bytes ejabberd 23.01 sent to a self-ping (recorded through
``wire_trace`` on the single test node, user 906478477 of app 42): ``result`` while
joined; ``not-acceptable`` after the room's process was killed and the persistent room
restored empty (what a node kill does to a room in the cluster); ``item-not-found`` after
the same kill of a non-persistent room (gone).  The session is the recorded client
(tests/chat/test_room_lost.py's context), re-addressed to that user."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cubeproto.chat import (
    ChatOptions,
    ChatSession,
    DialogJoined,
    DialogLeft,
    DialogLost,
    DialogMessageResent,
    JoinDialog,
    LeaveDialog,
)
from cubeproto.chat.rooms import DialogRooms
from cubeproto.commands import HandlerResult, OutboundStanza
from cubeproto.errors import LocalProtocolError
from cubeproto.events import UnhandledStanza

from .helpers import parse
from .test_room_lost import DIALOG, FULL, ME, ROOM, SELF_PRESENCE, Ctx, joined

OCCUPANT = f"{ROOM}/{ME}"


def result_answer(iq_id: str) -> str:
    """ejabberd's answer while we are an occupant (its self-ping optimization)."""
    return f"<iq xml:lang='en' to='{FULL}' from='{OCCUPANT}' type='result' id='{iq_id}'/>"


def error_answer(iq_id: str, condition: str = "not-acceptable", etype: str = "modify") -> str:
    """ejabberd's error answer: ``not-acceptable`` from a room that no longer counts us
    (recorded after the room's process was killed and the room restored empty);
    ``item-not-found`` (``cancel``) from a room that no longer exists."""
    text = {
        "not-acceptable": "Only occupants are allowed to send queries to the conference",
        "item-not-found": "Conference room does not exist",
    }.get(condition, "whatever")
    return (
        f"<iq xml:lang='en' to='{FULL}' from='{OCCUPANT}' type='error' id='{iq_id}'>"
        f"<ping xmlns='urn:xmpp:ping'/><error type='{etype}'><{condition} "
        "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xml:lang='en' "
        f"xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>{text}</text></error></iq>"
    )


INTERVAL = 60.0


def checking(rejoin: bool = False) -> tuple[ChatSession, Ctx]:
    """A session in the room with room checks every INTERVAL, its schedule started at 0."""
    session, ctx = joined(ChatOptions(room_check_interval=INTERVAL, rejoin_lost_dialogs=rejoin))
    assert session.next_deadline() == -math.inf  # the first call learns what now is
    assert session.deadline_reached(0.0, ctx) == HandlerResult()
    assert session.next_deadline() == INTERVAL
    return session, ctx


def check_round(session: ChatSession, ctx: Ctx, now: float = INTERVAL) -> OutboundStanza:
    """The round due at ``now``: one self-ping, to our own occupant JID."""
    result = session.deadline_reached(now, ctx)
    assert result.events == ()
    (ping,) = result.replies
    assert ping.stanza_id is not None and ping.stanza_id.endswith(":selfping")
    assert ping.xml == (
        f'<iq type="get" id="{ping.stanza_id}" to="{OCCUPANT}"><ping xmlns="urn:xmpp:ping"/></iq>'
    )
    assert ping.kind == "iq" and not ping.countable and ping.result_parser is None
    return ping


def answer(session: ChatSession, ctx: Ctx, xml: str) -> HandlerResult:
    return session.handle_stanza(parse(xml), ctx)


def test_off_by_default_no_deadline_no_ping() -> None:
    session, ctx = joined()
    assert session.options.room_check_interval is None
    assert session.next_deadline() is None
    assert session.deadline_reached(1e9, ctx) == HandlerResult()


def test_the_option_is_validated() -> None:
    for bad in (0, -1.0, math.inf, math.nan, "60"):
        with pytest.raises(LocalProtocolError, match="room_check_interval"):
            ChatOptions(room_check_interval=bad)  # type: ignore[arg-type]
    assert ChatOptions(room_check_interval=30).room_check_interval == 30


def test_a_room_that_still_counts_us_reports_nothing_and_is_checked_each_interval() -> None:
    session, ctx = checking()
    assert session.deadline_reached(INTERVAL - 1, ctx) == HandlerResult()  # early: nothing
    ping = check_round(session, ctx)
    assert session.next_deadline() == 2 * INTERVAL
    result = answer(session, ctx, result_answer(ping.stanza_id or ""))
    assert result == HandlerResult()  # consumed: no IQ result leaks to the application
    assert session.joined_dialogs == {DIALOG}
    again = check_round(session, ctx, 2 * INTERVAL)
    assert again.stanza_id != ping.stanza_id


def test_not_acceptable_is_a_lost_room() -> None:
    session, ctx = checking()
    ping = check_round(session, ctx)
    result = answer(session, ctx, error_answer(ping.stanza_id or ""))
    assert result.events == (
        DialogLost(
            dialog_id=DIALOG,
            condition_name="not-acceptable",
            message_id=None,
            rejoining=False,
            resending=False,
            detected_by="room_check",
        ),
    )
    assert result.replies == ()
    assert session.joined_dialogs == frozenset()
    assert session.next_deadline() is None  # in no room: never woken up
    # a room the application was told it lost is not checked any more
    assert session.deadline_reached(10 * INTERVAL, ctx) == HandlerResult()


def test_item_not_found_is_a_lost_room() -> None:
    session, ctx = checking()
    ping = check_round(session, ctx)
    (lost,) = answer(session, ctx, error_answer(ping.stanza_id or "", "item-not-found")).events
    assert isinstance(lost, DialogLost) and lost.condition_name == "item-not-found"
    assert lost.detected_by == "room_check"


@pytest.mark.parametrize("condition", ["service-unavailable", "feature-not-implemented"])
def test_a_client_without_ping_means_still_joined(condition: str) -> None:
    session, ctx = checking()
    ping = check_round(session, ctx)
    result = answer(session, ctx, error_answer(ping.stanza_id or "", condition, "cancel"))
    assert result == HandlerResult()
    assert session.joined_dialogs == {DIALOG}


@pytest.mark.parametrize(
    "condition", ["remote-server-not-found", "remote-server-timeout", "forbidden", "bad-request"]
)
def test_any_other_error_is_unknown_and_reports_nothing(condition: str) -> None:
    session, ctx = checking()
    ping = check_round(session, ctx)
    assert answer(session, ctx, error_answer(ping.stanza_id or "", condition)) == HandlerResult()
    assert session.joined_dialogs == {DIALOG}
    check_round(session, ctx, 2 * INTERVAL)  # checked again


def test_no_answer_is_unknown_and_a_late_answer_judges_nothing() -> None:
    session, ctx = checking()
    first = check_round(session, ctx)
    second = check_round(session, ctx, 2 * INTERVAL)  # the first went unanswered
    assert session.joined_dialogs == {DIALOG}
    # the first's late answer is swallowed (not an unknown IQ), and says nothing
    assert answer(session, ctx, error_answer(first.stanza_id or "")) == HandlerResult()
    assert session.joined_dialogs == {DIALOG}
    # the second's answer still counts
    (lost,) = answer(session, ctx, error_answer(second.stanza_id or "")).events
    assert isinstance(lost, DialogLost)


def test_an_answer_from_elsewhere_is_not_the_checks() -> None:
    """RFC 6120 10.1: an answer counts only from where the request went; a forged
    not-acceptable from another JID with our id is an unknown IQ, not a loss."""
    session, ctx = checking()
    ping = check_round(session, ctx)
    forged = error_answer(ping.stanza_id or "").replace(f"from='{OCCUPANT}'", "from='evil@x/y'")
    (event,) = answer(session, ctx, forged).events
    assert isinstance(event, UnhandledStanza)
    assert session.joined_dialogs == {DIALOG}


def test_lost_with_rejoin_joins_again_and_checks_resume() -> None:
    session, ctx = checking(rejoin=True)
    ping = check_round(session, ctx)
    result = answer(session, ctx, error_answer(ping.stanza_id or ""))
    (lost,) = result.events
    assert lost == DialogLost(
        dialog_id=DIALOG,
        condition_name="not-acceptable",
        message_id=None,
        rejoining=True,
        resending=False,
        detected_by="room_check",
    )
    (join,) = result.replies
    assert join.kind == "presence" and f'to="{OCCUPANT}"' in join.xml
    assert "<history maxstanzas=" in join.xml
    settled = session.handle_stanza(parse(SELF_PRESENCE.format(join_id=join.stanza_id)), ctx)
    assert settled.events == (DialogJoined(dialog_id=DIALOG),)  # nothing to resend
    assert not any(isinstance(e, DialogMessageResent) for e in settled.events)
    assert session.joined_dialogs == {DIALOG}
    check_round(session, ctx, 2 * INTERVAL)  # re-joined: checked again


def test_the_supervisor_keeps_a_room_being_rejoined_and_drops_one_lost() -> None:
    for rejoin in (True, False):
        session, ctx = checking(rejoin=rejoin)
        rooms = DialogRooms()
        rooms.settle(DialogJoined(dialog_id=DIALOG))
        ping = check_round(session, ctx)
        (lost,) = answer(session, ctx, error_answer(ping.stanza_id or "")).events
        rooms.settle(lost)
        assert rooms.joined_dialogs == ({DIALOG} if rejoin else frozenset())


def test_a_room_left_is_not_checked_and_a_check_in_flight_says_nothing() -> None:
    session, ctx = checking()
    ping = check_round(session, ctx)
    leave = LeaveDialog(dialog_id=DIALOG)
    session.stanza_sent(leave, leave.build(ctx))
    # the room answers the check after our leave: not an occupant; that is no loss
    assert answer(session, ctx, error_answer(ping.stanza_id or "")) == HandlerResult()
    left = (
        f"<presence to='{FULL}' from='{OCCUPANT}' type='unavailable'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'>"
        "<item affiliation='none' role='none'/><status code='110'/></x></presence>"
    )
    assert session.handle_stanza(parse(left), ctx).events == (DialogLeft(dialog_id=DIALOG),)
    assert session.next_deadline() is None
    assert session.deadline_reached(5 * INTERVAL, ctx) == HandlerResult()


def test_a_leave_sent_stops_the_checks_before_the_room_answers_it() -> None:
    """Between our leave and the room's answer the room is still joined for the session
    (``DialogLeft`` settles it), but it is not checked; joined again, it is."""
    session, ctx = checking()
    leave = LeaveDialog(dialog_id=DIALOG)
    session.stanza_sent(leave, leave.build(ctx))
    assert session.joined_dialogs == {DIALOG}
    assert session.deadline_reached(INTERVAL, ctx) == HandlerResult()
    join = JoinDialog(dialog_id=DIALOG)
    stanza = join.build(ctx)
    session.stanza_sent(join, stanza)
    # the leave's answer, then the join's (the room keeps their order)
    left = (
        f"<presence to='{FULL}' from='{OCCUPANT}' type='unavailable'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'>"
        "<item affiliation='none' role='none'/><status code='110'/></x></presence>"
    )
    session.handle_stanza(parse(left), ctx)
    session.handle_stanza(parse(SELF_PRESENCE.format(join_id=stanza.stanza_id)), ctx)
    check_round(session, ctx, 2 * INTERVAL)


def test_a_loss_found_by_a_bounce_voids_the_check_in_flight() -> None:
    from .test_room_lost import on_bounce, send_group

    session, ctx = checking(rejoin=True)
    ping = check_round(session, ctx)
    bounced = on_bounce(session, ctx, send_group(session, ctx))
    assert [type(e) for e in bounced.events] == [DialogLost]
    # the check's not-acceptable answer arrives after: the same loss, not reported twice
    assert answer(session, ctx, error_answer(ping.stanza_id or "")) == HandlerResult()


def test_a_fresh_session_restarts_the_schedule() -> None:
    session, ctx = checking()
    ping = check_round(session, ctx)
    session.fresh_session()
    assert session.next_deadline() is None  # in no room until the re-joins settle
    join = JoinDialog(dialog_id=DIALOG)
    stanza = join.build(ctx)
    session.stanza_sent(join, stanza)
    session.handle_stanza(parse(SELF_PRESENCE.format(join_id=stanza.stanza_id)), ctx)
    assert session.next_deadline() == -math.inf
    assert session.deadline_reached(1000.0, ctx) == HandlerResult()  # starts the schedule
    assert session.next_deadline() == 1000.0 + INTERVAL
    # an answer to a check sent on the old session is nobody's now
    (event,) = answer(session, ctx, error_answer(ping.stanza_id or "")).events
    assert isinstance(event, UnhandledStanza)
    assert session.joined_dialogs == {DIALOG}


def test_end_to_end_deadlines_and_checks_share_the_one_deadline() -> None:
    from cubeproto.chat import EndToEnd, SendMessage

    options = ChatOptions(room_check_interval=INTERVAL, end_to_end=EndToEnd(deadline=10.0))
    session, ctx = joined(options)
    session.deadline_reached(0.0, ctx)
    message = SendMessage(to_user=7, dialog_id="d1", body="hi", markable=True)
    stanza = message.build(ctx)
    session.stanza_sent_at(message, stanza, 5.0)
    assert session.next_deadline() == 15.0  # the resend first
    resend = session.deadline_reached(15.0, ctx)
    assert [r.xml for r in resend.replies] == [stanza.xml]
    assert session.next_deadline() == 25.0
    session.deadline_reached(25.0, ctx)
    session.deadline_reached(35.0, ctx)  # the message is out of attempts now
    assert session.next_deadline() == INTERVAL
    (ping,) = session.deadline_reached(INTERVAL, ctx).replies
    assert ping.stanza_id is not None and ping.stanza_id.endswith(":selfping")


_CONDITIONS = st.sampled_from(
    [
        "not-acceptable",
        "item-not-found",
        "service-unavailable",
        "feature-not-implemented",
        "forbidden",
        "remote-server-timeout",
        "undefined-condition",
        "gone",
        "",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    itype=st.sampled_from(["result", "error", "get", "set", "weird", None]),
    condition=_CONDITIONS,
    sender=st.sampled_from([OCCUPANT, OCCUPANT.upper(), ROOM, f"{ROOM}/1", "", None]),
    same_id=st.booleans(),
    children=st.lists(
        st.sampled_from(
            [
                "<ping xmlns='urn:xmpp:ping'/>",
                "<error/>",
                "<error type='x'><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>",
                "<query xmlns='jabber:iq:last' seconds='x'/>",
                "junk",
            ]
        ),
        max_size=3,
    ),
    rejoin=st.booleans(),
)
def test_any_answer_shape_never_raises_and_never_a_false_loss(
    itype: str | None,
    condition: str,
    sender: str | None,
    same_id: bool,
    children: list[str],
    rejoin: bool,
) -> None:
    """Whatever comes back with (or without) a check's id, the session does not raise,
    and ``DialogLost`` comes only from an error answer of the pinged JID whose condition
    says not-an-occupant."""
    session, ctx = checking(rejoin=rejoin)
    ping = check_round(session, ctx)
    iq_id = ping.stanza_id if same_id else "other-id"
    type_attr = f" type='{itype}'" if itype is not None else ""
    from_attr = f" from='{sender}'" if sender is not None else ""
    error = (
        f"<error type='modify'><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
        if condition
        else ""
    )
    xml = f"<iq{type_attr} id='{iq_id}'{from_attr} to='{FULL}'>{''.join(children)}{error}</iq>"
    result = answer(session, ctx, xml)
    lost = [e for e in result.events if isinstance(e, DialogLost)]
    truly_lost = (
        same_id
        and itype == "error"
        and sender is not None
        and sender.lower() == OCCUPANT.lower()
        and condition in ("not-acceptable", "item-not-found")
        and "<error" not in "".join(children)  # the first <error> child is the one read
    )
    if truly_lost:
        assert lost and lost[0].detected_by == "room_check"
        assert lost[0].condition_name == condition
    else:
        assert lost == []


_OPS = st.lists(
    st.sampled_from(
        ["tick", "answer-lost", "answer-joined", "answer-old-lost", "leave", "join", "fresh"]
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(ops=_OPS, rejoin=st.booleans())
@example(ops=["tick", "leave", "join", "answer-lost"], rejoin=False)  # a stale check's answer
@example(ops=["tick", "tick", "answer-old-lost"], rejoin=True)  # a late answer
@example(ops=["tick", "fresh", "join", "tick", "tick", "answer-lost"], rejoin=True)
def test_any_sequence_reports_a_loss_only_for_a_live_check_of_a_joined_room(
    ops: list[str], rejoin: bool
) -> None:
    """Rounds, answers (to the newest check or an older one), leaves, joins and fresh
    sessions in any order: nothing raises, a ``DialogLost`` from a check comes only from
    the answer to the newest round's check of a room we were in (and not left since), at
    most two checks per room are remembered, and a session in no room has no deadline."""
    session, ctx = checking(rejoin=rejoin)
    now = 0.0
    sent: list[str] = []  # check ids, oldest first
    live: str | None = None  # the newest round's check, while it still counts
    in_room = True
    started = True  # checking() started the schedule; a fresh session restarts it
    for op in ops:
        if op == "tick":
            now += INTERVAL
            result = session.deadline_reached(now, ctx)
            assert result.events == ()
            pings = [r.stanza_id for r in result.replies if r.kind == "iq"]
            assert len(pings) == (1 if in_room and started else 0), (ops, op)
            started = started or in_room
            if pings:
                assert pings[0] is not None
                sent.append(pings[0])
                live = pings[0]
        elif op.startswith("answer") and sent:
            iq_id = sent[-1] if op != "answer-old-lost" else sent[0]
            xml = result_answer(iq_id) if op == "answer-joined" else error_answer(iq_id)
            result = answer(session, ctx, xml)
            losses = [e for e in result.events if isinstance(e, DialogLost)]
            if losses:
                assert op != "answer-joined" and iq_id == live and in_room, (ops, op)
                assert losses[0].detected_by == "room_check"
                in_room = False
                if rejoin:  # the re-join settles at once
                    (join,) = result.replies
                    session.handle_stanza(parse(SELF_PRESENCE.format(join_id=join.stanza_id)), ctx)
                    in_room = True
            if iq_id == live:
                live = None
        elif op == "leave" and in_room:
            leave = LeaveDialog(dialog_id=DIALOG)
            session.stanza_sent(leave, leave.build(ctx))
            left = (
                f"<presence to='{FULL}' from='{OCCUPANT}' type='unavailable'>"
                "<x xmlns='http://jabber.org/protocol/muc#user'>"
                "<item affiliation='none' role='none'/><status code='110'/></x></presence>"
            )
            session.handle_stanza(parse(left), ctx)
            in_room, live = False, None
        elif op == "join" and not in_room:
            join = JoinDialog(dialog_id=DIALOG)
            stanza = join.build(ctx)
            session.stanza_sent(join, stanza)
            session.handle_stanza(parse(SELF_PRESENCE.format(join_id=stanza.stanza_id)), ctx)
            in_room = True
        elif op == "fresh":
            session.fresh_session()
            in_room, live, started = False, None, False
        checks = session._checks
        assert checks is not None and len(checks) <= 2
        if not session.joined_dialogs:
            assert session.next_deadline() is None
