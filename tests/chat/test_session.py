"""ChatSession: receipts, duplicates, joins, delivery status; the delivery machine."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from cubeproto.chat import (
    ChatOptions,
    ChatSession,
    DedupWindow,
    DeliveryStatus,
    DeliveryStatusChanged,
    DeliveryTracker,
    DialogJoined,
    DialogJoinFailed,
    DialogLeft,
    JoinDialog,
    LeaveDialog,
    MessageBounced,
    MessageReceived,
    OccupantJoined,
    OccupantKicked,
    OccupantLeft,
    SendMessage,
    SetClientState,
)
from cubeproto.errors import StanzaErrorCondition

from .helpers import APP, GROUP, MUC, PEER, FakeContext, deliver, parse

ORDER = list(DeliveryStatus)


def incoming(message_id: str, *, dialog: bool = True, sender: int = PEER) -> object:
    ext = (
        f'<extraParams xmlns="jabber:client"><dialog_id>{GROUP}</dialog_id></extraParams>'
        if dialog
        else ""
    )
    return parse(
        f'<message from="{sender}-{APP}@chat.connectycube.com/R" type="chat" id="{message_id}">'
        f"<body>b</body>{ext}</message>"
    )


def test_auto_receipt_only_for_foreign_messages_with_a_dialog() -> None:
    ctx = FakeContext()
    session = ChatSession()
    assert len(session.handle_stanza(incoming("a"), ctx).replies) == 1
    assert session.handle_stanza(incoming("b", dialog=False), ctx).replies == ()
    assert session.handle_stanza(incoming("c", sender=777), ctx).replies == ()
    off = ChatSession(ChatOptions(auto_delivered_receipts=False))
    assert off.handle_stanza(incoming("a"), ctx).replies == ()


def test_duplicates_are_reported_once() -> None:
    ctx = FakeContext()
    session = ChatSession()
    first = session.handle_stanza(incoming("dup"), ctx)
    again = session.handle_stanza(incoming("dup"), ctx)
    assert [type(e) for e in first.events] == [MessageReceived]
    assert again.events == () and again.replies == ()


@given(
    st.lists(st.text(alphabet="abcdef", min_size=1, max_size=4), max_size=300), st.integers(1, 20)
)
def test_dedup_window_stays_bounded(ids: list[str], size: int) -> None:
    window = DedupWindow(size)
    for key in ids:
        window.first_time(key)
        assert len(window) <= size
    if ids:
        assert ids[-1] in window


def test_dedup_window_forgets_the_oldest() -> None:
    window = DedupWindow(2)
    assert window.first_time("a") and window.first_time("b") and window.first_time("c")
    assert window.first_time("a")  # forgotten, so reported again
    assert not window.first_time("c")


def _presence(nick: int, *codes: int, type_: str | None = None, extra: str = "") -> object:
    status = "".join(f'<status code="{c}"/>' for c in codes)
    t = f' type="{type_}"' if type_ else ""
    return parse(
        f'<presence from="{APP}_{GROUP}@{MUC}/{nick}"{t}>'
        f'<x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="member" '
        f'role="participant">{extra}</item>{status}</x></presence>'
    )


def test_join_leave_and_occupants() -> None:
    ctx = FakeContext()
    session = ChatSession()
    join = JoinDialog(dialog_id=GROUP)
    stanza = join.build(ctx)
    assert stanza.stanza_id is not None and stanza.stanza_id.endswith(":join")
    assert parse(stanza.xml).get("to") == f"{APP}_{GROUP}@{MUC}/777"
    session.stanza_sent(join, stanza)
    assert session.handle_stanza(_presence(78), ctx).events == (
        OccupantJoined(dialog_id=GROUP, user_id=78),
    )
    assert session.handle_stanza(_presence(777, 110), ctx).events == (
        DialogJoined(dialog_id=GROUP),
    )
    assert session.joined_dialogs == {GROUP}
    assert session.handle_stanza(_presence(777, 110), ctx).events == ()  # repeated
    assert session.handle_stanza(_presence(78, type_="unavailable"), ctx).events == (
        OccupantLeft(dialog_id=GROUP, user_id=78),
    )
    leave = LeaveDialog(dialog_id=GROUP)
    leave_xml = parse(leave.build(ctx).xml)
    assert (leave_xml.get("type"), leave_xml.get("to")) == (
        "unavailable",
        f"{APP}_{GROUP}@{MUC}/777",
    )
    session.stanza_sent(leave, leave.build(ctx))
    assert session.handle_stanza(_presence(777, 110, type_="unavailable"), ctx).events == (
        DialogLeft(dialog_id=GROUP),
    )
    assert session.joined_dialogs == frozenset()


def test_kicks_with_both_codes_and_the_actor() -> None:
    ctx = FakeContext()
    session = ChatSession()
    actor = '<actor jid="1-105@chat.connectycube.com"/><reason>spam</reason>'
    (kick,) = session.handle_stanza(
        _presence(78, 307, type_="unavailable", extra=actor), ctx
    ).events
    assert kick == OccupantKicked(
        dialog_id=GROUP, user_id=78, code=307, actor="1-105@chat.connectycube.com", reason="spam"
    )
    events = session.handle_stanza(_presence(777, 301, 110, type_="unavailable"), ctx).events
    assert events == (
        OccupantKicked(dialog_id=GROUP, user_id=777, code=301, actor=None, reason=None),
        DialogLeft(dialog_id=GROUP),
    )


def test_join_error_is_typed() -> None:
    ctx = FakeContext()
    session = ChatSession()
    join = JoinDialog(dialog_id=GROUP)
    stanza = join.build(ctx)
    session.stanza_sent(join, stanza)
    error = parse(
        f'<presence from="{APP}_{GROUP}@{MUC}/777" type="error" id="{stanza.stanza_id}">'
        '<x xmlns="http://jabber.org/protocol/muc"/><error code="403" type="auth">'
        '<forbidden xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></presence>'
    )
    (event,) = session.handle_stanza(error, ctx).events
    assert isinstance(event, DialogJoinFailed) and event.dialog_id == GROUP
    assert event.error.condition is StanzaErrorCondition.FORBIDDEN and event.error.code == 403


def test_delivery_statuses_through_the_session() -> None:
    ctx = FakeContext()
    session = ChatSession()
    command = SendMessage(to_user=PEER, body="hi", dialog_id=GROUP)
    stanza = command.build(ctx)
    mid = stanza.stanza_id
    assert mid is not None
    assert session.stanza_sent(command, stanza) == [
        DeliveryStatusChanged(message_id=mid, status=DeliveryStatus.QUEUED, previous=None)
    ]
    assert [e.status for e in session.message_acked(mid)] == [DeliveryStatus.SENT]
    assert session.message_acked(mid) == []
    peer = FakeContext(user_id=PEER)
    from cubeproto.chat import MarkerKind, SendMarker

    read = SendMarker(kind=MarkerKind.DISPLAYED, message_id=mid, to_user=777, dialog_id=GROUP)
    events = session.handle_stanza(
        deliver(read.build(peer), f"{PEER}-{APP}@chat.connectycube.com/P"), ctx
    ).events
    assert [(type(e).__name__, getattr(e, "status", None)) for e in events] == [
        ("MessageRead", None),
        ("DeliveryStatusChanged", DeliveryStatus.DELIVERED),
        ("DeliveryStatusChanged", DeliveryStatus.READ),
    ]
    assert session.delivery_status(mid) is DeliveryStatus.READ


def test_bounce_fails_the_message() -> None:
    ctx = FakeContext()
    session = ChatSession()
    command = SendMessage(to_user=PEER, body="hi")
    stanza = command.build(ctx)
    session.stanza_sent(command, stanza)
    bounce = parse(
        f'<message from="{PEER}-{APP}@chat.connectycube.com" type="error" id="{stanza.stanza_id}">'
        '<error code="503" type="cancel"><service-unavailable '
        'xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></message>'
    )
    events = session.handle_stanza(bounce, ctx).events
    assert isinstance(events[0], MessageBounced) and events[0].message_id == stanza.stanza_id
    assert events[1] == DeliveryStatusChanged(
        message_id=stanza.stanza_id, status=DeliveryStatus.FAILED, previous=DeliveryStatus.QUEUED
    )


def test_client_state_mode_from_options() -> None:
    csi = FakeContext(features=frozenset({"urn:xmpp:csi:0"}))
    auto = ChatSession().client_state(False)
    assert auto == SetClientState(active=False, mode="auto")
    assert auto.build(csi).xml == '<inactive xmlns="urn:xmpp:csi:0"/>'
    assert auto.build(csi).stanza_id is None
    mobile = ChatSession(ChatOptions(mark_active_mode="mobile")).client_state(True).build(csi)
    assert (
        'enable="false"' in mobile.xml
        and mobile.stanza_id
        and mobile.stanza_id.endswith(":markActive")
    )


class DeliveryMachine(RuleBasedStateMachine):
    """No interleaving of acks, losses, markers, bounces and resends moves a message back."""

    def __init__(self) -> None:
        super().__init__()
        self.tracker = DeliveryTracker(size=8)
        self.last: dict[str, DeliveryStatus] = {}

    ids = st.sampled_from([f"m{i}" for i in range(12)])

    def _apply(self, mid: str, events: list[DeliveryStatusChanged]) -> None:
        for event in events:
            assert event.message_id == mid
            before = self.last.get(mid)
            assert event.previous == before
            if before is not None:
                assert ORDER.index(event.status) > ORDER.index(before)
            self.last[mid] = event.status

    @rule(mid=ids)
    def queue(self, mid: str) -> None:
        events = self.tracker.queued(mid)
        if events:
            self.last.pop(mid, None)  # forgotten by the window, tracked afresh
        self._apply(mid, events)

    @rule(
        mid=ids,
        status=st.sampled_from([s for s in DeliveryStatus if s is not DeliveryStatus.QUEUED]),
    )
    def advance(self, mid: str, status: DeliveryStatus) -> None:
        before = self.tracker.status(mid)
        events = self.tracker.advance(mid, status)
        self._apply(mid, events)
        if before is None or ORDER.index(status) <= ORDER.index(before):
            assert events == []
        else:
            assert events[-1].status is status
            if status is DeliveryStatus.READ and ORDER.index(before) < ORDER.index(
                DeliveryStatus.DELIVERED
            ):
                assert [e.status for e in events] == [DeliveryStatus.DELIVERED, DeliveryStatus.READ]
            else:
                assert len(events) == 1

    @precondition(lambda self: bool(self.last))
    @invariant()
    def bounded_and_consistent(self) -> None:
        assert len(self.tracker) <= 8
        for mid, status in self.last.items():
            current = self.tracker.status(mid)
            assert current is None or current is status


TestDeliveryMachine = DeliveryMachine.TestCase
TestDeliveryMachine.settings = settings(max_examples=200, stateful_step_count=60)


@given(st.text(alphabet="0123456789abcdefABCDEF", min_size=1, max_size=30), st.integers(1, 10**9))
def test_join_and_leave_round_trip(dialog: str, me: int) -> None:
    ctx = FakeContext(user_id=me)
    session = ChatSession()
    join = JoinDialog(dialog_id=dialog)
    stanza = join.build(ctx)
    session.stanza_sent(join, stanza)
    presence = parse(stanza.xml)
    occupant = presence.get("to")
    # the room localpart is PRECIS-case-mapped; events keep the application's spelling
    assert occupant == f"{APP}_{dialog.lower()}@{MUC}/{me}"
    assert presence[0][0].get("maxstanzas") == "0"
    answer = parse(
        f'<presence from="{occupant}" id="{presence.get("id")}">'
        '<x xmlns="http://jabber.org/protocol/muc#user"><status code="110"/></x></presence>'
    )
    assert session.handle_stanza(answer, ctx).events == (DialogJoined(dialog_id=dialog),)
    leave = LeaveDialog(dialog_id=dialog)
    session.stanza_sent(leave, leave.build(ctx))
    answer.set("type", "unavailable")
    assert session.handle_stanza(answer, ctx).events == (DialogLeft(dialog_id=dialog),)
