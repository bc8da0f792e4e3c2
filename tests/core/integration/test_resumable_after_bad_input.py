"""Issue 12 item 6, against the real ejabberd: when the client ends a stream because the
server sent bad input, the session stays resumable, and ``ConnectionClosed.resumable``
says so only when it is.

The client is the real core (``ClientConnection`` with ``ChatSession``) on a real direct
TLS socket to ejabberd.  The fault is injected between that socket and the client: the
bytes ejabberd sent are handed over, followed by hostile bytes a broken or malicious
server could send (a DOCTYPE, invalid UTF-8, a stanza over the client's size limit).
Whatever the client writes in answer goes to ejabberd, then the socket is dropped, as an
adapter does on ``ConnectionClosed``.  A NEW connection then resumes from the JSON
checkpoint, as a new process would.

The receiver uses app-controlled acks and never confirms the peer's message, so the
message is still unacknowledged: a resumed session gets it redelivered, and (item 1)
it must come out as ``MessageReceived`` again.

The control test records what was found about ejabberd: a client that answers bad input
the RFC 6120 4.9.1.1 way (``<stream:error/>`` and ``</stream:stream>``), or with either
alone, ends its session (``<failed><item-not-found/>``); one that just drops the
transport keeps it.
"""

from __future__ import annotations

import os
import socket
import ssl
import time
from collections.abc import Callable

import pytest
from ejabberd_server import CubeUser, Ejabberd

from cubeproto import (
    Checkpoint,
    ClientConfig,
    ClientConnection,
    Connected,
    ConnectionClosed,
    Event,
    ResumeFailed,
    StreamResumed,
    Transport,
)
from cubeproto._xmlstream import XmlLimits
from cubeproto.chat import ChatSession, MessageReceived, SendMessage

#: Bound on waiting for one expected event from the server.
WAIT_S = 10.0


class Link:
    """The core on a real TLS socket to ejabberd, pumped by hand."""

    def __init__(self, ejabberd: Ejabberd, conn: ClientConnection) -> None:
        raw = socket.create_connection(("127.0.0.1", ejabberd.c2s_tls_port), timeout=WAIT_S)
        self.sock: ssl.SSLSocket = ejabberd.ssl_context().wrap_socket(
            raw, server_hostname=ejabberd.domain
        )
        self.conn = conn
        self.events: list[Event] = []
        conn.start(now=time.monotonic())

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def take_events(self) -> list[Event]:
        new = []
        while (event := self.conn.next_event()) is not None:
            new.append(event)
        self.events.extend(new)
        return new

    def feed(self, data: bytes) -> None:
        self.conn.receive_data(data, now=time.monotonic())
        self.flush()

    def until(self, want: Callable[[Event], bool]) -> Event:
        """Pump until an event ``want`` accepts (fails after WAIT_S)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            self.flush()
            for event in self.take_events():
                if want(event):
                    self.flush()
                    return event
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no expected event; got {self.events!r}"
            self.sock.settimeout(remaining)
            data = self.sock.recv(65536)
            if not data:
                self.conn.receive_eof(now=time.monotonic())
            else:
                self.conn.receive_data(data, now=time.monotonic())

    def drop(self) -> None:
        self.sock.close()

    def written_then_drop(self, data: bytes) -> None:
        """Write ``data``; when there is any, let ejabberd act on it (it answers a stream
        error or close by closing: read to its EOF) before dropping the socket, so that
        the outcome does not depend on which of the bytes and the drop it sees first."""
        if data:
            self.sock.sendall(data)
            self.sock.settimeout(WAIT_S)
            try:
                while self.sock.recv(65536):
                    pass
            except (OSError, ssl.SSLError):
                pass  # reset or TLS teardown: ejabberd is done with the stream either way
        self.drop()


def _config(ejabberd: Ejabberd, user: CubeUser, **extra: object) -> ClientConfig:
    return ClientConfig(
        app_id=user.app_id,
        user_id=user.user_id,
        password=user.password,
        chat_host=ejabberd.domain,
        entropy=os.urandom,
        wall_clock=time.time,
        transport=Transport.DIRECT_TLS,
        handler_factory=ChatSession,
        app_controlled_acks=True,
        **extra,  # type: ignore[arg-type]
    )


def _receiver_with_unconfirmed_message(
    ejabberd: Ejabberd, make_user: Callable[[], CubeUser], **extra: object
) -> tuple[Link, Link, CubeUser, str]:
    """A receiver that got one message from a peer and did not confirm it."""
    me, peer = make_user(), make_user()
    rx = Link(ejabberd, ClientConnection(_config(ejabberd, me, **extra)))
    rx.until(lambda e: isinstance(e, Connected))
    tx = Link(ejabberd, ClientConnection(_config(ejabberd, peer)))
    tx.until(lambda e: isinstance(e, Connected))
    mid = tx.conn.send(
        SendMessage(to_user=me.user_id, body="keep me", dialog_id="6507f0a1c2b3d4e5f6a7b8c9"),
        now=time.monotonic(),
    )
    assert mid is not None
    tx.flush()
    got = rx.until(lambda e: isinstance(e, MessageReceived))
    assert isinstance(got, MessageReceived) and got.message_id == mid
    return rx, tx, me, mid


def _resume(ejabberd: Ejabberd, me: CubeUser, text: str) -> tuple[Link, Event]:
    new = Link(ejabberd, ClientConnection(_config(ejabberd, me), resume=Checkpoint.from_json(text)))
    outcome = new.until(lambda e: isinstance(e, (StreamResumed, ResumeFailed, ConnectionClosed)))
    return new, outcome


HOSTILE = {
    "doctype": b"<!DOCTYPE x [<!ENTITY a 'b'>]><message/>",
    "invalid-utf8": b"<message><body>\xff\xfe\xc3\x28</body></message>",
    "oversized-stanza": b"<message><body>" + b"x" * 70_000 + b"</body></message>",
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_bad_server_input_leaves_the_session_resumable(
    ejabberd: Ejabberd, ejabberd_user: Callable[[], CubeUser], kind: str
) -> None:
    # Fails before issue 12: the client wrote <stream:error/></stream:stream> and the
    # resumption got item-not-found although ConnectionClosed.resumable was True.
    rx, tx, me, mid = _receiver_with_unconfirmed_message(
        ejabberd, ejabberd_user, xml_limits=XmlLimits(max_stanza_bytes=64 * 1024)
    )
    try:
        rx.conn.receive_data(HOSTILE[kind], now=time.monotonic())  # as if from ejabberd
        answer = rx.conn.data_to_send()  # before issue 12: <stream:error/></stream:stream>
        closed = rx.take_events()[-1]
        assert isinstance(closed, ConnectionClosed) and closed.error is not None
        assert closed.resumable
        checkpoint = rx.conn.checkpoint()
        assert checkpoint is not None
        rx.written_then_drop(answer)
        new, outcome = _resume(ejabberd, me, checkpoint.to_json())
        assert isinstance(outcome, StreamResumed), new.events
        # Item 1 too: the unconfirmed message is redelivered and reported again.
        again = new.until(lambda e: isinstance(e, MessageReceived))
        assert isinstance(again, MessageReceived) and again.message_id == mid
        new.conn.confirm_handled(now=time.monotonic())
        new.drop()
    finally:
        tx.drop()


@pytest.mark.parametrize(
    ("written", "resumes"),
    [
        (
            b"<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
            b"</stream:error></stream:stream>",
            False,
        ),
        (
            b"<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
            b"</stream:error>",
            False,
        ),
        (b"</stream:stream>", False),
        (b"", True),
    ],
    ids=["error-and-close", "error-only", "close-only", "drop-only"],
)
def test_what_ejabberd_does_with_each_way_of_ending(
    ejabberd: Ejabberd, ejabberd_user: Callable[[], CubeUser], written: bytes, resumes: bool
) -> None:
    rx, tx, me, _ = _receiver_with_unconfirmed_message(ejabberd, ejabberd_user)
    try:
        checkpoint = rx.conn.checkpoint()
        assert checkpoint is not None
        rx.written_then_drop(written)
        new, outcome = _resume(ejabberd, me, checkpoint.to_json())
        if resumes:
            assert isinstance(outcome, StreamResumed), new.events
        else:
            assert outcome == ResumeFailed(condition_name="item-not-found"), new.events
        new.drop()
    finally:
        tx.drop()
