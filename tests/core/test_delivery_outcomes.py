"""Issue 12 items 4 and 5: every outcome is a fact.

* ``MessageLost`` only when the server said it never got the message (``<failed h/>``);
  ``MessageUnconfirmed`` when nobody can know; ``resend_unconfirmed`` sends those again
  with their original ids on the fresh session.
* A stanza over the size limit is refused before it is queued; one the server kills the
  stream over twice in a row is ``MessageRejected`` and the rest of the queue proceeds.
"""

from __future__ import annotations

from typing import Any

import pytest
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
    ClientConnection,
    ConnectionClosed,
    LocalProtocolError,
    LostReason,
    MessageLost,
    MessageRejected,
    MessageSent,
    MessageUnconfirmed,
    ResumableSession,
    StreamErrorCondition,
    StreamResumed,
)


def of(kind: type, events: list[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def cut(conn: ClientConnection) -> ResumableSession:
    conn.receive_eof(now=5)
    closed = drain(conn)[-1]
    assert isinstance(closed, ConnectionClosed) and closed.resumable
    state = conn.resume_state()
    assert state is not None
    return state


def reconnect(state: ResumableSession, **overrides: Any) -> tuple[ClientConnection, ScriptedServer]:
    new = ClientConnection(config(**overrides), resume=state)
    server = ScriptedServer(new)
    new.start(now=6)
    server.open_with(FEATURES_SASL)
    server.sasl_scram()
    server.open_with(FEATURES_BIND)
    assert b"<resume" in server.client_sent()
    return new, server


FAILED_NO_H = (
    "<failed xmlns='urn:xmpp:sm:3'>"
    "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
)


def test_refused_resumption_without_h_is_unconfirmed_not_lost() -> None:
    # Fails before issue 12: MessageLost(resume-failed) claimed a loss nobody knew of.
    conn, _ = logged_in()
    ids = [conn.send(Say(body=str(i)), now=1) for i in range(2)]
    new, srv = reconnect(cut(conn))
    srv.feed(FAILED_NO_H)
    events = drain(new)
    assert of(MessageLost, events) == []
    assert [e.message_id for e in of(MessageUnconfirmed, events)] == ids


def test_refused_resumption_with_h_is_lost_only_past_h() -> None:
    conn, _ = logged_in()
    ids = [conn.send(Say(body=str(i)), now=1) for i in range(3)]
    new, srv = reconnect(cut(conn))
    srv.feed(
        FAILED_NO_H.replace(
            "<failed xmlns='urn:xmpp:sm:3'>", "<failed xmlns='urn:xmpp:sm:3' h='3'>"
        )
    )
    events = drain(new)
    assert [e.message_id for e in of(MessageSent, events)] == ids[:1]
    assert [(e.message_id, e.reason) for e in of(MessageLost, events)] == [
        (i, LostReason.RESUME_FAILED) for i in ids[1:]
    ]
    assert of(MessageUnconfirmed, events) == []


def test_resend_unconfirmed_sends_again_with_the_original_ids() -> None:
    # Fails before issue 12 (no such option: the messages were reported lost).
    conn, _ = logged_in(resend_unconfirmed=True)
    ids = [conn.send(Say(body=str(i)), now=1) for i in range(2)]
    new, srv = reconnect(cut(conn), resend_unconfirmed=True)
    srv.feed(FAILED_NO_H)
    events = drain(new)
    assert of(MessageUnconfirmed, events) == [] and of(MessageLost, events) == []
    srv.bind()
    srv.session_setup()  # <enabled/>: the fresh session is ready
    events = drain(new)
    resent = srv.client_sent().decode()
    assert all(f'id="{i}"' in resent for i in ids)
    # carbons IQ and presence, then the two resent messages
    srv.feed("<a xmlns='urn:xmpp:sm:3' h='4'/>")
    assert [e.message_id for e in of(MessageSent, drain(new))] == ids


def test_a_stanza_over_the_size_limit_is_refused_and_nothing_is_queued() -> None:
    # Fails before issue 12: a 400 kB message was accepted and killed the stream forever.
    conn, server = logged_in()
    before = conn.checkpoint()
    with pytest.raises(LocalProtocolError, match="262144"):
        conn.send(Say(body="x" * 400_000), now=1)
    assert server.client_sent() == b"" and drain(conn) == []
    assert conn.checkpoint() == before  # nothing counted, nothing queued
    # multi-byte characters count as bytes, not characters
    with pytest.raises(LocalProtocolError):
        conn.send(Say(body="é" * 131_100), now=1)
    conn.send(Say(body="x" * 200_000), now=1)  # under the limit: fine


def test_the_server_advertised_limit_wins_when_smaller() -> None:
    limits = "<limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>10000</max-bytes></limits>"
    conn = ClientConnection(config())
    server = ScriptedServer(conn)
    conn.start(now=0)
    server.open_with(FEATURES_SASL)
    server.sasl_scram()
    server.open_with(FEATURES_BIND.replace("</stream:features>", limits + "</stream:features>"))
    server.bind()
    server.session_setup()
    drain(conn)
    with pytest.raises(LocalProtocolError, match="10000"):
        conn.send(Say(body="x" * 10_000), now=1)
    conn.send(Say(body="x" * 9_000), now=1)


POLICY = (
    "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
)


def test_a_stanza_the_server_kills_the_stream_over_twice_is_rejected() -> None:
    # Fails before issue 12: the poison stanza was resent on every resumption, forever.
    conn, server = logged_in()
    good = conn.send(Say(body="good"), now=1)
    poison = conn.send(Say(body="poison"), now=1)
    after = conn.send(Say(body="after"), now=1)
    server.client_sent()
    server.feed(POLICY)  # the stream dies right after the poison stanza
    drain(conn)
    new, srv = reconnect(conn.resume_state())  # type: ignore[arg-type]
    srv.feed("<resumed xmlns='urn:xmpp:sm:3' h='3' previd='smid-1'/>")  # good arrived
    events = drain(new)
    assert [e.message_id for e in of(MessageSent, events)] == [good]
    assert of(MessageRejected, events) == []  # one strike only
    resent = srv.client_sent().decode()
    assert poison in resent and after in resent
    srv.feed(POLICY)  # again right after it
    drain(new)
    new2, srv2 = reconnect(new.resume_state())  # type: ignore[arg-type]
    srv2.feed("<resumed xmlns='urn:xmpp:sm:3' h='3' previd='smid-1'/>")
    events = drain(new2)
    assert of(MessageRejected, events) == [
        MessageRejected(message_id=poison, condition=StreamErrorCondition.POLICY_VIOLATION)
    ]
    assert StreamResumed(previous_id="smid-1", resent=1) in events
    resent = srv2.client_sent().decode()
    assert poison not in resent and after in resent  # the rest proceeds
    srv2.feed("<a xmlns='urn:xmpp:sm:3' h='4'/>")
    assert [e.message_id for e in of(MessageSent, drain(new2))] == [after]


def test_strikes_reset_when_the_server_gets_past_the_stanza() -> None:
    conn, server = logged_in()
    first = conn.send(Say(body="a"), now=1)
    second = conn.send(Say(body="b"), now=1)
    server.feed(POLICY)
    drain(conn)
    new, srv = reconnect(conn.resume_state())  # type: ignore[arg-type]
    srv.feed("<resumed xmlns='urn:xmpp:sm:3' h='2' previd='smid-1'/>")
    drain(new)
    srv.feed("<a xmlns='urn:xmpp:sm:3' h='3'/>")  # first made it after all
    assert [e.message_id for e in of(MessageSent, drain(new))] == [first]
    srv.feed(POLICY)
    drain(new)
    new2, srv2 = reconnect(new.resume_state())  # type: ignore[arg-type]
    srv2.feed("<resumed xmlns='urn:xmpp:sm:3' h='3' previd='smid-1'/>")
    events = drain(new2)
    assert of(MessageRejected, events) == []  # first strike against `second`
    assert second in srv2.client_sent().decode()
    assert JID  # the scripted server's JID stays the session's


def test_poison_is_rejected_when_the_server_ends_the_session_each_time() -> None:
    """What ejabberd does: a stream error ends the session, so every resumption is refused
    and ``resend_unconfirmed`` resends the poison on the fresh session.  The strikes follow
    the stanza through the refusal: the second death right after it rejects it, and the
    rest proceeds (before, the refusal reset the count and the poison was resent forever:
    198 stream deaths in 15 s against ejabberd)."""
    conn, server = logged_in(resend_unconfirmed=True)
    poison = conn.send(Say(body="poison"), now=1)
    after = conn.send(Say(body="after"), now=1)
    server.client_sent()
    server.feed(POLICY)  # first death, right after the poison
    drain(conn)
    new, srv = reconnect(conn.resume_state(), resend_unconfirmed=True)  # type: ignore[arg-type]
    srv.feed(FAILED_NO_H)  # the server ended the session
    srv.bind()
    srv.session_setup()
    events = drain(new)
    assert of(MessageRejected, events) == []  # one strike only so far
    resent = srv.client_sent().decode()
    assert poison in resent and after in resent
    srv.feed(POLICY)  # second death, right after the resent poison
    drain(new)
    new2, srv2 = reconnect(new.resume_state(), resend_unconfirmed=True)  # type: ignore[arg-type]
    srv2.feed(FAILED_NO_H)
    events = drain(new2)
    assert of(MessageRejected, events) == [
        MessageRejected(message_id=poison, condition=StreamErrorCondition.POLICY_VIOLATION)
    ]
    srv2.bind()
    srv2.session_setup()
    drain(new2)
    resent = srv2.client_sent().decode()
    assert poison not in resent and after in resent  # the rest proceeds
    srv2.feed("<a xmlns='urn:xmpp:sm:3' h='3'/>")  # carbons IQ, presence, after
    assert [e.message_id for e in of(MessageSent, drain(new2))] == [after]
