"""Fuzz target: the chat layer's inbound classification (ChatSession.handle_stanza).

    python fuzz/fuzz_chat_classify.py -max_total_time=60 fuzz/corpus/chat_classify

The input bytes are parsed with a hardened lxml parser (no DTD, no entities, no network);
unparsable inputs are skipped.  The root element and, when the root is a wrapper such as
``<stream xmlns="jabber:client">``, each of its children go through one ChatSession in
order (so sequences such as join -> self-presence -> leave are explored), and through a
second session with ``rejoin_lost_dialogs`` (a group message sent to the room it joins:
join -> self-presence -> the room's bounce -> self-presence explores the re-join and the
resend).  Invariants: no exception escapes ``handle_stanza``; every reply it asks to send
is well-formed XML; the group message is resent at most once; and for every
``<message>`` ``classify_message`` (one path for every message) gives events or a
``StanzaFault``, nothing else.  The same stanzas also go through a session in the
end-to-end mode (issue 15) tracking one message: the same invariants, and that message
gets at most one end-to-end outcome, whatever markers, bounces and duplicates arrive and
however its deadlines fall.  And through a session with the periodic room check
(``room_check_interval``, XEP-0410 self-ping) that is in the room and has one check in
flight (id :data:`CHECK_ID`): the same invariants, and a ``DialogLost`` from the check
comes at most once, and only for an error answer from our occupant JID with that id.
"""

from __future__ import annotations

import copy
import sys

import atheris

with atheris.instrument_imports():
    from lxml import etree

    from cubeproto.chat import (
        ChatOptions,
        ChatSession,
        DeliveryConfirmed,
        DeliveryNotConfirmed,
        DialogLost,
        EndToEnd,
        JoinDialog,
        SendMessage,
    )
    from cubeproto.chat._fault import StanzaFault
    from cubeproto.chat.classify import Identity, classify_message
    from cubeproto.commands import HandlerResult
    from cubeproto.events import Event

PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
)


class Context:
    """A fixed StanzaContext: user 777 of app 105, every extension feature advertised."""

    user_id = 777
    app_id = 105
    chat_host = "chat.connectycube.com"
    muc_host = "muc.chat.connectycube.com"
    jid = "777-105@chat.connectycube.com/RES"
    features = frozenset({"urn:xmpp:csi:0", "urn:xmpp:sm:3"})

    def __init__(self) -> None:
        self.n = 0

    def new_message_id(self) -> str:
        self.n += 1
        return f"6507f2b0a1b2c3d4e5{self.n:06x}"

    def new_iq_id(self, purpose: str) -> str:
        self.n += 1
        return f"00000000-0000-4000-8000-{self.n:012x}:{purpose}"


def _check(result: HandlerResult) -> None:
    for event in result.events:
        if not isinstance(event, Event):
            raise AssertionError(f"not an event: {event!r}")
    for reply in result.replies:
        etree.fromstring(f'<s xmlns="jabber:client">{reply.xml}</s>'.encode())


ME = Identity.from_jid(Context.jid, Context.user_id)
GROUP_MESSAGE = "6507f2b0a1b2c3d4e5000001"


def _check_classification(stanza: etree._Element) -> None:
    if stanza.tag not in ("message", "{jabber:client}message"):
        return
    try:
        events = classify_message(stanza, ME)
    except StanzaFault:
        return
    for event in events:
        if not isinstance(event, Event):
            raise AssertionError(f"not an event: {event!r}")


def test_one_input(data: bytes) -> None:
    try:
        root = etree.fromstring(data, PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return
    ctx = Context()
    session = ChatSession()
    # Prime state the way an application would: a pending join and a tracked message.
    join = JoinDialog(dialog_id="6507f0a1c2b3d4e5f6a7b8c9")
    session.stanza_sent(join, join.build(ctx))
    message = SendMessage(to_user=78, body="hi", message_id="6507f2b0a1b2c3d4e5000000")
    session.stanza_sent(message, message.build(ctx))
    if isinstance(root.tag, str) and root.tag.rpartition("}")[2] in ("message", "presence", "iq"):
        stanzas = [root]
    else:
        stanzas = [child for child in root if isinstance(child.tag, str)]
    copies = [copy.deepcopy(stanza) for stanza in stanzas]  # the session owns the elements
    rejoiner = ChatSession(ChatOptions(rejoin_lost_dialogs=True, resend_window=4))
    rejoiner.stanza_sent(join, join.build(ctx))
    group = SendMessage(to_dialog=join.dialog_id, body="g", message_id=GROUP_MESSAGE)
    rejoiner.stanza_sent(group, group.build(ctx))
    resent = 0
    for stanza in stanzas:
        _check_classification(stanza)
        _check(session.handle_stanza(stanza, ctx))
        result = rejoiner.handle_stanza(copy.deepcopy(stanza), ctx)
        _check(result)
        resent += sum(1 for r in result.replies if r.stanza_id == GROUP_MESSAGE and r.countable)
    if resent > 1:
        raise AssertionError(f"the group message was resent {resent} times")
    _end_to_end([copy.deepcopy(c) for c in copies], ctx)
    _room_check(copies)


def _end_to_end(copies: list[etree._Element], ctx: Context) -> None:
    session = ChatSession(ChatOptions(end_to_end=EndToEnd(deadline=1.0, max_attempts=2)))
    tracked = "6507f2b0a1b2c3d4e5000000"
    message = SendMessage(
        to_user=78,
        body="hi",
        message_id=tracked,
        dialog_id="6507f0a1c2b3d4e5f6a7b8c9",
        markable=True,
    )
    session.stanza_sent_at(message, message.build(ctx), 0.0)
    outcomes = 0
    for now, stanza in enumerate(copies):
        result = session.handle_stanza(stanza, ctx)
        _check(result)
        timed = session.deadline_reached(float(now), ctx)
        _check(timed)
        for event in (*result.events, *timed.events):
            if isinstance(event, (DeliveryConfirmed, DeliveryNotConfirmed)):
                if event.message_id != tracked:
                    raise AssertionError(f"an outcome for an untracked message: {event!r}")
                outcomes += 1
    if outcomes > 1:
        raise AssertionError(f"{outcomes} end-to-end outcomes for one message")


ROOM_DIALOG = "6507f0a1c2b3d4e5f6a7b8c9"
OCCUPANT = f"105_{ROOM_DIALOG}@muc.chat.connectycube.com/777"
#: The id of the room check in flight: the room-check session's context makes the join's
#: id (1), then this one (2).
CHECK_ID = "00000000-0000-4000-8000-000000000002:selfping"
SELF_PRESENCE = (
    f'<presence xmlns="jabber:client" from="{OCCUPANT}" to="{Context.jid}">'
    '<x xmlns="http://jabber.org/protocol/muc#user">'
    '<item affiliation="member" role="participant"/><status code="110"/></x></presence>'
)


def _room_check(copies: list[etree._Element]) -> None:
    ctx = Context()
    session = ChatSession(ChatOptions(room_check_interval=1.0, rejoin_lost_dialogs=True))
    join = JoinDialog(dialog_id=ROOM_DIALOG)
    session.stanza_sent(join, join.build(ctx))
    session.handle_stanza(etree.fromstring(SELF_PRESENCE), ctx)
    session.deadline_reached(0.0, ctx)
    (check,) = session.deadline_reached(1.0, ctx).replies
    if check.stanza_id != CHECK_ID:
        raise AssertionError(f"the check's id is {check.stanza_id!r}")
    found = 0
    for stanza in copies:
        could_say_lost = (
            stanza.tag in ("iq", "{jabber:client}iq")
            and stanza.get("type") == "error"
            and stanza.get("id") == CHECK_ID
            and (stanza.get("from") or "").lower() == OCCUPANT.lower()
        )
        result = session.handle_stanza(stanza, ctx)
        _check(result)
        for event in result.events:
            if isinstance(event, DialogLost) and event.detected_by == "room_check":
                if not could_say_lost:
                    raise AssertionError(f"a room check loss from {etree.tostring(stanza)!r}")
                found += 1
    if found > 1:
        raise AssertionError(f"{found} losses found by one room check")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
