"""Issue 12 item 2: a serializable checkpoint, available at any moment while the session
is resumable, is enough for a NEW connection (a new process) to resume the session."""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scripted import (
    FEATURES_BIND,
    FEATURES_SASL,
    JID,
    Say,
    ScriptedServer,
    config,
    drain,
    logged_in,
)

from cubeproto import (
    Checkpoint,
    CheckpointChanged,
    CheckpointError,
    ConnectionClosed,
    LocalProtocolError,
    MessageSent,
)
from cubeproto._connection import ClientConnection
from cubeproto.chat import ChatSession, MessageReceived


def _chat_msg(mid: str, body: str = "hi") -> str:
    return (
        f"<message from='1002-42@localhost/r' to='{JID}' type='chat' id='{mid}'>"
        f"<body>{body}</body><extraParams xmlns='jabber:client'>"
        f"<dialog_id>6507f0a1c2b3d4e5f6a7b8c9</dialog_id></extraParams></message>"
    )


def test_no_checkpoint_before_stream_management_resumption_is_enabled() -> None:
    conn = ClientConnection(config())
    assert conn.checkpoint() is None
    conn2 = ClientConnection(config())
    ScriptedServer(conn2).login(resume=False)  # <enabled/> without resume="true"
    assert conn2.checkpoint() is None


def test_checkpoint_is_available_while_connected_and_holds_unacked_stanzas() -> None:
    # Fails on the code before issue 12: resume_state() was None until the close, so a
    # process killed while connected had nothing to resume with.
    conn, server = logged_in()
    server.feed(_chat_msg("in-1"))
    mids = [conn.send(Say(body=str(i)), now=1) for i in range(3)]
    server.client_sent()
    server.feed("<a xmlns='urn:xmpp:sm:3' h='3'/>")  # carbons IQ, presence, first message
    cp = conn.checkpoint()
    assert cp is not None
    assert cp.resume_id == "smid-1" and cp.jid == JID and cp.max_seconds == 300
    assert cp.inbound_h == 2  # the carbons result and the message
    assert cp.acked_h == 3 and cp.outbound_h == 5
    assert [m for _, m in cp.unacked] == mids[1:]
    assert Checkpoint.from_json(cp.to_json()) == cp


def test_a_new_connection_resumes_from_the_json_checkpoint() -> None:
    conn, server = logged_in(handler_factory=ChatSession)
    server.feed(_chat_msg("in-1"))
    mids = [conn.send(Say(body=str(i)), now=1) for i in range(2)]
    server.client_sent()
    text = conn.checkpoint().to_json()  # type: ignore[union-attr]
    json.loads(text)  # plain JSON
    del conn, server  # the process dies (no close, no EOF)

    new = ClientConnection(config(handler_factory=ChatSession), resume=Checkpoint.from_json(text))
    srv = ScriptedServer(new)
    new.start(now=2)
    srv.open_with(FEATURES_SASL)
    srv.sasl_scram()
    srv.open_with(FEATURES_BIND)
    assert srv.client_sent() == b'<resume xmlns="urn:xmpp:sm:3" h="2" previd="smid-1"/>'
    srv.feed("<resumed xmlns='urn:xmpp:sm:3' h='4' previd='smid-1'/>")  # receipt + mids[0]
    events = drain(new)
    assert [e.message_id for e in events if isinstance(e, MessageSent)] == [mids[0]]
    assert mids[1] in srv.client_sent().decode()  # the unacked one is resent
    # The confirmed dedup ids travelled: a redelivery of in-1 is suppressed.
    srv.feed(_chat_msg("in-1"))
    assert not [e for e in drain(new) if isinstance(e, MessageReceived)]
    srv.feed(_chat_msg("in-2"))
    assert [e.message_id for e in drain(new) if isinstance(e, MessageReceived)] == ["in-2"]


def test_checkpoint_after_a_resumable_close_and_none_after_abandon() -> None:
    conn, server = logged_in(checkpoint_events=True)
    conn.send(Say(body="x"), now=1)
    server.client_sent()
    drain(conn)
    conn.receive_eof(now=2)
    events = drain(conn)
    assert isinstance(events[-1], ConnectionClosed) and events[-1].resumable
    assert CheckpointChanged() in events[:-1]  # before the terminal event, never after
    assert conn.checkpoint() is not None
    conn.abandon(now=3)
    assert conn.checkpoint() is None
    assert CheckpointChanged() in drain(conn)


def test_checkpoint_changed_is_coalesced_and_only_on_change() -> None:
    conn, server = logged_in(checkpoint_events=True)
    drain(conn)
    for i in range(3):
        conn.send(Say(body=str(i)), now=1)
    events = drain(conn)
    assert events.count(CheckpointChanged()) == 1  # three changes, one waiting event
    server.feed("<r xmlns='urn:xmpp:sm:3'/>")  # nothing of ours changes
    assert CheckpointChanged() not in drain(conn)
    server.feed("<a xmlns='urn:xmpp:sm:3' h='5'/>")
    assert drain(conn).count(CheckpointChanged()) == 1


def test_checkpoint_events_are_off_by_default() -> None:
    conn, server = logged_in()
    conn.send(Say(body="x"), now=1)
    server.feed("<a xmlns='urn:xmpp:sm:3' h='3'/>")
    assert CheckpointChanged() not in drain(conn)


def _valid() -> dict[str, Any]:
    return {
        "version": 1,
        "resume_id": "smid-1",
        "jid": JID,
        "location": None,
        "max_seconds": 300,
        "inbound_h": 4,
        "acked_h": 10,
        "outbound_h": 12,
        "unacked": [
            {"xml": "<message id='a'><body>x</body></message>", "message_id": "a"},
            {"xml": "<presence/>", "message_id": None},
        ],
        "poison_strikes": 0,
        "poison_condition": None,
        "handler": None,
    }


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"version": 2}, "version"),
        ({"version": "1"}, "version"),
        ({"inbound_h": -1}, "inbound_h"),
        ({"acked_h": 2**32}, "acked_h"),
        ({"outbound_h": 13}, "inconsistent"),
        ({"jid": "1001-42@localhost"}, "full JID"),
        (
            {"unacked": [{"xml": "<bogus/>", "message_id": None}] * 2},
            "is not one of <iq/>, <message/>, <presence/>",
        ),
        ({"unacked": [{"xml": "<message>", "message_id": None}] * 2}, "not one stanza"),
        ({"surprise": 1}, "unknown"),
        ({"poison_strikes": 7}, "poison_strikes"),
    ],
)
def test_from_json_refuses_bad_checkpoints_with_a_clear_error(
    change: dict[str, Any], words: str
) -> None:
    Checkpoint.from_json(json.dumps(_valid()))
    with pytest.raises(CheckpointError, match=words) as info:
        Checkpoint.from_json(json.dumps(_valid() | change))
    assert isinstance(info.value, ValueError) and isinstance(info.value, LocalProtocolError)


@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_from_json_of_garbage_raises_only_checkpoint_error(data: str | bytes) -> None:
    with contextlib.suppress(CheckpointError):
        Checkpoint.from_json(data)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(sorted(_valid())), _json, max_size=4))
def test_from_json_of_mutated_fields_raises_only_checkpoint_error(change: dict[str, Any]) -> None:
    try:
        cp = Checkpoint.from_json(json.dumps(_valid() | change))
    except CheckpointError:
        return
    assert Checkpoint.from_json(cp.to_json()) == cp


def test_handler_state_that_is_not_chat_state_is_refused() -> None:
    cp = replace(Checkpoint.from_json(json.dumps(_valid())), handler={"dedup": 3})
    with pytest.raises(CheckpointError, match="chat state"):
        ClientConnection(config(handler_factory=ChatSession), resume=cp)
    with pytest.raises(CheckpointError, match="handler"):
        ClientConnection(config(), resume=cp)


def test_a_supervisor_of_a_new_process_resumes_from_a_checkpoint() -> None:
    from cubeproto.reconnect import Supervisor

    conn, _ = logged_in()
    text = conn.checkpoint().to_json()  # type: ignore[union-attr]
    sup = Supervisor(config(), jitter=lambda: 0.5, resume=Checkpoint.from_json(text))
    new = sup.new_connection()
    srv = ScriptedServer(new)
    new.start(now=1)
    srv.open_with(FEATURES_SASL)
    srv.sasl_scram()
    srv.open_with(FEATURES_BIND)
    assert srv.client_sent().startswith(b'<resume xmlns="urn:xmpp:sm:3"')


def test_stanzas_written_after_the_last_checkpoint_do_not_break_the_resumption() -> None:
    # The old process persisted its checkpoint, then wrote two more messages, then died.
    # ejabberd's <resumed h/> counts them; the new process cannot know them, but all it
    # holds came before them: settled as sent, counters carried on to h.
    conn, server = logged_in()
    first = conn.send(Say(body="in the checkpoint"), now=1)
    text = conn.checkpoint().to_json()  # type: ignore[union-attr]
    conn.send(Say(body="after it 1"), now=1)
    conn.send(Say(body="after it 2"), now=1)
    server.client_sent()  # written: the server has all three (carbons, presence = 1-2)
    del conn, server

    new = ClientConnection(config(), resume=Checkpoint.from_json(text))
    srv = ScriptedServer(new)
    new.start(now=2)
    srv.open_with(FEATURES_SASL)
    srv.sasl_scram()
    srv.open_with(FEATURES_BIND)
    srv.client_sent()
    srv.feed("<resumed xmlns='urn:xmpp:sm:3' h='5' previd='smid-1'/>")
    events = drain(new)
    assert [e.message_id for e in events if isinstance(e, MessageSent)] == [first]
    assert not any(isinstance(e, ConnectionClosed) for e in events)
    assert first not in srv.client_sent().decode()  # nothing resent
    later = new.send(Say(body="later"), now=3)
    srv.client_sent()
    srv.feed("<a xmlns='urn:xmpp:sm:3' h='6'/>")
    assert [e.message_id for e in drain(new) if isinstance(e, MessageSent)] == [later]


def test_the_same_process_still_refuses_an_h_beyond_what_it_sent() -> None:
    conn, _ = logged_in()
    conn.send(Say(body="x"), now=1)
    conn.receive_eof(now=2)
    drain(conn)
    new = ClientConnection(config(), resume=conn.resume_state())
    srv = ScriptedServer(new)
    new.start(now=2)
    srv.open_with(FEATURES_SASL)
    srv.sasl_scram()
    srv.open_with(FEATURES_BIND)
    srv.client_sent()
    srv.feed("<resumed xmlns='urn:xmpp:sm:3' h='9' previd='smid-1'/>")
    closed = drain(new)[-1]
    assert isinstance(closed, ConnectionClosed) and not closed.resumable
    assert b"handled-count-too-high" in srv.client_sent()


def test_between_a_refused_resumption_and_enabled_the_checkpoint_keeps_the_dedup_memory() -> None:
    # A process killed in that window used to restart with no checkpoint at all: an empty
    # duplicate-suppression memory, so a confirmed message whose ack never reached the
    # server came back from offline storage and was handled twice (found by the state
    # machine's crash_and_die_again_mid_login rule).
    conn, server = logged_in(app_controlled_acks=True, handler_factory=ChatSession)
    server.feed(_chat_msg("in-1"))
    drain(conn)
    conn.confirm_handled(now=1)
    text = conn.checkpoint().to_json()  # type: ignore[union-attr]
    new = ClientConnection(
        config(app_controlled_acks=True, handler_factory=ChatSession),
        resume=Checkpoint.from_json(text),
    )
    srv = ScriptedServer(new)
    new.start(now=2)
    srv.open_with(FEATURES_SASL)
    srv.sasl_scram()
    srv.open_with(FEATURES_BIND)
    srv.client_sent()
    srv.feed(
        "<failed xmlns='urn:xmpp:sm:3'>"
        "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
    )
    drain(new)
    srv.bind()  # bound, <enable/> sent, <enabled/> not yet here
    bridge = new.checkpoint()
    assert bridge is not None and bridge.unacked == ()
    assert "in-1" in bridge.handler["dedup"]
    # A third process from this checkpoint: refused again, binds fresh, still remembers.
    third = ClientConnection(
        config(app_controlled_acks=True, handler_factory=ChatSession),
        resume=Checkpoint.from_json(bridge.to_json()),
    )
    srv3 = ScriptedServer(third)
    third.start(now=3)
    srv3.open_with(FEATURES_SASL)
    srv3.sasl_scram()
    srv3.open_with(FEATURES_BIND)
    srv3.client_sent()
    srv3.feed(
        "<failed xmlns='urn:xmpp:sm:3'>"
        "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
    )
    srv3.bind()
    srv3.session_setup()
    drain(third)
    srv3.feed(_chat_msg("in-1"))  # the offline copy
    assert not [e for e in drain(third) if isinstance(e, MessageReceived)]
