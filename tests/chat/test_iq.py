"""IQ commands and their result parsers: online users, last activity, client state,
privacy lists; IQs nobody consumed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from cubeproto.chat import (
    ChatSession,
    ClientStateChanged,
    DeletePrivacyList,
    GetLastActivity,
    GetOnlineUsers,
    GetPrivacyList,
    GetPrivacyListNames,
    LastActivity,
    LastActivitySubscriptionChanged,
    OnlineUsers,
    PrivacyAction,
    PrivacyDefaultChanged,
    PrivacyItem,
    PrivacyListDeleted,
    PrivacyListNames,
    PrivacyListReceived,
    PrivacyListSaved,
    SetClientState,
    SetDefaultPrivacyList,
    SetPrivacyList,
    SubscribeLastActivity,
    merge_privacy_update,
)
from cubeproto.commands import UNSTATED
from cubeproto.errors import LocalProtocolError
from cubeproto.events import UnhandledStanza

from .helpers import APP, GROUP, MUC, FakeContext, parse

ALLOW, DENY = PrivacyAction.ALLOW, PrivacyAction.DENY


def _answer(request_xml: str, payload: str = "") -> object:
    request = parse(request_xml)
    return parse(f'<iq type="result" id="{request.get("id")}">{payload}</iq>')


def test_online_users() -> None:
    ctx = FakeContext()
    stanza = GetOnlineUsers(dialog_id=GROUP).build(ctx)
    request = parse(stanza.xml)
    assert (request.get("type"), request.get("to")) == ("get", f"{APP}_{GROUP}@{MUC}")
    assert request[0].tag == "{http://jabber.org/protocol/disco#items}query"
    assert stanza.result_parser is not None and stanza.timeout
    answer = _answer(
        stanza.xml,
        '<query xmlns="http://jabber.org/protocol/disco#items">'
        f'<item jid="{APP}_{GROUP}@{MUC}/78" name="78"/>'
        f'<item jid="{APP}_{GROUP}@{MUC}/777" name="777"/></query>',
    )
    assert stanza.result_parser(answer) == OnlineUsers(dialog_id=GROUP, user_ids=(78, 777))
    with pytest.raises(ValueError):
        stanza.result_parser(
            _answer(
                stanza.xml,
                '<query xmlns="http://jabber.org/protocol/disco#items">'
                '<item jid="x@y/bob"/></query>',
            )
        )


@given(st.integers(min_value=0, max_value=2**63))
def test_last_activity_round_trip(seconds: int) -> None:
    stanza = GetLastActivity(user_id=55).build(FakeContext())
    request = parse(stanza.xml)
    assert request.get("to") == f"55-{APP}@chat.connectycube.com"
    assert request[0].tag == "{jabber:iq:last}query"
    assert stanza.result_parser is not None
    answer = _answer(stanza.xml, f'<query xmlns="jabber:iq:last" seconds="{seconds}"/>')
    assert stanza.result_parser(answer) == LastActivity(user_id=55, seconds=seconds)


@pytest.mark.parametrize("payload", ["", '<query xmlns="jabber:iq:last" seconds="x"/>'])
def test_bad_last_activity_answers_raise_value_error(payload: str) -> None:
    stanza = GetLastActivity(user_id=55).build(FakeContext())
    assert stanza.result_parser is not None
    with pytest.raises(ValueError):
        stanza.result_parser(_answer(stanza.xml, payload))


@pytest.mark.parametrize("enable", [True, False])
def test_status_streaming(enable: bool) -> None:
    stanza = SubscribeLastActivity(user_id=55, enable=enable).build(FakeContext())
    sub = parse(stanza.xml)[0]
    assert sub.tag == "{https://connectycube.com/protocol/status_streaming}subscribe"
    assert sub.get("user_jid") == f"55-{APP}@chat.connectycube.com"
    assert sub.get("enable") == ("true" if enable else "false")
    assert stanza.stanza_id and stanza.stanza_id.endswith(":statusStreaming")
    assert stanza.result_parser is not None
    assert stanza.result_parser(_answer(stanza.xml)) == LastActivitySubscriptionChanged(
        user_id=55, enabled=enable
    )


@pytest.mark.parametrize("itype", ["set", "get", "result"])
def test_pushed_last_activity(itype: str) -> None:
    push = parse(
        f'<iq type="{itype}" id="p1" from="55-{APP}@chat.connectycube.com">'
        '<query xmlns="jabber:iq:last" seconds="42"/></iq>'
    )
    result = ChatSession().handle_stanza(push, FakeContext())
    assert result.events == (LastActivity(user_id=55, seconds=42),)
    if itype == "result":
        assert result.replies == ()
    else:
        (reply,) = result.replies
        answer = parse(reply.xml)
        assert (answer.get("type"), answer.get("id"), answer.get("to")) == (
            "result",
            "p1",
            f"55-{APP}@chat.connectycube.com",
        )


@pytest.mark.parametrize(
    ("payload", "condition"),
    [
        ('<foo xmlns="urn:x"/>', "service-unavailable"),
        ("", "bad-request"),
        ('<a xmlns="urn:x"/><b xmlns="urn:x"/>', "bad-request"),
    ],
)
def test_unknown_iq_requests_are_answered_with_an_error(payload: str, condition: str) -> None:
    iq = parse(f'<iq type="get" id="q&amp;1" from="5-105@c/R">{payload}</iq>')
    result = ChatSession().handle_stanza(iq, FakeContext())
    assert isinstance(result.events[0], UnhandledStanza)
    (reply,) = result.replies
    answer = parse(reply.xml)
    assert (answer.get("type"), answer.get("id"), answer.get("to")) == ("error", "q&1", "5-105@c/R")
    assert answer[0][0].tag == f"{{urn:ietf:params:xml:ns:xmpp-stanzas}}{condition}"


def test_client_state_iq() -> None:
    for active, enable in ((True, "false"), (False, "true")):
        stanza = SetClientState(active=active, mode="mobile").build(FakeContext())
        mobile = parse(stanza.xml)[0]
        assert mobile.tag == "{http://tigase.org/protocol/mobile#v2}mobile"
        assert mobile.get("enable") == enable
        assert stanza.result_parser is not None
        assert stanza.result_parser(_answer(stanza.xml)) == ClientStateChanged(active=active)
    csi = SetClientState(active=True, mode="csi").build(FakeContext())
    assert csi.xml == '<active xmlns="urn:xmpp:csi:0"/>' and csi.result_parser is None


# --- privacy lists -----------------------------------------------------------------------

REFERENCE_LIST = (
    '<list name="myList">'
    '<item type="jid" value="18-105@chat.connectycube.com" action="allow" order="1">'
    "<message/><presence-in/><presence-out/><iq/></item>"
    '<item type="jid" value="muc.chat.connectycube.com/18" action="allow" order="2">'
    "<message/><presence-in/><presence-out/><iq/></item>"
    '<item type="jid" value="34-105@chat.connectycube.com" action="deny" order="3">'
    "<message/><presence-in/><presence-out/><iq/></item>"
    '<item type="jid" value="muc.chat.connectycube.com/34" action="deny" order="4">'
    "<message/><presence-in/><presence-out/><iq/></item>"
    '<item type="jid" value="48-105@chat.connectycube.com" action="deny" order="5"/>'
    '<item type="jid" value="muc.chat.connectycube.com/48" action="deny" order="6"/>'
    "</list>"
)


def test_create_is_the_reference_encoding() -> None:
    items = (
        PrivacyItem(user_id=48, action=DENY, mutual_block=True),
        PrivacyItem(user_id=34, action=DENY),
        PrivacyItem(user_id=18, action=ALLOW),
    )
    stanza = SetPrivacyList(name="myList", items=items).build(FakeContext())
    assert stanza.xml == (
        f'<iq type="set" id="{stanza.stanza_id}"><query xmlns="jabber:iq:privacy">'
        f"{REFERENCE_LIST}</query></iq>"
    )
    assert stanza.stanza_id and stanza.stanza_id.endswith(":edit")
    assert stanza.result_parser is not None
    assert stanza.result_parser(_answer(stanza.xml)) == PrivacyListSaved(name="myList")


_ITEMS = st.lists(
    st.builds(
        lambda u, a, m: PrivacyItem(user_id=u, action=a, mutual_block=m and a is DENY),
        st.integers(1, 10**9),
        st.sampled_from(PrivacyAction),
        st.booleans(),
    ),
    min_size=1,
    max_size=8,
)


@given(_ITEMS, st.text(min_size=1, max_size=30).filter(lambda s: s.isprintable()))
def test_privacy_list_round_trip(items: list[PrivacyItem], name: str) -> None:
    ctx = FakeContext()
    stanza = SetPrivacyList(name=name, items=tuple(items)).build(ctx)
    sent = parse(stanza.xml)[0][0]
    get = GetPrivacyList(name=name).build(ctx)
    assert parse(get.xml)[0][0].get("name") == name
    answer = parse(
        f'<iq type="result" id="x"><query xmlns="jabber:iq:privacy">'
        f"{etree.tostring(sent).decode()}</query></iq>"
    )
    assert get.result_parser is not None
    received = get.result_parser(answer)
    last = {i.user_id: i for i in items}
    assert received == PrivacyListReceived(name=name, items=tuple(last[k] for k in sorted(last)))


@given(_ITEMS, _ITEMS)
def test_merge_is_the_sdk_update(current: list[PrivacyItem], changes: list[PrivacyItem]) -> None:
    merged = merge_privacy_update(current, changes)
    ids = [i.user_id for i in merged]
    assert ids == sorted(set(ids))
    final = {i.user_id: i for i in current}
    for change in changes:
        if change.action is ALLOW:
            final.pop(change.user_id, None)
        else:
            final[change.user_id] = change
    assert {i.user_id: i for i in merged} == final


def test_names_default_and_delete() -> None:
    ctx = FakeContext()
    names = GetPrivacyListNames().build(ctx)
    assert parse(names.xml)[0].tag == "{jabber:iq:privacy}query" and len(parse(names.xml)[0]) == 0
    assert names.result_parser is not None
    assert names.result_parser(
        _answer(
            names.xml,
            '<query xmlns="jabber:iq:privacy"><active name="a"/><default/>'
            '<list name="myList"/><list name="blockedusers"/></query>',
        )
    ) == PrivacyListNames(names=("myList", "blockedusers"), default=None, active="a")
    for name in ("myList", None):
        cmd = SetDefaultPrivacyList(name=name).build(ctx)
        default = parse(cmd.xml)[0][0]
        assert default.tag == "{jabber:iq:privacy}default" and default.get("name") == name
        assert cmd.result_parser is not None
        assert cmd.result_parser(_answer(cmd.xml)) == PrivacyDefaultChanged(name=name)
    delete = DeletePrivacyList(name="myList").build(ctx)
    lst = parse(delete.xml)[0][0]
    assert (lst.get("name"), len(lst), parse(delete.xml).get("type")) == ("myList", 0, "set")
    assert delete.result_parser is not None
    assert delete.result_parser(_answer(delete.xml)) == PrivacyListDeleted(name="myList")


@pytest.mark.parametrize(
    "make",
    [
        lambda: SetPrivacyList(name="x", items=()),
        lambda: SetPrivacyList(name="", items=(PrivacyItem(user_id=1, action=DENY),)),
        lambda: PrivacyItem(user_id=1, action=ALLOW, mutual_block=True),
        lambda: PrivacyItem(user_id=0, action=DENY),
        lambda: GetPrivacyList(name="a\x00"),
        lambda: GetLastActivity(user_id=-1),
        lambda: GetOnlineUsers(dialog_id=""),
        lambda: SetClientState(active=True, mode="push"),  # type: ignore[arg-type]
    ],
)
def test_misuse_is_a_local_protocol_error(make: object) -> None:
    with pytest.raises(LocalProtocolError):
        make()  # type: ignore[operator]


@pytest.mark.parametrize(
    "command",
    [
        GetOnlineUsers(dialog_id=GROUP),
        GetLastActivity(user_id=78),
        SubscribeLastActivity(user_id=78),
        SubscribeLastActivity(user_id=78, enable=False),
        SetClientState(active=True, mode="mobile"),
        SetPrivacyList(name="x", items=(PrivacyItem(user_id=1, action=DENY),)),
        GetPrivacyList(name="x"),
        GetPrivacyListNames(),
        SetDefaultPrivacyList(name="x"),
        DeletePrivacyList(name="x"),
    ],
    ids=lambda c: type(c).__name__,
)
def test_every_iq_request_states_its_addressee(command: object) -> None:
    """The connection checks an answer's sender against ``OutboundStanza.to``; each
    built-in request states it (so the connection need not parse the XML again), and it
    is the XML's own ``to``."""
    stanza = command.build(FakeContext())  # type: ignore[attr-defined]
    assert stanza.result_parser is not None
    assert stanza.to is not UNSTATED
    assert stanza.to == parse(stanza.xml).get("to")
