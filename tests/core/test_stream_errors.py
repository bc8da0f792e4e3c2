"""How streams end: stream errors both ways, EOF, close, bad XML; nothing escapes."""

from __future__ import annotations

import pytest
from scripted import ScriptedServer, config, drain, logged_in

from cubeproto import (
    CloseReason,
    ConnectionClosed,
    LocalProtocolError,
    RemoteProtocolError,
    StreamErrorCondition,
)
from cubeproto._connection import ClientConnection
from cubeproto._state import StreamState


def test_stream_error_received() -> None:
    conn, server = logged_in()
    server.feed(
        "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
        "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Replaced by new connection</text>"
        "</stream:error></stream:stream>"
    )
    events = drain(conn)
    assert events == [
        ConnectionClosed(
            reason=CloseReason.STREAM_ERROR_RECEIVED,
            condition=StreamErrorCondition.CONFLICT,
            text="Replaced by new connection",
            resumable=False,
        )
    ]
    assert server.client_sent() == b"</stream:stream>"
    assert conn.state is StreamState.CLOSED


def test_not_well_formed_input_sends_a_stream_error() -> None:
    # On a session that cannot be resumed (issue 12 item 6: a resumable one is left
    # resumable, see test_bad_input_on_a_resumable_session_writes_nothing).
    conn = ClientConnection(config())
    server = ScriptedServer(conn)
    server.login(resume=False)
    drain(conn)
    server.client_sent()
    server.feed("<message><body>x</message>")
    events = drain(conn)
    (closed,) = events
    assert isinstance(closed, ConnectionClosed)
    assert closed.reason is CloseReason.PROTOCOL_ERROR
    assert closed.condition is StreamErrorCondition.NOT_WELL_FORMED
    assert isinstance(closed.error, RemoteProtocolError)
    out = server.client_sent()
    assert b"<not-well-formed xmlns=" in out and out.endswith(b"</stream:stream>")
    # Later data is ignored, nothing raises.
    conn.receive_data(b"<more/>", now=1)
    assert drain(conn) == []


def test_eof_is_idempotent_and_data_after_eof_is_misuse() -> None:
    conn, _server = logged_in()
    conn.receive_eof(now=1)
    conn.receive_eof(now=1)
    events = drain(conn)
    assert len(events) == 1 and isinstance(events[0], ConnectionClosed)
    assert events[0].reason is CloseReason.REMOTE and events[0].resumable
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"<x/>", now=2)


def test_close_waits_for_the_peer_then_times_out() -> None:
    conn, server = logged_in()
    conn.close(now=10)
    # A last ack request (so that acked messages are reported sent), then the close.
    assert server.client_sent() == b'<r xmlns="urn:xmpp:sm:3"/></stream:stream>'
    assert conn.state is StreamState.CLOSING
    assert conn.get_timer() == 12.0
    conn.handle_timer(now=12.0)
    (closed,) = drain(conn)
    assert closed == ConnectionClosed(reason=CloseReason.LOCAL, clean=False)
    with pytest.raises(LocalProtocolError):
        conn.close(now=13)


def test_server_closes_the_stream() -> None:
    conn, server = logged_in()
    server.feed("</stream:stream>")
    (closed,) = drain(conn)
    assert isinstance(closed, ConnectionClosed) and closed.reason is CloseReason.REMOTE
    assert closed.clean and closed.resumable
    assert server.client_sent() == b"</stream:stream>"


def test_restricted_xml_is_refused() -> None:
    conn, server = logged_in()
    server.feed("<!-- a comment --><message/>")
    (closed,) = drain(conn)
    assert isinstance(closed, ConnectionClosed)
    assert closed.condition is StreamErrorCondition.RESTRICTED_XML


def test_stanza_before_authentication_is_refused() -> None:
    from scripted import STREAM_HEADER, ScriptedServer, config

    from cubeproto._connection import ClientConnection

    conn = ClientConnection(config())
    server = ScriptedServer(conn)
    conn.start(now=0)
    server.client_sent()
    server.feed(STREAM_HEADER + "<message from='x@localhost'><body>early</body></message>")
    (_opened, closed) = drain(conn)
    assert isinstance(closed, ConnectionClosed)
    assert closed.condition is StreamErrorCondition.NOT_AUTHORIZED


def test_bad_input_on_a_resumable_session_writes_nothing() -> None:
    # Issue 12 item 6: ejabberd ends a session whose client sent a stream error or
    # </stream:stream>; to keep it resumable the client only drops the transport.
    conn, server = logged_in()
    server.feed("<message><body>x</message>")
    (closed,) = drain(conn)
    assert isinstance(closed, ConnectionClosed)
    assert closed.reason is CloseReason.PROTOCOL_ERROR and closed.resumable
    assert closed.condition is StreamErrorCondition.NOT_WELL_FORMED
    assert server.client_sent() == b""
    assert conn.resume_state() is not None and conn.checkpoint() is not None


def test_drop_is_reported_as_this_sides_doing_and_stays_resumable() -> None:
    # terminate(): the application drops the transport.  The event must not say the
    # server closed it (it did not); the session may still be resumed.
    conn, server = logged_in()
    server.client_sent()
    conn.drop(now=1)
    conn.drop(now=1)
    conn.receive_eof(now=1)
    (closed,) = drain(conn)
    assert isinstance(closed, ConnectionClosed)
    assert closed.reason is CloseReason.LOCAL
    assert closed.resumable and not closed.clean
    assert conn.state is StreamState.CLOSED
    assert server.client_sent() == b""  # nothing written: the transport is gone
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"<x/>", now=2)


def test_drop_while_closing_ends_the_close_without_resumption() -> None:
    conn, server = logged_in()
    conn.close(now=10)
    server.client_sent()
    conn.drop(now=11)
    (closed,) = drain(conn)
    assert isinstance(closed, ConnectionClosed)
    assert (closed.reason, closed.resumable) == (CloseReason.LOCAL, False)
