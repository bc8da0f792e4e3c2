"""Decoding stanzas exactly as the official SDK and ejabberd put them on the wire
(as SDK 6.1.2 writes them), with their element orders, quoting and xml:lang."""

from __future__ import annotations

from cubeproto.chat import (
    CarbonDirection,
    ChatSession,
    ChatState,
    ChatStateChanged,
    MessageBounced,
    MessageDeleted,
    MessageDelivered,
    MessageEdited,
    MessageRead,
    MessageReceived,
    MessageType,
    ReactionsChanged,
    SystemMessageReceived,
    classify_message,
)
from cubeproto.errors import StanzaErrorCondition, StanzaErrorType
from cubeproto.events import UnhandledStanza

from .helpers import GROUP, PRIVATE, FakeContext, parse, parse_raw

ME = FakeContext().identity


def one(xml: str, raw: bool = False) -> object:
    events = classify_message(parse_raw(xml) if raw else parse(xml), ME)
    assert len(events) == 1, events
    return events[0]


def test_sdk_one_to_one_message() -> None:
    event = one(
        '<message from="78-105@chat.connectycube.com/RES2" to="777-105@chat.connectycube.com"'
        ' type="chat" id="6507f2b0a1b2c3d4e5000000"><body>How are you today?</body>'
        '<extraParams xmlns="jabber:client"><save_to_history>1</save_to_history>'
        f"<dialog_id>{PRIVATE}</dialog_id></extraParams></message>"
    )
    assert event == MessageReceived(
        message_id="6507f2b0a1b2c3d4e5000000",
        type=MessageType.CHAT,
        from_jid="78-105@chat.connectycube.com/RES2",
        to_jid="777-105@chat.connectycube.com",
        sender_id=78,
        recipient_id=777,
        dialog_id=PRIVATE,
        body="How are you today?",
        extension={"save_to_history": "1", "dialog_id": PRIVATE},
    )


def test_server_delivered_group_message_with_namespace_on_the_stanza() -> None:
    event = one(
        f'<message xmlns="jabber:client" from="105_{GROUP}@muc.chat.connectycube.com/78"'
        ' to="777-105@chat.connectycube.com/RES" type="groupchat" id="6507f2b2a1b2c3d4e5000000">'
        "<body>Nice to meet you</body>"
        '<extraParams xmlns="jabber:client"><save_to_history>1</save_to_history>'
        f"<date_sent>1409146118</date_sent><dialog_id>{GROUP}</dialog_id></extraParams>"
        "</message>",
        raw=True,
    )
    assert isinstance(event, MessageReceived)
    assert (event.type, event.sender_id, event.dialog_id, event.recipient_id) == (
        MessageType.GROUPCHAT,
        78,
        GROUP,
        None,
    )
    assert event.extension["date_sent"] == "1409146118"


def test_ejabberd_order_quotes_and_lang() -> None:
    event = one(
        "<message xml:lang='en' to='777-105@chat.connectycube.com/RES' "
        "from='78-105@chat.connectycube.com/RES2' type='chat' id='abc' xmlns='jabber:client'>"
        f"<extraParams xmlns='jabber:client'><dialog_id>{PRIVATE}</dialog_id>"
        "<markable>1</markable></extraParams>"
        "<body>after extraParams</body>"
        "<delay xmlns='urn:xmpp:delay' from='chat.connectycube.com' "
        "stamp='2024-05-01T10:00:00.250Z'>"
        "Offline Storage</delay></message>",
        raw=True,
    )
    assert isinstance(event, MessageReceived)
    assert event.body == "after extraParams"
    assert event.markable
    assert event.delay_stamp == "2024-05-01T10:00:00.250Z"
    assert event.delayed_at == 1714557600.25


def test_unnamespaced_websocket_stanza() -> None:
    event = one(
        '<message from="78-105@chat.connectycube.com/R" type="chat" id="x1"><body>ws</body>'
        "<extraParams><dialog_id>d</dialog_id></extraParams></message>",
        raw=True,
    )
    assert isinstance(event, MessageReceived) and event.dialog_id == "d" and event.body == "ws"


def test_typing_shapes() -> None:
    event = one(
        '<message from="78-105@chat.connectycube.com/R" to="777-105@chat.connectycube.com" '
        'type="chat"><composing xmlns="http://jabber.org/protocol/chatstates"/></message>'
    )
    assert event == ChatStateChanged(
        state=ChatState.COMPOSING,
        from_jid="78-105@chat.connectycube.com/R",
        user_id=78,
        dialog_id=None,
    )
    event = one(
        f'<message from="105_{GROUP}@muc.chat.connectycube.com/78" type="groupchat">'
        '<paused xmlns="http://jabber.org/protocol/chatstates"/></message>'
    )
    assert isinstance(event, ChatStateChanged)
    assert (event.state, event.dialog_id, event.is_typing) == (ChatState.PAUSED, GROUP, False)


def test_body_with_active_state_is_a_message() -> None:
    event = one(
        '<message from="78-105@chat.connectycube.com/R" type="chat" id="i"><body>hi</body>'
        '<active xmlns="http://jabber.org/protocol/chatstates"/></message>'
    )
    assert isinstance(event, MessageReceived) and event.chat_state is ChatState.ACTIVE


def test_markers_from_the_sdk() -> None:
    events = classify_message(
        parse(
            '<message type="chat" from="78-105@chat.connectycube.com/R" id="m2" '
            'to="777-105@chat.connectycube.com">'
            '<received xmlns="urn:xmpp:chat-markers:0" id="6507f2b2a1b2c3d4e5000000"/>'
            '<displayed xmlns="urn:xmpp:chat-markers:0" id="6507f2b2a1b2c3d4e5000001"/>'
            f'<extraParams xmlns="jabber:client"><dialog_id>{GROUP}</dialog_id></extraParams>'
            "</message>"
        ),
        ME,
    )
    assert events == (
        MessageDelivered(
            message_id="6507f2b2a1b2c3d4e5000000",
            dialog_id=GROUP,
            user_id=78,
            from_jid="78-105@chat.connectycube.com/R",
        ),
        MessageRead(
            message_id="6507f2b2a1b2c3d4e5000001",
            dialog_id=GROUP,
            user_id=78,
            from_jid="78-105@chat.connectycube.com/R",
        ),
    )


def test_edit_as_the_sdk_sends_it() -> None:
    event = one(
        '<message from="78-105@chat.connectycube.com/RES" to="777-105@chat.connectycube.com" '
        'type="chat" id="6507f2d0a1b2c3d4e5000000"><body>corrected message body</body>'
        '<replace xmlns="urn:xmpp:message-correct:0" id="6507f2b0a1b2c3d4e5000000" last="false"/>'
        f'<extraParams xmlns="jabber:client"><dialog_id>{PRIVATE}</dialog_id><foo>bar</foo>'
        "</extraParams></message>"
    )
    assert isinstance(event, MessageEdited)
    assert (event.message_id, event.edit_id, event.body, event.last, event.dialog_id) == (
        "6507f2b0a1b2c3d4e5000000",
        "6507f2d0a1b2c3d4e5000000",
        "corrected message body",
        False,
        PRIVATE,
    )
    assert event.extension == {"dialog_id": PRIVATE, "foo": "bar"}


def test_reactions_push_from_the_docs() -> None:
    event = one(
        '<message type="chat" xmlns="jabber:client" to="777-105@chat.connectycube.com/RES" '
        'id="r1" from="78-105@chat.connectycube.com/RES2">'
        f'<extraParams xmlns="jabber:client"><dialog_id>{PRIVATE}</dialog_id></extraParams>'
        '<reactions user_id="89209" message_id="6507f2b0a1b2c3d4e5000000">'
        '<reaction add="true" type="👍"/><reaction remove="true" type="👎"/>'
        "</reactions></message>",
        raw=True,
    )
    assert event == ReactionsChanged(
        message_id="6507f2b0a1b2c3d4e5000000",
        user_id=89209,
        dialog_id=PRIVATE,
        added=("👍",),
        removed=("👎",),
    )
    assert isinstance(event, ReactionsChanged) and (event.add, event.remove) == ("👍", "👎")


def test_delete_in_a_group() -> None:
    event = one(
        f'<message from="105_{GROUP}@muc.chat.connectycube.com/78" type="groupchat" id="d1">'
        '<remove xmlns="urn:xmpp:message-delete:0" id="6507f2b1a1b2c3d4e5000000"/>'
        f'<extraParams xmlns="jabber:client"><dialog_id>{GROUP}</dialog_id></extraParams>'
        "</message>"
    )
    assert event == MessageDeleted(
        message_id="6507f2b1a1b2c3d4e5000000",
        dialog_id=GROUP,
        user_id=78,
        from_jid=f"105_{GROUP}@muc.chat.connectycube.com/78",
    )


def test_system_message_from_the_reference() -> None:
    event = one(
        '<message type="headline" id="6507f2f0a1b2c3d4e5000000" '
        'to="777-105@chat.connectycube.com"><body>dialog/UPDATE_DIALOG</body>'
        '<extraParams xmlns="jabber:client"><moduleIdentifier>SystemNotifications'
        "</moduleIdentifier><photo_uid>7cafb6030d3e4348ba49cab24c0cf10800</photo_uid>"
        "<name>Our photos</name></extraParams></message>"
    )
    assert event == SystemMessageReceived(
        message_id="6507f2f0a1b2c3d4e5000000",
        from_jid=None,
        sender_id=None,
        body="dialog/UPDATE_DIALOG",
        extension={"photo_uid": "7cafb6030d3e4348ba49cab24c0cf10800", "name": "Our photos"},
    )


def test_headlines_without_the_system_module_are_unhandled() -> None:
    for ext in (
        "",
        '<extraParams xmlns="jabber:client"><moduleIdentifier>WebRTCVideoChat'
        "</moduleIdentifier><a>1</a></extraParams>",
    ):
        event = one(f'<message type="headline" id="h"><body>x</body>{ext}</message>')
        assert isinstance(event, UnhandledStanza)


def test_bounce_of_a_blocked_message() -> None:
    event = one(
        '<message from="78-105@chat.connectycube.com" to="777-105@chat.connectycube.com/RES" '
        'type="error" id="6507f2b0a1b2c3d4e5000000"><error code="503" type="cancel">'
        '<service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
        '<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">Service not available.</text>'
        "</error></message>"
    )
    assert isinstance(event, MessageBounced)
    assert event.message_id == "6507f2b0a1b2c3d4e5000000"
    assert event.error.condition is StanzaErrorCondition.SERVICE_UNAVAILABLE
    assert event.error.type is StanzaErrorType.CANCEL
    assert (event.error.code, event.error.text) == (503, "Service not available.")


CARBON = (
    '<message xmlns="jabber:client" from="777-105@chat.connectycube.com" '
    'to="777-105@chat.connectycube.com/RES" type="chat">'
    '<{dir} xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">'
    '<message xmlns="jabber:client" from="{frm}" to="{to}" type="chat" id="c1">'
    "<body>copy</body></message></forwarded></{dir}></message>"
)


def test_sent_carbon_is_unwrapped() -> None:
    event = one(
        CARBON.format(
            dir="sent",
            frm="777-105@chat.connectycube.com/PHONE",
            to="78-105@chat.connectycube.com",
        ),
        raw=True,
    )
    assert isinstance(event, MessageReceived)
    assert (event.is_forwarded, event.carbon, event.sender_id, event.recipient_id) == (
        True,
        CarbonDirection.SENT,
        777,
        78,
    )


def test_received_carbon_is_unwrapped_not_a_marker() -> None:
    event = one(
        CARBON.format(
            dir="received",
            frm="78-105@chat.connectycube.com/R",
            to="777-105@chat.connectycube.com/PHONE",
        ),
        raw=True,
    )
    assert isinstance(event, MessageReceived)
    assert (event.carbon, event.sender_id, event.body) == (CarbonDirection.RECEIVED, 78, "copy")


def test_own_echo_and_invites_are_ignored() -> None:
    assert (
        classify_message(
            parse(
                '<message from="777-105@chat.connectycube.com/RES" type="chat" id="e">'
                "<body>echo</body></message>"
            ),
            ME,
        )
        == ()
    )
    invite = (
        f'<message from="105_{GROUP}@muc.chat.connectycube.com" type="normal">'
        '<x xmlns="http://jabber.org/protocol/muc#user"><invite from="78-105@c/R"/></x></message>'
    )
    assert classify_message(parse(invite), ME) == ()


def test_room_subject_after_a_join_is_no_message() -> None:
    """XEP-0045 7.2.16: after a join the room sends its subject (a groupchat <subject/>
    without <body/>, possibly empty, from the room or an occupant): not a chat message."""
    room = f"105_{GROUP}@muc.chat.connectycube.com"
    for frm in (room, f"{room}/78"):
        for subject in ("<subject/>", "<subject>Team</subject>"):
            xml = f'<message from="{frm}" to="777-105@c/R" type="groupchat">{subject}</message>'
            assert classify_message(parse(xml), ME) == (), xml
    # A groupchat message that carries a body as well is still a message.
    event = one(
        f'<message from="{room}/78" type="groupchat" id="m"><subject>s</subject>'
        "<body>hi</body></message>",
        raw=True,
    )
    assert isinstance(event, MessageReceived) and event.body == "hi"


def test_group_markers_are_dropped() -> None:
    assert (
        classify_message(
            parse(
                f'<message from="105_{GROUP}@muc.chat.connectycube.com/78" type="groupchat">'
                '<received xmlns="urn:xmpp:chat-markers:0" id="x"/></message>'
            ),
            ME,
        )
        == ()
    )


def test_session_answers_with_the_sdk_delivered_marker() -> None:
    ctx = FakeContext()
    result = ChatSession().handle_stanza(
        parse(
            f'<message from="105_{GROUP}@muc.chat.connectycube.com/78" type="groupchat" '
            f'id="g1"><body>hi</body></message>'
        ),
        ctx,
    )
    (reply,) = result.replies
    marker = parse(reply.xml)
    assert marker.get("type") == "chat"
    assert marker.get("to") == "78-105@chat.connectycube.com"
    assert marker[0].tag == "{urn:xmpp:chat-markers:0}received" and marker[0].get("id") == "g1"
    assert marker[1][0].text == GROUP
