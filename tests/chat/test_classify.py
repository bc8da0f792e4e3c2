"""Classification order (SDK 6.1.2's message listener) and malformed stanzas (never an
exception)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from cubeproto.chat import (
    ChatSession,
    ChatStateChanged,
    MessageDeleted,
    MessageDelivered,
    MessageEdited,
    MessageReceived,
    ReactionsChanged,
    parse_delay_stamp,
)
from cubeproto.events import MalformedStanza

from .helpers import GROUP, FakeContext, parse

FEATURES = {
    "typing": '<composing xmlns="http://jabber.org/protocol/chatstates"/>',
    "edit": '<replace xmlns="urn:xmpp:message-correct:0" id="orig"/>',
    "reactions": '<reactions user_id="5" message_id="orig">'
    '<reaction add="true" type="x"/></reactions>',
    "delete": '<remove xmlns="urn:xmpp:message-delete:0" id="orig"/>',
    "marker": '<received xmlns="urn:xmpp:chat-markers:0" id="orig"/>',
    "body": "<body>text</body>",
}
ORDER = ["typing", "edit", "reactions", "delete", "marker", "body"]
KIND = {
    "typing": ChatStateChanged,
    "edit": MessageEdited,
    "reactions": ReactionsChanged,
    "delete": MessageDeleted,
    "marker": MessageDelivered,
    "body": MessageReceived,
}


@given(st.sets(st.sampled_from(ORDER), min_size=1), st.randoms())
def test_sdk_order_whatever_the_child_order(features: set[str], rnd: object) -> None:
    children = [FEATURES[f] for f in features]
    rnd.shuffle(children)  # type: ignore[attr-defined]
    element = parse(
        '<message from="78-105@chat.connectycube.com/R" type="chat" id="m1">'
        + "".join(children)
        + "</message>"
    )
    events = ChatSession(ChatSessionOptions()).handle_stanza(element, FakeContext()).events
    winner = next(f for f in ORDER if f in features)
    assert [type(e) for e in events] == [KIND[winner]]


def ChatSessionOptions():
    from cubeproto.chat import ChatOptions

    return ChatOptions(auto_delivered_receipts=False)


U = 'from="78-105@chat.connectycube.com/R"'
MALFORMED = {
    "bad from": '<message from="a b@c" type="chat" id="1"><body>x</body></message>',
    "bad to": '<message from="78-105@c/R" to="@c" type="chat" id="1"><body>x</body></message>',
    "replace without id": f'<message {U} type="chat"><replace xmlns="urn:xmpp:message-correct:0"/>'
    "</message>",
    "replace bad last": f'<message {U} type="chat"><replace xmlns="urn:xmpp:message-correct:0" '
    'id="a" last="yes"/></message>',
    "replace foreign ns": f'<message {U} type="chat"><replace xmlns="urn:x" id="a"/></message>',
    "remove without id": f'<message {U} type="chat"><remove xmlns="urn:xmpp:message-delete:0"/>'
    "</message>",
    "marker without id": f'<message {U} type="chat"><displayed xmlns="urn:xmpp:chat-markers:0"/>'
    "</message>",
    "marker empty id": f'<message {U} type="chat"><received xmlns="urn:xmpp:chat-markers:0" id=""/>'
    "</message>",
    "displayed foreign ns": f'<message {U} type="chat"><displayed xmlns="x" id="a"/></message>',
    "composing foreign ns": f'<message {U} type="chat"><composing xmlns="x"/></message>',
    "body foreign ns": f'<message {U} type="chat"><body xmlns="urn:x">b</body></message>',
    "reactions without message_id": f'<message {U} type="chat"><reactions user_id="5"/></message>',
    "reactions bad user": f'<message {U} type="chat"><reactions user_id="5x" message_id="m"/>'
    "</message>",
    "reactions huge user": f'<message {U} type="chat"><reactions user_id="{"9" * 5000}" '
    'message_id="m"/></message>',
    "reaction without type": f'<message {U} type="chat"><reactions user_id="5" message_id="m">'
    '<reaction add="true"/></reactions></message>',
    "carbon from a stranger": '<message from="78-105@chat.connectycube.com" type="chat">'
    '<sent xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">'
    '<message type="chat" id="c"><body>forged</body></message></forwarded></sent></message>',
    "carbon without forwarded": '<message type="chat"><sent xmlns="urn:xmpp:carbons:2"/></message>',
    "carbon without message": '<message type="chat"><received xmlns="urn:xmpp:carbons:2">'
    '<forwarded xmlns="urn:xmpp:forward:0"/></received></message>',
    "nested carbon": '<message type="chat"><sent xmlns="urn:xmpp:carbons:2">'
    '<forwarded xmlns="urn:xmpp:forward:0"><message type="chat"><sent xmlns="urn:xmpp:carbons:2"/>'
    "</message></forwarded></sent></message>",
    "extension too deep": f'<message {U} type="chat" id="d"><extraParams>'
    + "<a>" * 40
    + "x"
    + "</a>" * 40
    + "</extraParams></message>",
    "muc presence bad nick": f'<presence from="105_{GROUP}@muc.c/bob">'
    '<x xmlns="http://jabber.org/protocol/muc#user"/></presence>',
    "muc presence bad room": '<presence from="room@muc.c/5">'
    '<x xmlns="http://jabber.org/protocol/muc#user"/></presence>',
    "muc presence bad status": f'<presence from="105_{GROUP}@muc.c/5">'
    '<x xmlns="http://jabber.org/protocol/muc#user"><status code="11x"/></x></presence>',
    "muc presence without from": '<presence><x xmlns="http://jabber.org/protocol/muc#user"/>'
    "</presence>",
    "muc presence malformed from": '<presence from="a@b@c/5">'
    '<x xmlns="http://jabber.org/protocol/muc#user"/></presence>',
    "last push bad seconds": '<iq type="set" id="1" from="5-105@c"><query xmlns="jabber:iq:last" '
    'seconds="-3"/></iq>',
    "last push huge seconds": '<iq type="set" id="1" from="5-105@c"><query xmlns="jabber:iq:last" '
    f'seconds="{"1" * 30}"/></iq>',
    "last push from a non-user": '<iq type="result" id="1" from="c"><query xmlns="jabber:iq:last" '
    'seconds="3"/></iq>',
    "last push malformed from": '<iq type="result" id="1" from="@c"><query xmlns="jabber:iq:last" '
    'seconds="3"/></iq>',
    "iq request without id": '<iq type="get" from="5-105@c"><ping xmlns="urn:xmpp:ping"/></iq>',
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_is_a_malformed_stanza_event(name: str) -> None:
    element = parse(MALFORMED[name])
    result = ChatSession().handle_stanza(element, FakeContext())
    assert len(result.events) == 1
    (event,) = result.events
    assert isinstance(event, MalformedStanza), event
    assert event.raw == etree.tostring(element, with_tail=False)
    assert event.reason
    assert result.replies == ()


def _mutations(xml: str) -> st.SearchStrategy[str]:
    return st.builds(
        lambda i, j, s: xml[:i] + s + xml[j:],
        st.integers(0, len(xml)),
        st.integers(0, len(xml)),
        st.text(alphabet="<>/=\"' abcdefgxmlns:0123456789-@_", max_size=12),
    )


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_mutations_never_raise(name: str) -> None:
    @given(_mutations(MALFORMED[name]))
    def check(xml: str) -> None:
        try:
            stream = etree.fromstring(f'<s xmlns="jabber:client">{xml}</s>'.encode())
        except etree.XMLSyntaxError:
            return
        for element in stream:
            ChatSession().handle_stanza(element, FakeContext())

    check()


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2002-09-10T23:08:25Z", 1031699305.0),
        ("2002-09-10T23:08:25.5+02:00", 1031692105.5),
        ("2002-09-10T23:08:25-01:30", 1031704705.0),
        ("2002-13-10T23:08:25Z", None),
        ("2002-09-10 23:08:25Z", None),
        ("yesterday", None),
        ("2002-09-10T23:08:25+25:00", None),
        ("", None),
    ],
)
def test_delay_stamps(stamp: str, expected: float | None) -> None:
    assert parse_delay_stamp(stamp) == expected


def test_legacy_delay_stamp() -> None:
    assert parse_delay_stamp("20020910T23:08:25", legacy=True) == 1031699305.0


def test_malformed_delay_is_none_not_an_error() -> None:
    element = parse(
        f'<message {U} type="chat" id="d"><body>x</body>'
        '<delay xmlns="urn:xmpp:delay" stamp="not a date"/></message>'
    )
    (event,) = ChatSession().handle_stanza(element, FakeContext()).events
    assert isinstance(event, MessageReceived)
    assert (event.delay_stamp, event.delayed_at) == ("not a date", None)
