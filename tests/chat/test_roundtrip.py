"""Every command: build -> parse as the peer would -> classify -> the same fields."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cubeproto.chat import (
    ChatSession,
    ChatState,
    ChatStateChanged,
    DeleteMessage,
    EditMessage,
    MarkerKind,
    MessageDeleted,
    MessageDelivered,
    MessageEdited,
    MessageRead,
    MessageReceived,
    MessageType,
    SendChatState,
    SendMarker,
    SendMessage,
    SendSystemMessage,
    SystemMessageReceived,
    classify_message,
)
from cubeproto.errors import LocalProtocolError

from .helpers import APP, GROUP, MUC, PEER, FakeContext, deliver, my_full_jid
from .test_extension import _EXTENSION, _sdk_view

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300).filter(
    lambda s: (
        all(c in "\t\n\r" or ord(c) >= 0x20 for c in s) and "\ufffe" not in s and "\uffff" not in s
    )
)
HUGE = st.just("<&>\"'" * 20000)
BODY = st.one_of(TEXT, HUGE, st.just(""))
DIALOG = st.text(alphabet="0123456789abcdef", min_size=24, max_size=24)
MSG_ID = st.one_of(st.none(), st.text(alphabet="0123456789abcdef<&\"'>", min_size=1, max_size=30))
USER = st.integers(min_value=1, max_value=10**12)

ME_CTX = FakeContext()
PEER_CTX = FakeContext(user_id=PEER, resource="PEERRES")


def _to_peer(stanza_xml: Any) -> Any:
    return deliver(stanza_xml, my_full_jid())


def _norm_body(body: str) -> str:
    # XML end-of-line handling does not apply to escaped CR; all else is exact.
    return body


@given(
    body=st.one_of(st.none(), BODY),
    message_id=MSG_ID,
    dialog=st.one_of(st.none(), DIALOG),
    extension=_EXTENSION,
    save=st.booleans(),
    silent=st.booleans(),
    markable=st.booleans(),
    date_sent=st.one_of(st.none(), st.integers(min_value=0, max_value=2**40)),
)
def test_one_to_one_message(
    body: str | None,
    message_id: str | None,
    dialog: str | None,
    extension: dict[str, Any],
    save: bool,
    silent: bool,
    markable: bool,
    date_sent: int | None,
) -> None:
    command = SendMessage(
        to_user=PEER,
        body=body,
        message_id=message_id,
        dialog_id=dialog,
        extension=extension,
        save_to_history=save,
        silent=silent,
        markable=markable,
        date_sent=date_sent,
    )
    stanza = command.build(ME_CTX)
    assert stanza.countable
    (event,) = classify_message(_to_peer(stanza), PEER_CTX.identity)
    assert isinstance(event, MessageReceived)
    assert event.message_id == stanza.stanza_id
    if message_id is not None:
        assert event.message_id == message_id
    assert event.type is MessageType.CHAT
    assert event.body == body
    assert event.sender_id == 777
    assert event.recipient_id == PEER
    assert event.dialog_id == dialog
    assert event.markable is markable
    expected = dict(_sdk_view(extension) or {})
    reserved = {
        "save_to_history": "1" if save else None,
        "dialog_id": dialog,
        "date_sent": None if date_sent is None else str(date_sent),
        "silent": "1" if silent else None,
        "markable": "1" if markable else None,
    }
    expected.update({k: v for k, v in reserved.items() if v is not None})
    assert event.extension == expected


@given(body=BODY, dialog=DIALOG, sender=USER)
def test_group_message_reflected_by_the_room(body: str, dialog: str, sender: int) -> None:
    ctx = FakeContext(user_id=sender)
    stanza = SendMessage(to_dialog=dialog, body=body).build(ctx)
    element = deliver(stanza, f"{APP}_{dialog}@{MUC}/{sender}")
    assert element.get("to") == f"{APP}_{dialog}@{MUC}"
    assert element.get("type") == "groupchat"
    (event,) = classify_message(element, PEER_CTX.identity)
    assert isinstance(event, MessageReceived)
    assert (event.type, event.body, event.dialog_id, event.sender_id) == (
        MessageType.GROUPCHAT,
        body,
        dialog,
        sender,
    )
    assert event.recipient_id is None


@given(body=st.one_of(st.none(), BODY), extension=_EXTENSION, message_id=MSG_ID)
def test_system_message(
    body: str | None, extension: dict[str, Any], message_id: str | None
) -> None:
    stanza = SendSystemMessage(
        to_user=PEER, body=body, extension=extension, message_id=message_id
    ).build(ME_CTX)
    (event,) = classify_message(_to_peer(stanza), PEER_CTX.identity)
    assert isinstance(event, SystemMessageReceived)
    assert event.body == body
    assert event.message_id == stanza.stanza_id
    assert event.sender_id == 777
    assert event.extension == (_sdk_view(extension) or {})


@given(state=st.sampled_from(ChatState), group=st.booleans())
def test_chat_state(state: ChatState, group: bool) -> None:
    command = (
        SendChatState(to_dialog=GROUP, state=state)
        if group
        else SendChatState(to_user=PEER, state=state)
    )
    stanza = command.build(ME_CTX)
    assert stanza.stanza_id is None and not stanza.countable
    sender = f"{APP}_{GROUP}@{MUC}/777" if group else my_full_jid()
    (event,) = classify_message(deliver(stanza, sender), PEER_CTX.identity)
    assert isinstance(event, ChatStateChanged)
    assert event.state is state
    assert event.user_id == 777
    assert event.dialog_id == (GROUP if group else None)
    assert event.is_typing is (state is ChatState.COMPOSING)


@given(
    kind=st.sampled_from(MarkerKind),
    message_id=st.text(min_size=1, max_size=40).filter(
        lambda s: all(0x20 <= ord(c) < 0xD800 or c in "\t\n" for c in s)
    ),
    dialog=st.one_of(st.none(), DIALOG),
)
def test_marker(kind: MarkerKind, message_id: str, dialog: str | None) -> None:
    stanza = SendMarker(kind=kind, message_id=message_id, to_user=PEER, dialog_id=dialog).build(
        ME_CTX
    )
    element = _to_peer(stanza)
    assert (
        element.get("type") == "chat" and element.get("to") == f"{PEER}-{APP}@chat.connectycube.com"
    )
    (event,) = classify_message(element, PEER_CTX.identity)
    assert isinstance(event, MessageDelivered if kind is MarkerKind.RECEIVED else MessageRead)
    assert (event.message_id, event.dialog_id, event.user_id) == (message_id, dialog, 777)


@given(
    body=BODY,
    original=st.text(alphabet="0123456789abcdef", min_size=1, max_size=24),
    last=st.booleans(),
    group=st.booleans(),
    extension=_EXTENSION,
)
def test_edit(body: str, original: str, last: bool, group: bool, extension: dict[str, Any]) -> None:
    target: dict[str, Any] = {"to_dialog": GROUP} if group else {"to_user": PEER}
    stanza = EditMessage(
        message_id=original, body=body, last=last, extension=extension, **target
    ).build(ME_CTX)
    sender = f"{APP}_{GROUP}@{MUC}/777" if group else my_full_jid()
    (event,) = classify_message(deliver(stanza, sender), PEER_CTX.identity)
    assert isinstance(event, MessageEdited)
    assert (event.message_id, event.body, event.last, event.user_id) == (original, body, last, 777)
    assert event.edit_id == stanza.stanza_id
    assert event.dialog_id == (GROUP if group else None)
    expected = dict(_sdk_view(extension) or {})
    if group:
        expected["dialog_id"] = GROUP
    assert event.extension == expected


@given(
    original=st.text(alphabet="0123456789abcdef", min_size=1), dialog=st.one_of(st.none(), DIALOG)
)
def test_delete(original: str, dialog: str | None) -> None:
    stanza = DeleteMessage(to_user=PEER, message_id=original, dialog_id=dialog).build(ME_CTX)
    (event,) = classify_message(_to_peer(stanza), PEER_CTX.identity)
    assert isinstance(event, MessageDeleted)
    assert (event.message_id, event.dialog_id, event.user_id) == (original, dialog, 777)


def test_session_reports_what_classify_reports() -> None:
    stanza = SendMessage(to_user=PEER, body="hi", dialog_id=GROUP).build(ME_CTX)
    result = ChatSession().handle_stanza(_to_peer(stanza), PEER_CTX)
    assert [type(e) for e in result.events] == [MessageReceived]


@pytest.mark.parametrize(
    "make",
    [
        lambda: SendMessage(body="x"),
        lambda: SendMessage(body="x", to_user=1, to_dialog=GROUP),
        lambda: SendMessage(body="x", to_user=0),
        lambda: SendMessage(body="x", to_dialog=""),
        lambda: SendMessage(body="\x00", to_user=1),
        lambda: SendMessage(body="x", to_user=1, extension={"dialog_id": "d"}),
        lambda: SendMessage(body="x", to_user=1, extension={"1bad": "d"}),
        lambda: SendMessage(body="x", to_user=1, message_id=""),
        lambda: SendMessage(body="x", to_user=1, date_sent="now"),
        lambda: SendSystemMessage(to_user=1, extension={"moduleIdentifier": "x"}),
        lambda: SendChatState(to_user=1, state="composing"),
        lambda: SendMarker(kind=MarkerKind.RECEIVED, message_id="", to_user=1),
        lambda: EditMessage(message_id="m", body="\x01", to_user=1),
        lambda: DeleteMessage(message_id="m\x02", to_user=1),
    ],
)
def test_misuse_is_a_local_protocol_error(make: Any) -> None:
    with pytest.raises(LocalProtocolError):
        make()


def test_unsendable_dialog_id_fails_at_build() -> None:
    with pytest.raises(LocalProtocolError):
        SendMessage(body="x", to_dialog="a b").build(ME_CTX)
