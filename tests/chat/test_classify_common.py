"""The inbound shortcuts agree with the general code they shortcut.

The JID helpers ``user_id_of``/``occupant_ids`` shortcut ``parse_jid`` and the id helpers;
the session writes its automatic delivered receipt directly instead of building
``SendMarker``.  Each property below generates inputs around the common shapes -- and
malformed variants of them -- and checks that the shortcut gives exactly what the general
code gives: the same events, or the same ``StanzaFault``.  (``classify_message`` has one
path for every message, so there is no fast path of its own to compare; the generated
messages check that it gives events or a ``StanzaFault``, nothing else.)
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from cubeproto.chat import ChatSession, MarkerKind, SendMarker, SendMessage
from cubeproto.chat._fault import StanzaFault
from cubeproto.chat.classify import Identity, classify_message
from cubeproto.chat.extension import decode_extension
from cubeproto.chat.jid import (
    _RESOURCE,
    _octets_ok,
    _resource_ok,
    dialog_id_from_room,
    occupant_ids,
    occupant_user_id,
    parse_jid,
    user_id_from_jid,
    user_id_of,
)
from cubeproto.events import Event, MalformedStanza

from .helpers import APP, GROUP, HOST, MUC, FakeContext, parse

ME = FakeContext()
IDENTITY = Identity.from_jid(ME.jid, ME.user_id)

_FROM = st.sampled_from(
    [
        f"78-{APP}@{HOST}/res-1",
        f"78-{APP}@{HOST}",
        f"79-{APP}@{HOST}/R",
        f"{APP}_{GROUP}@{MUC}/78",
        f"{APP}_{GROUP}@{MUC}/777",
        f"{APP}_{GROUP}@{MUC}/bob",
        f"{APP}_{GROUP}@{MUC}",
        f"{APP}_@{MUC}/78",
        ME.jid,
        f"777-{APP}@{HOST}",
        HOST,
        "a b@c",
        "@c",
        "x@y/",
        "x@y/a\x7fb",
        "x@y/\u00e9\u00e8",
    ]
)
_TO = st.sampled_from([ME.jid, f"78-{APP}@{HOST}", "room@muc/5", "@c", "x@y/"])
_TYPE = st.sampled_from(["chat", "groupchat", "headline", "normal", "error", "bogus"])
_ID = st.sampled_from(["6507f2b0a1b2c3d4e5000001", "m&1", ""])
_TEXT = st.sampled_from(["", "hi", "a &amp; b", "\u043f\u0440\u0438\u0432\u0435\u0442", " "])


def _leaf(name: str) -> st.SearchStrategy[str]:
    return _TEXT.map(lambda t: f"<{name}>{t}</{name}>")


_EXTRA_CHILD = st.one_of(
    _leaf("dialog_id"),
    _leaf("save_to_history"),
    _leaf("markable"),
    st.sampled_from(
        [
            "<markable>1</markable>",
            "<markable>true</markable>",
            "<dialog_id><x>1</x></dialog_id>",
            "<user><name>n</name><meta><age>3</age></meta></user>",
            '<attachment id="1" size="12" type="photo"/>',
            '<attachment size="x12"/>',
            "<moduleIdentifier>SystemNotifications</moduleIdentifier>",
            "<a>" * 40 + "deep" + "</a>" * 40,
            "<!--c-->",
        ]
    ),
)
_EXTRA = st.lists(_EXTRA_CHILD, max_size=5).flatmap(
    lambda children: st.sampled_from(
        [
            '<extraParams xmlns="jabber:client">{}</extraParams>',
            "<extraParams>{}</extraParams>",
        ]
    ).map(lambda wrapper: wrapper.format("".join(children)))
)
_STATES = "http://jabber.org/protocol/chatstates"
_MARKERS = "urn:xmpp:chat-markers:0"
_CHILD = st.one_of(
    _TEXT.map(lambda t: f"<body>{t}</body>"),
    _EXTRA,
    st.sampled_from(["composing", "paused", "active", "inactive", "gone"]).map(
        lambda s: f'<{s} xmlns="{_STATES}"/>'
    ),
    st.sampled_from(["received", "displayed"]).flatmap(
        lambda kind: st.sampled_from(['id="m1"', 'id=""', ""]).map(
            lambda id_: f'<{kind} xmlns="{_MARKERS}" {id_}/>'
        )
    ),
    st.just(f'<markable xmlns="{_MARKERS}"/>'),
    st.sampled_from(["2024-05-12T12:30:07Z", "2024-05-12T12:30:07.5+02:00", "soon"]).map(
        lambda stamp: f'<delay xmlns="urn:xmpp:delay" stamp="{stamp}"/>'
    ),
    st.sampled_from(
        [
            '<delay xmlns="urn:xmpp:delay"/>',
            '<x xmlns="jabber:x:delay" stamp="20240512T12:30:07"/>',
            '<replace xmlns="urn:xmpp:message-correct:0" id="o"/>',
            '<remove xmlns="urn:xmpp:message-delete:0" id="o"/>',
            '<reactions user_id="5" message_id="o"><reaction add="true" type="x"/></reactions>',
            '<x xmlns="jabber:x:conference" jid="r@m"/>',
            '<received xmlns="urn:xmpp:receipts" id="o"/>',
            '<body xmlns="urn:x">b</body>',
            '<composing xmlns="urn:x"/>',
            "<thread>t</thread>",
            "<!--comment-->",
        ]
    ),
)


_BODY = _TEXT.map(lambda t: f"<body>{t}</body>")
_DIALOG_EXTRA = st.lists(
    st.sampled_from(
        [
            f"<dialog_id>{GROUP}</dialog_id>",
            "<markable>1</markable>",
            "<markable>true</markable>",
            "<markable>0</markable>",
            "<save_to_history>1</save_to_history>",
            "<dialog_id></dialog_id>",
            "<dialog_id><x>1</x></dialog_id>",
        ]
    ),
    max_size=3,
).map(lambda c: f'<extraParams xmlns="jabber:client">{"".join(c)}</extraParams>')
_DELAY = st.sampled_from(["2024-05-12T12:30:07Z", "2024-05-12T12:30:07.5+02:00", "soon", None]).map(
    lambda stamp: f'<delay xmlns="urn:xmpp:delay"{"" if stamp is None else f" stamp={stamp!r}"}/>'
)
_STATE = st.sampled_from(["composing", "paused", "active", "inactive", "gone"]).map(
    lambda s: f'<{s} xmlns="{_STATES}"/>'
)
_MARKER = st.tuples(
    st.sampled_from(["received", "displayed"]), st.sampled_from(['id="m1"'] * 3 + ['id=""', ""])
).map(lambda k: f'<{k[0]} xmlns="{_MARKERS}" {k[1]}/>')
_EDIT = st.one_of(
    st.tuples(
        st.sampled_from(['id="o"', 'id=""', ""]),
        st.sampled_from(["", ' last="true"', ' last="false"', ' last="yes"']),
    ).map(lambda a: f'<replace xmlns="urn:xmpp:message-correct:0" {a[0]}{a[1]}/>'),
    st.sampled_from(['id="o"', 'id=""', ""]).map(
        lambda a: f'<remove xmlns="urn:xmpp:message-delete:0" {a}/>'
    ),
    st.sampled_from(
        [
            '<reactions user_id="5" message_id="o"><reaction add="true" type="x"/></reactions>',
            '<reactions user_id="5" message_id="o"><reaction remove="true" type="y"/>'
            '<reaction add="true"/></reactions>',
            '<reactions user_id="5x" message_id="o"/>',
            '<reactions user_id="5"/>',
        ]
    ),
)
#: The shapes the fast path exists for, and their near neighbours.
_SHAPES = st.sampled_from(
    [
        (_BODY, _EDIT, _DIALOG_EXTRA),
        (_EDIT, _DIALOG_EXTRA),
        (_EDIT, _EDIT, _DIALOG_EXTRA),
        (_EDIT, _MARKER),
        (_STATE, _EDIT),
        (_BODY, _DIALOG_EXTRA),
        (_BODY, _DIALOG_EXTRA, st.just(f'<markable xmlns="{_MARKERS}"/>')),
        (_BODY, _EXTRA),
        (_STATE,),
        (_STATE, _BODY),
        (_STATE, _DIALOG_EXTRA),
        (_MARKER, _DIALOG_EXTRA),
        (_MARKER, _MARKER, _DIALOG_EXTRA),
        (_MARKER,),
        (_BODY,),
        (_DIALOG_EXTRA,),
        (_BODY, _DIALOG_EXTRA, _CHILD),
        (_BODY, _DIALOG_EXTRA, _DELAY),
        (),
    ]
)
_COMMON_FROM = st.sampled_from(
    [f"78-{APP}@{HOST}/res-1", f"78-{APP}@{HOST}", f"{APP}_{GROUP}@{MUC}/78", ME.jid]
)


@st.composite
def messages(draw: st.DrawFn) -> str:
    """A message, usually of a common shape, sometimes with a twist."""
    twist = draw(st.integers(0, 3)) == 0
    type_ = draw(_TYPE if twist else st.sampled_from(["chat", "groupchat"]))
    attrs = {"type": type_, "from": draw(_FROM if twist else _COMMON_FROM)}
    attrs["to"] = draw(_TO)
    attrs["id"] = draw(_ID)
    for name in ("type", "from", "to", "id"):
        if draw(st.integers(0, 9)) == 0:
            del attrs[name]
    children = [draw(child) for child in draw(_SHAPES)]
    if twist:
        children += draw(st.lists(_CHILD, max_size=2))
    children = draw(st.permutations(children))
    quoted = " ".join(
        f'{name}="{value.replace("&", "&amp;").replace(chr(127), "&#127;")}"'
        for name, value in attrs.items()
    )
    return f"<message {quoted}>{''.join(children)}</message>"


def _outcome(classify: Any, element: etree._Element) -> tuple[str, object]:
    try:
        return "events", classify(element, IDENTITY)
    except StanzaFault as fault:
        return "fault", str(fault)


@settings(max_examples=2000)
@given(messages())
def test_classify_message_gives_events_or_a_fault(xml: str) -> None:
    try:
        element = parse(xml)
    except etree.XMLSyntaxError:
        return
    kind, outcome = _outcome(classify_message, element)
    if kind == "events":
        assert isinstance(outcome, tuple)
        assert all(isinstance(event, Event) for event in outcome)
    else:
        assert isinstance(outcome, str) and outcome


_JID_TEXT = st.one_of(
    _FROM,
    st.text(alphabet="78-105@chat/_\x00\x7f \u00e9\U0001f600", max_size=30),
    st.builds(lambda r: f"78-{APP}@{HOST}/{r}", st.text(max_size=20)),
)


@given(_JID_TEXT)
def test_user_id_of_is_parse_then_user_id(value: str) -> None:
    jid = parse_jid(value)
    if jid is None:
        try:
            user_id_of(value)
        except ValueError:
            return
        raise AssertionError(f"{value!r} accepted")
    assert user_id_of(value) == user_id_from_jid(jid)


@given(_JID_TEXT)
def test_occupant_ids_are_parse_then_ids(value: str) -> None:
    jid = parse_jid(value)
    expected = None if jid is None else (occupant_user_id(jid), dialog_id_from_room(jid))
    assert occupant_ids(value) == expected


@given(st.text(max_size=1100) | st.text(alphabet="ab\x00\x1f\x7f ~", max_size=1100))
def test_resource_check_is_the_pattern(resource: str) -> None:
    assert _resource_ok(resource) == (_RESOURCE(resource) is not None and _octets_ok(resource))


_ID_TEXT = st.one_of(
    st.sampled_from(["6507f2b0a1b2c3d4e5000001", "a-b:c", 'q"<&>', "\u00e9t\u00e9", " "]),
    st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cn")), min_size=1, max_size=12),
)


@given(_ID_TEXT, _ID_TEXT, st.sampled_from([78, 79]))
def test_auto_receipt_is_what_send_marker_builds(message_id: str, dialog: str, peer: int) -> None:
    session, ctx, reference_ctx = ChatSession(), FakeContext(), FakeContext()
    for round_ in range(2):  # the second time from the remembered parts
        marked = f"{message_id}{round_}"
        element = parse(
            f'<message type="chat" from="{peer}-{APP}@{HOST}/r"><body>b</body>'
            "<extraParams><dialog_id>x</dialog_id></extraParams></message>"
        )
        element.set("id", marked)
        element[1][0].text = dialog
        result = session.handle_stanza(element, ctx)
        reference = SendMarker(
            kind=MarkerKind.RECEIVED, message_id=marked, to_user=peer, dialog_id=dialog
        ).build(reference_ctx)
        assert result.replies == (reference,)


_SESSION_MESSAGE = st.one_of(
    messages(),
    st.builds(
        lambda kind, sender, marked: (
            f'<message type="chat" from="{sender}-{APP}@{HOST}/r" id="x">'
            f'<{kind} xmlns="{_MARKERS}" id="{marked}"/></message>'
        ),
        st.sampled_from(["received", "displayed"]),
        st.sampled_from([78, 777]),
        st.sampled_from(["s1", "s2", "m1"]),
    ),
)


@settings(max_examples=300)
@given(st.lists(_SESSION_MESSAGE, max_size=8))
def test_session_shortcuts_are_its_general_rules(xmls: list[str]) -> None:
    """What ChatSession makes of a message is what its general rules (``_follow_up``)
    make of the classified events, message after message (duplicates, statuses)."""
    sessions, contexts = (ChatSession(), ChatSession()), (FakeContext(), FakeContext())
    for session, ctx in zip(sessions, contexts, strict=True):
        for sent in ("s1", "s2"):
            message = SendMessage(to_user=78, body="hi", message_id=sent)
            session.stanza_sent(message, message.build(ctx))
        session.message_acked("s2")
    fast, general = sessions
    for xml in xmls:
        try:
            element = parse(xml)
        except etree.XMLSyntaxError:
            continue
        result = fast.handle_stanza(element, contexts[0])
        me = general._me(contexts[1])
        try:
            expected = general._follow_up(classify_message(element, me), me, contexts[1])
        except StanzaFault:
            assert [type(e) for e in result.events] == [MalformedStanza]
            continue
        assert result == expected


_ATTRIBUTE = st.tuples(
    st.sampled_from(["size", "id", "url", "x:size", "y:size", "x:name", "name"]),
    st.sampled_from(["12", " 12 ", "+7", "-0", "1e3", "x", "", "9" * 21, "<&>"]),
)


@given(st.lists(_ATTRIBUTE, max_size=6, unique_by=lambda a: a[0]))
def test_attachment_attributes_by_local_name(attributes: list[tuple[str, str]]) -> None:
    """Attributes keyed by local name (the last of a name wins, in first-seen order);
    ``size`` an int when it is a base-10 integer."""
    element = etree.Element("attachment", nsmap=None)
    for name, value in attributes:
        prefix, _, local = name.rpartition(":")
        element.set(f"{{urn:{prefix}}}{local}" if prefix else local, value)
    expected: dict[str, object] = {}
    for name, value in attributes:
        expected[name.rpartition(":")[2]] = value
    size = str(expected.get("size", "")).strip()
    digits = size[1:] if size[:1] in ("+", "-") else size
    if digits.isascii() and digits.isdigit() and len(digits) <= 20:
        expected["size"] = int(size)
    extra = etree.Element("extraParams")
    extra.append(element)
    assert decode_extension(extra).extension.get("attachments") == [expected]
