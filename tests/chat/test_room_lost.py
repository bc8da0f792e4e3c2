"""Rooms lost with a node (issue 15): a room we joined forgets us without a word (the node
hosting it was SIGKILLed), our next groupchat bounces; the session notices
(``DialogLost``) and, with ``ChatOptions(rejoin_lost_dialogs=True)``, re-joins and resends
the bounced message once with its original id.

The stanzas are the bytes ejabberd 23.01 sent on a 2-node cluster (recorded through
``wire_trace`` by an occupant on node 2 of a persistent room created through node 1,
before and after node 1 was SIGKILLed; the integration test in
tests/adapters/test_cluster.py runs the same scenario live)."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cubeproto import CheckpointError
from cubeproto.chat import (
    ROOM_LOST_CONDITIONS,
    ChatOptions,
    ChatSession,
    DeliveryStatus,
    DeliveryStatusChanged,
    DialogJoined,
    DialogJoinFailed,
    DialogLeft,
    DialogLost,
    DialogMessageResent,
    JoinDialog,
    LeaveDialog,
    MessageBounced,
    SendMessage,
)
from cubeproto.chat.rooms import DialogRooms
from cubeproto.commands import HandlerResult, OutboundStanza
from cubeproto.errors import StanzaError, StanzaErrorCondition, StanzaErrorType

from .helpers import FakeContext, parse

DIALOG = "ef892a4bb9692f215eb89ca1"
ROOM = f"42_{DIALOG}@muc.localhost"
ME = 704576036
FULL = f"{ME}-42@localhost/156518906776060413852739"

#: Our self-presence after the (re-)join: status 110 (recorded).
SELF_PRESENCE = (
    f"<presence xml:lang='en' to='{FULL}' from='{ROOM}/{ME}' id='{{join_id}}'>"
    "<x xmlns='http://jabber.org/protocol/muc#user'>"
    f"<item jid='{FULL}' role='participant' affiliation='none'/><status code='110'/></x>"
    "</presence>"
)


def bounce(message_id: str, body: str = "after", condition: str = "not-acceptable") -> str:
    """ejabberd's bounce of a groupchat from a non-occupant (recorded: the persistent room
    came back from the database on node 2, empty, after node 1 died)."""
    return (
        f"<message xml:lang='en' to='{FULL}' from='{ROOM}' type='error' id='{message_id}'>"
        f"<extraParams><save_to_history>1</save_to_history><dialog_id>{DIALOG}</dialog_id>"
        f"</extraParams><error type='modify'><{condition} "
        "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xml:lang='en' "
        "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Only occupants are allowed to send "
        f"messages to the conference</text></error><body>{body}</body></message>"
    )


class Ctx(FakeContext):
    """The recorded client: user 704576036 of app 42 on ``localhost``."""

    def __init__(self) -> None:
        super().__init__(user_id=ME)
        self.app_id = 42
        self.chat_host = "localhost"
        self.muc_host = "muc.localhost"
        self.jid = FULL


def joined(options: ChatOptions | None = None) -> tuple[ChatSession, Ctx]:
    """A session in the room (joined through its own JoinDialog, as an application does)."""
    ctx = Ctx()
    session = ChatSession(options)
    join = JoinDialog(dialog_id=DIALOG)
    stanza = join.build(ctx)
    session.stanza_sent(join, stanza)
    result = session.handle_stanza(parse(SELF_PRESENCE.format(join_id=stanza.stanza_id)), ctx)
    assert result.events == (DialogJoined(dialog_id=DIALOG),)
    return session, ctx


def send_group(session: ChatSession, ctx: Ctx, body: str = "after") -> OutboundStanza:
    message = SendMessage(to_dialog=DIALOG, body=body)
    stanza = message.build(ctx)
    session.stanza_sent(message, stanza)
    session.message_acked(stanza.stanza_id or "")  # ejabberd acks it, then bounces it
    return stanza


def on_bounce(session: ChatSession, ctx: Ctx, stanza: OutboundStanza, **kw: str) -> HandlerResult:
    assert stanza.stanza_id is not None
    return session.handle_stanza(parse(bounce(stanza.stanza_id, **kw)), ctx)


def test_a_lost_room_is_reported_and_left_by_default() -> None:
    session, ctx = joined()
    stanza = send_group(session, ctx)
    result = on_bounce(session, ctx, stanza)
    lost, bounced, failed = result.events
    assert lost == DialogLost(
        dialog_id=DIALOG,
        condition_name="not-acceptable",
        message_id=stanza.stanza_id,
        rejoining=False,
        resending=False,
    )
    assert isinstance(bounced, MessageBounced) and bounced.message_id == stanza.stanza_id
    assert bounced.error.text == "Only occupants are allowed to send messages to the conference"
    assert failed == DeliveryStatusChanged(
        message_id=stanza.stanza_id or "",
        status=DeliveryStatus.FAILED,
        previous=DeliveryStatus.SENT,
    )
    assert result.replies == ()
    assert session.joined_dialogs == frozenset()


def test_each_lost_room_condition_counts_and_no_other() -> None:
    for condition in sorted(ROOM_LOST_CONDITIONS):
        session, ctx = joined()
        first = on_bounce(session, ctx, send_group(session, ctx), condition=condition).events[0]
        assert isinstance(first, DialogLost) and first.condition_name == condition
    # forbidden (banned, silenced): the room knows us; a plain bounce, still joined
    session, ctx = joined()
    events = on_bounce(session, ctx, send_group(session, ctx), condition="forbidden").events
    assert [type(e) for e in events] == [MessageBounced, DeliveryStatusChanged]
    assert session.joined_dialogs == {DIALOG}


def test_a_bounce_from_a_room_we_are_not_in_is_a_plain_bounce() -> None:
    ctx = Ctx()
    session = ChatSession(ChatOptions(rejoin_lost_dialogs=True))
    stanza = send_group(session, ctx)
    result = on_bounce(session, ctx, stanza, condition="item-not-found")
    assert [type(e) for e in result.events] == [MessageBounced, DeliveryStatusChanged]
    assert result.replies == ()
    # from an occupant JID (a private message's bounce), not the room: plain too
    session, ctx = joined(ChatOptions(rejoin_lost_dialogs=True))
    stanza = send_group(session, ctx)
    xml = bounce(stanza.stanza_id or "").replace(f"from='{ROOM}'", f"from='{ROOM}/78'")
    result = session.handle_stanza(parse(xml), ctx)
    assert [type(e) for e in result.events] == [MessageBounced, DeliveryStatusChanged]
    assert session.joined_dialogs == {DIALOG}


def test_rejoin_then_resend_once_with_the_original_id() -> None:
    session, ctx = joined(ChatOptions(rejoin_lost_dialogs=True))
    stanza = send_group(session, ctx)
    result = on_bounce(session, ctx, stanza)
    assert result.events == (
        DialogLost(
            dialog_id=DIALOG,
            condition_name="not-acceptable",
            message_id=stanza.stanza_id,
            rejoining=True,
            resending=True,
        ),
    )
    (join,) = result.replies
    presence = parse(join.xml)
    assert presence.tag == "{jabber:client}presence"
    assert presence.get("to") == f"{ROOM}/{ME}"
    assert session.delivery_status(stanza.stanza_id or "") is DeliveryStatus.SENT  # not failed
    # the room takes us back (recorded self-presence): the held message goes out again
    rejoined = session.handle_stanza(parse(SELF_PRESENCE.format(join_id=join.stanza_id)), ctx)
    assert rejoined.events == (
        DialogJoined(dialog_id=DIALOG),
        DialogMessageResent(message_id=stanza.stanza_id or "", dialog_id=DIALOG),
    )
    assert rejoined.replies == (
        OutboundStanza(xml=stanza.xml, stanza_id=stanza.stanza_id, countable=True),
    )
    assert session.joined_dialogs == {DIALOG}
    # the resend bounces too: reported as it is, never resent a second time
    again = on_bounce(session, ctx, stanza)
    assert [type(e) for e in again.events] == [DialogLost, MessageBounced, DeliveryStatusChanged]
    assert again.events[0] == DialogLost(
        dialog_id=DIALOG,
        condition_name="not-acceptable",
        message_id=stanza.stanza_id,
        rejoining=True,
        resending=False,
    )
    assert [parse(r.xml).tag for r in again.replies] == ["{jabber:client}presence"]
    (join2,) = again.replies
    settled = session.handle_stanza(parse(SELF_PRESENCE.format(join_id=join2.stanza_id)), ctx)
    assert settled.events == (DialogJoined(dialog_id=DIALOG),) and settled.replies == ()


def test_a_refused_rejoin_reports_the_held_message_bounced() -> None:
    session, ctx = joined(ChatOptions(rejoin_lost_dialogs=True))
    stanza = send_group(session, ctx)
    (join,) = on_bounce(session, ctx, stanza, condition="item-not-found").replies
    refusal = parse(
        f"<presence from='{ROOM}/{ME}' to='{FULL}' type='error' id='{join.stanza_id}'>"
        "<x xmlns='http://jabber.org/protocol/muc'/><error code='404' type='cancel'>"
        "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
    )
    result = session.handle_stanza(refusal, ctx)
    failed, bounced, status = result.events
    assert isinstance(failed, DialogJoinFailed) and failed.dialog_id == DIALOG
    assert isinstance(bounced, MessageBounced) and bounced.message_id == stanza.stanza_id
    assert bounced.error.condition_name == "item-not-found"
    assert status == DeliveryStatusChanged(
        message_id=stanza.stanza_id or "",
        status=DeliveryStatus.FAILED,
        previous=DeliveryStatus.SENT,
    )
    assert result.replies == ()
    assert session.joined_dialogs == frozenset()


def test_leaving_while_rejoining_reports_the_held_message_bounced() -> None:
    session, ctx = joined(ChatOptions(rejoin_lost_dialogs=True))
    stanza = send_group(session, ctx)
    on_bounce(session, ctx, stanza)
    leave = LeaveDialog(dialog_id=DIALOG)
    session.stanza_sent(leave, leave.build(ctx))
    left = parse(
        f"<presence from='{ROOM}/{ME}' to='{FULL}' type='unavailable'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/>"
        "<status code='110'/></x></presence>"
    )
    result = session.handle_stanza(left, ctx)
    assert [type(e) for e in result.events] == [DialogLeft, MessageBounced, DeliveryStatusChanged]
    assert result.events[1].message_id == stanza.stanza_id  # type: ignore[attr-defined]
    assert result.replies == ()


def test_messages_bouncing_while_rejoining_are_held_together() -> None:
    session, ctx = joined(ChatOptions(rejoin_lost_dialogs=True))
    first, second = send_group(session, ctx, "one"), send_group(session, ctx, "two")
    assert len(on_bounce(session, ctx, first, body="one").replies) == 1  # the join
    meanwhile = on_bounce(session, ctx, second, body="two")
    assert meanwhile.events == () and meanwhile.replies == ()  # held, no second join
    join_id = parse(session_join_xml(ctx)).get("id")
    assert join_id is not None
    rejoined = session.handle_stanza(parse(SELF_PRESENCE.format(join_id=join_id)), ctx)
    assert [r.stanza_id for r in rejoined.replies] == [first.stanza_id, second.stanza_id]
    assert [e.message_id for e in rejoined.events if isinstance(e, DialogMessageResent)] == [
        first.stanza_id,
        second.stanza_id,
    ]


def session_join_xml(ctx: Ctx) -> str:
    """Any join presence of ours: ejabberd answers by the room and nick, not the id."""
    return JoinDialog(dialog_id=DIALOG).build(ctx).xml


def test_only_the_last_resend_window_messages_are_kept() -> None:
    session, ctx = joined(ChatOptions(rejoin_lost_dialogs=True, resend_window=2))
    old = send_group(session, ctx, "old")
    send_group(session, ctx, "b")
    send_group(session, ctx, "c")
    result = on_bounce(session, ctx, old, body="old")
    lost = result.events[0]
    assert isinstance(lost, DialogLost) and (lost.rejoining, lost.resending) == (True, False)
    assert [type(e) for e in result.events[1:]] == [MessageBounced, DeliveryStatusChanged]


def test_a_fresh_session_keeps_the_held_messages_for_the_rooms_restored_join() -> None:
    """The connection dies while re-joining; the supervisor re-joins the room on the fresh
    session (its JoinDialog command): that join resends what was held."""
    session, ctx = joined(ChatOptions(rejoin_lost_dialogs=True))
    stanza = send_group(session, ctx)
    on_bounce(session, ctx, stanza)
    session.fresh_session()
    join = JoinDialog(dialog_id=DIALOG)
    built = join.build(ctx)
    session.stanza_sent(join, built)
    rejoined = session.handle_stanza(parse(SELF_PRESENCE.format(join_id=built.stanza_id)), ctx)
    assert [r.stanza_id for r in rejoined.replies] == [stanza.stanza_id]


def test_the_supervisors_room_set_follows_the_loss() -> None:
    rooms = DialogRooms()
    rooms.settle(DialogJoined(dialog_id=DIALOG))
    keep = DialogLost(
        dialog_id=DIALOG,
        condition_name="not-acceptable",
        message_id="m",
        rejoining=True,
        resending=True,
    )
    assert rooms.settle(keep) == (f"lost:{DIALOG}", False)
    assert rooms.joined_dialogs == {DIALOG}  # re-joined after a reconnect too
    gone = DialogLost(
        dialog_id=DIALOG,
        condition_name="item-not-found",
        message_id="m",
        rejoining=False,
        resending=False,
    )
    rooms.settle(gone)
    assert rooms.joined_dialogs == frozenset()
    assert [c for c in rooms.restore()] == []


def test_a_left_room_then_bounce_is_not_a_loss() -> None:
    """We left the room ourselves (or were removed and told): a bounce is plain."""
    session, ctx = joined(ChatOptions(rejoin_lost_dialogs=True))
    stanza = send_group(session, ctx)
    gone = parse(
        f"<presence from='{ROOM}/{ME}' to='{FULL}' type='unavailable'>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/>"
        "<status code='110'/></x></presence>"
    )
    assert session.handle_stanza(gone, ctx).events == (DialogLeft(dialog_id=DIALOG),)
    result = on_bounce(session, ctx, stanza, condition="item-not-found")
    assert [type(e) for e in result.events] == [MessageBounced, DeliveryStatusChanged]
    assert result.replies == ()


CONDITIONS = st.sampled_from([*sorted(ROOM_LOST_CONDITIONS), "forbidden", "gone"])
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.integers(0, 3)),
        st.tuples(st.just("bounce"), st.integers(0, 40), CONDITIONS),
        st.tuples(st.just("join"), st.booleans()),
        st.tuples(st.just("fresh")),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(STEPS, st.booleans(), st.integers(1, 4))
def test_any_order_of_sends_bounces_and_joins(
    steps: list[tuple[object, ...]], rejoin: bool, window: int
) -> None:
    """Whatever the order: nothing raises; each message is resent at most once, only
    with the option, only after it bounced; every bounced message ends reported
    (``MessageBounced``), resent, or held while a re-join is pending; what is held stays
    within the resend window."""
    session, ctx = joined(ChatOptions(rejoin_lost_dialogs=rejoin, resend_window=window))
    sent: list[OutboundStanza] = []
    bounced: set[str] = set()
    resent: list[str] = []
    reported: set[str] = set()
    for step in steps:
        result = HandlerResult()
        if step[0] == "send":
            sent.append(send_group(session, ctx, f"m{len(sent)}"))
        elif step[0] == "bounce" and sent:
            stanza = sent[int(step[1]) % len(sent)]  # type: ignore[call-overload]
            bounced.add(stanza.stanza_id or "")
            result = on_bounce(session, ctx, stanza, condition=str(step[2]))
        elif step[0] == "join":  # the application's (or the supervisor's) join
            command = JoinDialog(dialog_id=DIALOG)
            join = command.build(ctx)
            session.stanza_sent(command, join)
            if step[1]:
                xml = SELF_PRESENCE.format(join_id=join.stanza_id)
            else:
                xml = (
                    f"<presence from='{ROOM}/{ME}' type='error' id='{join.stanza_id}'>"
                    "<error type='cancel'><item-not-found "
                    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
                )
            result = session.handle_stanza(parse(xml), ctx)
        elif step[0] == "fresh":
            session.fresh_session()
        for reply in result.replies:
            if reply.countable:
                resent.append(reply.stanza_id or "")
        for event in result.events:
            if isinstance(event, MessageBounced):
                reported.add(event.message_id or "")
    assert len(resent) == len(set(resent))
    assert set(resent) <= bounced
    if not rejoin:
        assert resent == [] and reported == bounced
    held = {h.message_id for hs in (session._rejoining or {}).values() for h in hs}
    assert bounced <= reported | set(resent) | held
    assert len(held) <= window


# -- a new process resuming while a lost room is being re-joined ----------------------


def through_a_checkpoint(session: ChatSession, options: ChatOptions) -> ChatSession:
    """What a new process has: the session's checkpoint state, through JSON, restored
    into a new ChatSession."""
    state = json.loads(json.dumps(session.checkpoint_state()))
    restored = ChatSession(options)
    restored.restore_checkpoint_state(state)
    return restored


def rejoining_after_a_bounce(
    condition: str = "not-acceptable",
) -> tuple[ChatSession, Ctx, OutboundStanza, OutboundStanza]:
    """A session that lost the room to a bounce of ``stanza`` and sent ``join``."""
    session, ctx = joined(ChatOptions(rejoin_lost_dialogs=True))
    stanza = send_group(session, ctx)
    (join,) = on_bounce(session, ctx, stanza, condition=condition).replies
    return session, ctx, stanza, join


def test_a_held_message_survives_a_checkpoint_and_is_resent_after_the_rejoin() -> None:
    session, ctx, stanza, join = rejoining_after_a_bounce()
    assert session.rejoining_dialogs == {DIALOG}
    restored = through_a_checkpoint(session, ChatOptions(rejoin_lost_dialogs=True))
    assert restored.rejoining_dialogs == {DIALOG} and restored.joined_dialogs == frozenset()
    # the resumed session delivers the room's answer to the old process's join
    rejoined = restored.handle_stanza(parse(SELF_PRESENCE.format(join_id=join.stanza_id)), ctx)
    assert rejoined.events == (
        DialogJoined(dialog_id=DIALOG),
        DialogMessageResent(message_id=stanza.stanza_id or "", dialog_id=DIALOG),
    )
    assert rejoined.replies == (
        OutboundStanza(xml=stanza.xml, stanza_id=stanza.stanza_id, countable=True),
    )
    assert restored.joined_dialogs == {DIALOG} and restored.rejoining_dialogs == frozenset()
    assert "rejoining" not in restored.checkpoint_state()


def test_a_held_message_restored_from_a_checkpoint_is_reported_when_the_rejoin_is_refused() -> None:
    session, ctx, stanza, join = rejoining_after_a_bounce("item-not-found")
    restored = through_a_checkpoint(session, ChatOptions(rejoin_lost_dialogs=True))
    refusal = parse(
        f"<presence from='{ROOM}/{ME}' to='{FULL}' type='error' id='{join.stanza_id}'>"
        "<error code='404' type='cancel'>"
        "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
    )
    failed, bounced, status = restored.handle_stanza(refusal, ctx).events
    assert isinstance(failed, DialogJoinFailed)
    # the bounce the old process held, as it arrived there
    assert bounced == MessageBounced(
        message_id=stanza.stanza_id,
        from_jid=ROOM,
        error=StanzaError(
            condition=StanzaErrorCondition.ITEM_NOT_FOUND,
            condition_name="item-not-found",
            type=StanzaErrorType.MODIFY,
            text="Only occupants are allowed to send messages to the conference",
        ),
    )
    assert status == DeliveryStatusChanged(
        message_id=stanza.stanza_id or "",
        status=DeliveryStatus.FAILED,
        previous=DeliveryStatus.SENT,
    )


def test_a_room_being_rejoined_is_adopted_by_the_client_that_resumes_it() -> None:
    session, _, _, _ = rejoining_after_a_bounce()
    rooms = DialogRooms()
    rooms.adopt(through_a_checkpoint(session, ChatOptions(rejoin_lost_dialogs=True)))
    assert rooms.joined_dialogs == {DIALOG}
    assert list(rooms.restore()) == [JoinDialog(dialog_id=DIALOG)]


def _held(**changes: object) -> dict[str, object]:
    held: dict[str, object] = {
        "message_id": "m1",
        "xml": f"<message type='groupchat' to='{ROOM}' id='m1'><body>x</body></message>",
        "from": ROOM,
        "error": {"condition": "not-acceptable", "type": "modify", "text": None, "code": None},
    }
    held.update(changes)
    return held


@pytest.mark.parametrize(
    ("rejoining", "complaint"),
    [
        ({}, "must be a list"),
        ([{"dialog": DIALOG}], "with dialog and held"),
        ([{"dialog": "", "held": []}], "dialog must be a dialog id"),
        ([{"dialog": DIALOG, "held": {}}], "held must be a list"),
        ([{"dialog": DIALOG, "held": [_held(message_id="")]}], "message_id"),
        ([{"dialog": DIALOG, "held": [_held(xml="<presence/>")]}], "is not one of <message/>"),
        ([{"dialog": DIALOG, "held": [_held(xml="<message/><message/>")]}], "not one stanza"),
        ([{"dialog": DIALOG, "held": [_held(**{"from": 7})]}], "from must be"),
        ([{"dialog": DIALOG, "held": [_held(error={"condition": "x"})]}], "error must be"),
        (
            [{"dialog": DIALOG, "held": [_held(error={**_held()["error"], "code": -1})]}],  # type: ignore[dict-item]
            "code",
        ),
    ],
)
def test_a_malformed_rejoining_state_is_refused_and_nothing_restored(
    rejoining: object, complaint: str
) -> None:
    state = {"dedup": ["seen"], "delivery": [], "joined": ["other"], "rejoining": rejoining}
    session = ChatSession(ChatOptions(rejoin_lost_dialogs=True))
    with pytest.raises(CheckpointError, match=re.escape(complaint)):
        session.restore_checkpoint_state(state)
    assert session.joined_dialogs == frozenset() and session.rejoining_dialogs == frozenset()
    assert session.checkpoint_state() == {"dedup": [], "delivery": [], "joined": []}


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300)
@given(rejoining=_json, held=st.dictionaries(st.sampled_from(sorted(_held())), _json, max_size=4))
def test_any_rejoining_state_is_restored_or_refused_with_a_checkpoint_error(
    rejoining: object, held: dict[str, object]
) -> None:
    for data in (rejoining, [{"dialog": DIALOG, "held": [_held(**held)]}]):
        session = ChatSession(ChatOptions(rejoin_lost_dialogs=True))
        state = {"dedup": [], "delivery": [], "joined": [], "rejoining": data}
        try:
            session.restore_checkpoint_state(state)
        except CheckpointError:
            continue
        if data and len(data) == 1:  # type: ignore[arg-type]
            # one room accepted: written back as it was read
            assert session.checkpoint_state()["rejoining"] == data
