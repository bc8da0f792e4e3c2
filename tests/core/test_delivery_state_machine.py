"""Issue 12: a hypothesis state machine drives the client core through arbitrary
interleavings of sends, acks, cuts, resumptions, checkpoints, confirms, ack timeouts,
session expiries and process restarts from a JSON checkpoint, against a model server,
and checks the two delivery invariants:

* every message from the peer is handled by the application exactly once (handled =
  confirmed with ``confirm_handled``), none lost;
* every outcome the sender got is true at the receiver: ``MessageSent`` only for a
  message the server received, ``MessageLost`` never for one it received (and at most
  one outcome per message).

The model server is the project's own server role (:class:`ServerConnection`: XEP-0198
counting, ``<r/>``/``<a/>``, detach and resume) plus a few lines of session store: a
detached session is kept until the ``expire`` rule ends it, stanzas for a detached
session are queued and sent after ``<resumed/>``, and when a session ends its unacked
messages go to offline storage and are delivered to the next fresh session (ejabberd's
``resend_on_timeout: if_offline``).  Bytes travel through two "wires" that the
``cut`` rule drops with whatever is in flight.

The application follows the documented discipline: it persists ``checkpoint()`` (JSON)
on every ``CheckpointChanged`` and right after ``confirm_handled()``; events it took but
did not confirm are not handled (a crash or a cut rolls them back: they are
redelivered).  One rule sends, lets the bytes reach the server and kills the process
before it persisted anything, so the new process's checkpoint lags behind the server.

Crashes in the middle of a login are explored too (``crash_and_die_again_mid_login``):
that rule found that a process killed between a refused resumption and the fresh
session's ``<enabled/>`` restarted without a checkpoint, with an empty duplicate-
suppression memory (fixed: the checkpoint bridges that window).

Examples: ``CUBEPROTO_HYPOTHESIS_PROFILE=ci`` runs 10,000 of up to 16 steps (measured on
the shared 2-core machine: 117 s CPU, 1 min 58 s wall; at 20 steps it was 142 s CPU); the
default profile runs 300 of up to 20 steps (about 5 s).
"""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from scripted import config

from cubeproto import (
    Checkpoint,
    CheckpointChanged,
    ClientConnection,
    ConnectionClosed,
    MessageLost,
    MessageRejected,
    MessageSent,
    MessageUnconfirmed,
    StreamState,
)
from cubeproto._server_connection import (
    ClientClosed,
    DetachedSession,
    ResumeRequested,
    ServerConfig,
    ServerConnection,
    ServerTransport,
    SmEnabled,
    StanzaReceived,
    make_user_auth,
)
from cubeproto._server_state import ServerState
from cubeproto.chat import ChatSession, MessageReceived, SendMessage

PEER_JID = "1002-42@localhost/peer"
_AUTH = make_user_auth("unused", salt=b"0123456789abcdef", tokens=frozenset({"pw-1001"}))
_SERVER_CONFIG = ServerConfig(
    domain="localhost",
    entropy=os.urandom,
    authenticate=lambda username: _AUTH if username == "1001-42" else None,
    transport=ServerTransport.DIRECT_TLS,
    mechanisms=("PLAIN",),
    ack_timeout=None,
)

settings.register_profile(
    "ci",
    max_examples=10_000,
    stateful_step_count=16,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
settings.register_profile(
    "dev",
    max_examples=300,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
_PROFILE = settings.get_profile(os.environ.get("CUBEPROTO_HYPOTHESIS_PROFILE", "dev"))


class DeliveryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.client_config = config(
            app_controlled_acks=True,
            handler_factory=ChatSession,
            checkpoint_events=True,
            mechanisms=("PLAIN",),
        )
        # --- the application
        self.persisted: str | None = None
        self.taken: list[str] = []  # received, not yet confirmed
        self.handled: list[str] = []  # confirmed, in order
        self.outcomes: dict[str, list[type]] = {}
        self.sent_ids: list[str] = []
        # --- the model server
        self.server_received: set[str] = set()
        self.peer_ids: list[str] = []
        self.detached: DetachedSession | None = None
        self.queued: list[str] = []  # routed to the detached session
        self.offline: list[str] = []
        # --- the link
        self.c2s = b""
        self.s2c = b""
        self.client: ClientConnection | None = None
        self.server: ServerConnection | None = None

    @initialize(resend=st.booleans())
    def first_login(self, resend: bool) -> None:
        """Half of the examples resend unconfirmed messages after a refused resumption
        (ClientConfig.resend_unconfirmed): the outcomes must stay facts either way."""
        self.client_config = config(
            app_controlled_acks=True,
            handler_factory=ChatSession,
            checkpoint_events=True,
            mechanisms=("PLAIN",),
            resend_unconfirmed=resend,
        )
        self.connect(resume=None)

    # ------------------------------------------------------------- plumbing

    def tick(self) -> float:
        self.now += 0.01
        return self.now

    def app_drain(self) -> None:
        """The application takes every event (persisting checkpoints) before any byte
        of the call that produced them leaves."""
        client = self.client
        assert client is not None
        while (event := client.next_event()) is not None:
            if isinstance(event, CheckpointChanged):
                cp = client.checkpoint()
                self.persisted = cp.to_json() if cp is not None else None
            elif isinstance(event, MessageReceived):
                assert event.message_id is not None
                self.taken.append(event.message_id)
            elif isinstance(event, (MessageSent, MessageLost, MessageUnconfirmed, MessageRejected)):
                self.outcomes.setdefault(event.message_id, []).append(type(event))
            elif isinstance(event, ConnectionClosed):
                self.taken.clear()  # not confirmed: not handled; it will come again
        self.c2s += client.data_to_send()
        if client.state is StreamState.CLOSED:
            self.drop_transport()

    def server_drain(self) -> None:
        server = self.server
        assert server is not None
        while (event := server.next_event()) is not None:
            if isinstance(event, StanzaReceived):
                element = event.element
                if event.kind == "message" and element.find("{jabber:client}body") is not None:
                    mid = element.get("id")
                    assert mid is not None
                    self.server_received.add(mid)
                elif event.kind == "iq" and element.get("type") in ("get", "set"):
                    server.send_stanza(
                        f'<iq type="result" id="{element.get("id")}" to="{server.jid}"/>',
                        now=self.now,
                    )
            elif isinstance(event, ResumeRequested):
                session = self.detached
                if session is not None and session.resume_id == event.previd:
                    self.detached = None
                    server.accept_resume(session, now=self.now, extra=self.queued)
                    self.queued = []
                else:
                    server.refuse_resume(now=self.now)
            elif isinstance(event, SmEnabled):
                for xml in self.offline:  # a fresh session gets what was stored
                    server.send_stanza(xml, now=self.now)
                self.offline = []
            elif isinstance(event, ClientClosed):
                session = server.detach() if event.resumable else None
                if session is not None:
                    self.detached = session
                else:
                    self.end_session(server.unacked_stanzas())
        self.s2c += server.data_to_send()

    def end_session(self, unacked: list[str]) -> None:
        """A session ended for good: its unacked messages are stored offline."""
        self.offline.extend(xml for xml in unacked if "<body>" in xml)

    def drop_transport(self) -> None:
        self.c2s = b""
        self.s2c = b""
        server = self.server
        if server is not None and server.state is not ServerState.CLOSED:
            server.receive_eof(now=self.now)
            self.server_drain()
        self.s2c = b""

    def connect(self, resume: object, *, rounds: int = 30) -> None:
        """A new connection, its login run for ``rounds`` round trips (to the end by
        default)."""
        self.client = ClientConnection(self.client_config, resume=resume)  # type: ignore[arg-type]
        self.server = ServerConnection(_SERVER_CONFIG)
        self.c2s = self.s2c = b""
        now = self.tick()
        self.server.start(now=now)
        self.client.start(now=now)
        self.app_drain()
        if rounds < 30:
            for _ in range(rounds):
                self.to_server()
                self.to_client()
            return
        for _ in range(30):
            if self.client.state in (StreamState.READY, StreamState.CLOSED):
                break
            self.to_server()
            self.to_client()
        self.to_server()
        self.to_client()

    def to_server(self) -> None:
        server = self.server
        if server is None or server.state is ServerState.CLOSED:
            self.c2s = b""
            return
        data, self.c2s = self.c2s, b""
        if data:
            server.receive_data(data, now=self.tick())
        self.server_drain()

    def to_client(self) -> None:
        client = self.client
        if client is None or client.state is StreamState.CLOSED:
            self.s2c = b""
            return
        data, self.s2c = self.s2c, b""
        if data:
            client.receive_data(data, now=self.tick())
        self.app_drain()

    @property
    def up(self) -> bool:
        return self.client is not None and self.client.state is StreamState.READY

    # ------------------------------------------------------------- rules

    @precondition(lambda self: self.up)
    @rule()
    def client_sends(self) -> None:
        assert self.client is not None
        mid = self.client.send(SendMessage(to_user=1002, body="out"), now=self.tick())
        assert mid is not None
        self.sent_ids.append(mid)
        self.app_drain()

    @precondition(lambda self: self.up)
    @rule()
    def client_sends_then_dies_before_persisting(self) -> None:
        """The bytes of a send leave, the process dies before it persisted anything
        (the new process's checkpoint is older than what the server has)."""
        assert self.client is not None
        self.client.send(SendMessage(to_user=1002, body="unpersisted"), now=self.tick())
        self.c2s += self.client.data_to_send()
        self.to_server()
        self.crash_and_restart()

    @rule()
    def peer_sends(self) -> None:
        mid = f"peer{len(self.peer_ids):04d}"
        self.peer_ids.append(mid)
        xml = f'<message from="{PEER_JID}" type="chat" id="{mid}"><body>{mid}</body></message>'
        server = self.server
        if server is not None and server.state is ServerState.READY and server.sm_enabled:
            server.send_stanza(xml, now=self.tick())
            self.s2c += server.data_to_send()
        elif self.detached is not None:
            self.queued.append(xml)
        else:
            self.offline.append(xml)

    @rule()
    def deliver_to_server(self) -> None:
        self.to_server()

    @rule()
    def deliver_to_client(self) -> None:
        self.to_client()

    @precondition(
        lambda self: self.client is not None and self.client.state is not StreamState.CLOSED
    )
    @rule()
    def confirm(self) -> None:
        assert self.client is not None
        self.client.confirm_handled(now=self.tick())
        self.handled.extend(self.taken)
        self.taken.clear()
        cp = self.client.checkpoint()  # persisted with the application's own commit
        self.persisted = cp.to_json() if cp is not None else None
        self.app_drain()

    @precondition(lambda self: self.client is not None)
    @rule()
    def take_checkpoint(self) -> None:
        """The application may persist a checkpoint at any moment, not only when told."""
        assert self.client is not None
        cp = self.client.checkpoint()
        if cp is not None:
            text = cp.to_json()
            assert Checkpoint.from_json(text) == cp
            self.persisted = text

    @precondition(lambda self: self.client is not None and self.client.get_timer() is not None)
    @rule()
    def timer_fires(self) -> None:
        assert self.client is not None
        deadline = self.client.get_timer()
        assert deadline is not None
        self.now = max(self.now, deadline)
        self.client.handle_timer(now=self.now)
        self.app_drain()

    @precondition(
        lambda self: self.client is not None and self.client.state is not StreamState.CLOSED
    )
    @rule()
    def cut(self) -> None:
        assert self.client is not None
        self.client.receive_eof(now=self.tick())
        self.app_drain()
        self.drop_transport()

    @rule()
    def crash_and_restart(self) -> None:
        """SIGKILL: the process and what it had not confirmed are gone; a new process
        starts from the persisted JSON checkpoint (or fresh, without one)."""
        self.client = None
        self.taken.clear()
        self.drop_transport()
        resume = Checkpoint.from_json(self.persisted) if self.persisted is not None else None
        self.connect(resume=resume)

    @precondition(lambda self: self.client is not None and self.client.state is StreamState.CLOSED)
    @rule()
    def reconnect(self) -> None:
        assert self.client is not None
        self.connect(resume=self.client.resume_state())

    @rule(rounds=st.integers(min_value=0, max_value=6))
    def crash_and_die_again_mid_login(self, rounds: int) -> None:
        """A new process starts from the persisted checkpoint and dies again in the
        middle of its login (e.g. between a refused resumption and <enabled/>)."""
        self.client = None
        self.taken.clear()
        self.drop_transport()
        resume = Checkpoint.from_json(self.persisted) if self.persisted is not None else None
        self.connect(resume=resume, rounds=rounds)
        self.crash_and_restart()

    @precondition(lambda self: self.detached is not None)
    @rule()
    def expire(self) -> None:
        """The server ends the detached session (resumption refused from now on)."""
        assert self.detached is not None
        self.end_session([u.xml for u in self.detached.unacked] + self.queued)
        self.detached = None
        self.queued = []

    # ------------------------------------------------------------- invariants

    @invariant()
    def outcomes_are_facts(self) -> None:
        for mid, kinds in self.outcomes.items():
            assert len(kinds) == 1, (mid, kinds)
            if kinds[0] is MessageSent:
                assert mid in self.server_received, mid
            elif kinds[0] is MessageLost:
                assert mid not in self.server_received, mid

    @invariant()
    def handled_at_most_once(self) -> None:
        repeated = {mid for mid, n in Counter(self.handled).items() if n > 1}
        assert not repeated, repeated

    def teardown(self) -> None:
        """Heal the network and let everything settle: every peer message is handled."""
        for _ in range(12):
            if self.client is None or self.client.state is StreamState.CLOSED:
                resume = self.client.resume_state() if self.client is not None else None
                self.connect(resume=resume)
            for _ in range(4):
                self.to_server()
                self.to_client()
            if self.client is not None and self.client.state is not StreamState.CLOSED:
                self.confirm()
            if set(self.peer_ids) <= set(self.handled):
                break
        missing = set(self.peer_ids) - set(self.handled)
        assert not missing, f"lost: {sorted(missing)}"
        self.handled_at_most_once()
        self.outcomes_are_facts()


DeliveryMachine.TestCase.settings = _PROFILE
test_delivery_state_machine = DeliveryMachine.TestCase
