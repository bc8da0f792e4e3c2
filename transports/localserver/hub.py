"""ConnectyCube chat semantics on top of :class:`~cubeproto.server.ServerConnection`.

The hub knows every bound client session and routes what they send: 1-1 messages to the
peer's sessions (or offline storage), group/public dialogs as rooms whose members come
from the dialog, typing and markers, edits and deletes applied to history, history saved
when ``save_to_history=1`` (the stanza id becomes the history ``_id``), privacy lists
(a blocked 1-1 sender gets ``<message type="error">``; in groups the blocker just receives
nothing), last activity and its status-streaming pushes, carbons, system messages, MUC
presence, and stream-management sessions kept for resumption after a cut.

This module holds the state and the sessions' life -- authentication, binding, delivery
(to every connected session, else offline storage and the sessions awaiting resumption),
resumption and expiry -- and hands each stanza to the module of its concern in
:mod:`.routing` (messages, presence, rooms, IQs, privacy, REST-driven pushes).

Everything here is synchronous and runs on the server's event-loop thread.  Output is only
queued on the connections; the network layer writes what :meth:`Hub.take_dirty` returns.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from cubeproto.events import Event
from cubeproto.server import (
    ClientAuthenticated,
    ClientBound,
    ClientClosed,
    ClientResumed,
    DetachedSession,
    ResumeRequested,
    ServerConnection,
    StanzaReceived,
    UserAuth,
)

from .routing import iqs, messages, presence, privacy, pushes, rooms
from .routing.stanzas import into_client_namespace, message_id_of, with_delay
from .store import BROADCAST, GROUP, PRIVATE, PUBLIC, Store, User, iso, new_object_id

__all__ = ["BROADCAST", "GROUP", "PRIVATE", "PUBLIC", "Hub", "Session", "iso"]

_log = logging.getLogger("cubeproto.localserver")


@dataclass(eq=False)
class Session:
    """One client stream: its connection and what the hub knows about it."""

    conn: ServerConnection
    user: User | None = None
    jid: str | None = None
    carbons: bool = False
    available: bool = False
    inactive: bool = False
    rooms: set[str] = field(default_factory=set)
    #: The last available presence broadcast from this resource (RFC 6121 4.4.2), sent to
    #: the user's resources that become available later.
    presence: str | None = None
    #: Full JIDs this resource sent directed available presence to (RFC 6121 4.6.3): they
    #: hear of it when the resource goes unavailable.
    directed: set[str] = field(default_factory=set)


@dataclass
class _Detached:
    """A session awaiting resumption, and what was routed to it meanwhile (``extra``);
    ``stored``: the message ids among them that offline storage also holds (a copy made
    when they were routed, for a fresh login)."""

    session: DetachedSession
    user_id: int
    expires: float
    extra: list[str] = field(default_factory=list)
    stored: set[str] = field(default_factory=set)


class Hub:
    """Routing and chat semantics for one local server."""

    def __init__(
        self,
        store: Store,
        *,
        domain: str,
        clock: Callable[[], float],
        connection_clock: Callable[[], float] | None = None,
        resume_seconds: int = 300,
    ) -> None:
        """``clock`` is the wall clock (unix seconds, ``time.time`` in the server) that every
        moment the hub and the REST API write comes from: a message's ``date_sent``, history
        and dialog dates, offline ``<delay/>`` stamps, object ids, last activity, session
        expiry.  ``connection_clock`` is the one the server drives the connections with
        (the event loop's monotonic clock; ``clock`` when not given): the hub passes it as
        ``now`` when it sends on a connection, so that the deadlines this arms (the ack
        wait) are on the connection's timeline.  Both are given, not read here, so that a
        test can drive them."""
        self.store = store
        self._clock = clock
        self._connection_clock = clock if connection_clock is None else connection_clock
        self.resume_seconds = resume_seconds
        self.domain = domain
        self.muc = "muc." + domain
        self.online: dict[int, list[Session]] = {}
        self.detached: dict[str, _Detached] = {}
        self.rooms: dict[str, dict[int, Session]] = {}
        self.watchers: dict[int, set[Session]] = {}
        self.push_suppressed: set[int] = set()
        self._dirty: set[Session] = set()
        self.log: list[str] = []
        self._decoy_secret = os.urandom(32)

    # ------------------------------------------------------------------ clocks, ids, addresses

    def now(self) -> float:
        """The current time on the injected wall clock."""
        return self._clock()

    def connection_now(self) -> float:
        """The current time on the clock the connections run on."""
        return self._connection_clock()

    def new_id(self) -> str:
        """A fresh 24-hex object id (a stanza's or a record's), its time part from the clock."""
        return new_object_id(self.now())

    def take_dirty(self) -> list[Session]:
        """The sessions with output queued since the last call (the server writes it)."""
        dirty = list(self._dirty)
        self._dirty.clear()
        return dirty

    def user_jid(self, user: User | int, app_id: int | None = None) -> str:
        """The bare JID of a user: ``{id}-{app_id}@domain``."""
        if isinstance(user, User):
            return f"{user.id}-{user.app_id}@{self.domain}"
        return f"{user}-{app_id}@{self.domain}"

    def room_jid(self, dialog: dict[str, Any]) -> str:
        """The MUC room of a group or public dialog: ``{app_id}_{dialog_id}@muc.domain``."""
        return f"{dialog['app_id']}_{dialog['_id']}@{self.muc}"

    # ------------------------------------------------------------------ authentication

    def authenticate(self, username: str) -> UserAuth | None:
        """SASL lookup: ``{userId}-{appId}`` -> keys, plus live REST tokens (a
        session token is also the user's chat password).

        An unknown username gets a decoy (:meth:`_decoy_auth`) instead of ``None``, so that
        a SCRAM exchange does not tell it apart from an account before the proof."""
        user = self.user_from_local(username)
        auth = self.store.user_auth(user.id) if user is not None else None
        if user is None or auth is None:
            return self._decoy_auth(username)
        return UserAuth(
            salt=auth.salt,
            iterations=auth.iterations,
            keys=auth.keys,
            tokens=self.store.live_tokens(user.id, self.now()),
        )

    def _decoy_auth(self, username: str) -> UserAuth:
        """Credentials no secret matches, for a username with no account (RFC 5802
        section 5.1): SCRAM answers it with a server-first message like a real user's --
        a 16-byte salt, stable per username (keyed with this hub's random secret, so it
        cannot be predicted), 4096 iterations as :meth:`Store.create_user` uses -- and
        fails only at the proof, as for a wrong password; PLAIN pays the same derivation.
        The stored keys are random: no client key hashes to them."""
        digest = hmac.new(self._decoy_secret, username.encode(), "sha512").digest()
        return UserAuth(
            salt=digest[:16],
            iterations=4096,
            keys={"SHA-1": (digest[16:36], digest[36:56]), "SHA-256": (digest[:32], digest[32:])},
        )

    def user_from_local(self, local: str) -> User | None:
        """The user a JID's local part ``{id}-{app_id}`` names, or None."""
        uid, _, app = local.partition("-")
        if not uid.isdigit() or not app.isdigit() or len(uid) > 18:
            return None
        user = self.store.user(int(uid))
        return user if user is not None and user.app_id == int(app) else None

    def user_from_jid(self, jid: str | None) -> User | None:
        """The user a JID of this domain names, or None."""
        if not jid or "@" not in jid:
            return None
        local, _, rest = jid.partition("@")
        if rest.partition("/")[0] != self.domain:
            return None
        return self.user_from_local(local)

    # ------------------------------------------------------------------ delivery

    def send(self, session: Session, xml: str) -> None:
        """Queue ``xml`` on a session's connection (once it is bound and ready)."""
        if session.conn.jid is not None and session.conn.state.value == "ready":
            session.conn.send_stanza(xml, now=self.connection_now())
            self._dirty.add(session)

    def sessions_of(self, user_id: int) -> list[Session]:
        """The connected sessions of ``user_id``."""
        return list(self.online.get(user_id, ()))

    def is_online(self, user_id: int) -> bool:
        """Whether ``user_id`` has an available session."""
        return any(s.available for s in self.online.get(user_id, ()))

    def deliver(self, user_id: int, xml: str, *, store_offline: bool) -> bool:
        """Send ``xml`` to the bare JID of ``user_id``; True when some session got it now.

        RFC 6121 8.5.2.1.1 lets a server deliver a message for a bare JID to the "most
        available" resource or to every available (non-negative) resource; this server,
        like ConnectyCube, delivers to **every connected session** (each device shows the
        conversation; a session that has bound but not yet sent presence included).  A
        session awaiting resumption (detached after a cut) gets nothing while a connected
        one exists.  With none connected: the message goes to offline storage at once
        (when ``store_offline``), so that a fresh login gets it, **and** to every detached
        session, so that whichever resumes gets it in its resumed stream; a resumption
        then removes the offline copy (the user has it, as if it had been online), and a
        session that expires does not store it a second time.
        """
        sessions = self.online.get(user_id)
        if sessions:
            for session in sessions:
                self.send(session, xml)
            return True
        self.expire_detached()
        message_id = message_id_of(xml)
        if store_offline:
            self.store.add_offline(user_id, with_delay(xml, self.now()), message_id=message_id)
        for detached in self.detached.values():
            if detached.user_id == user_id:
                detached.extra.append(xml)
                if store_offline and message_id is not None:
                    detached.stored.add(message_id)
        return False

    # ------------------------------------------------ sessions: events, resumption, expiry

    def on_event(self, session: Session, event: Event) -> None:
        """Everything a connection reports goes through here."""
        if isinstance(event, StanzaReceived):
            if session.user is None:
                return
            into_client_namespace(event.element)
            try:
                if event.kind == "message":
                    messages.on_message(self, session, event.element)
                elif event.kind == "presence":
                    presence.on_presence(self, session, event.element)
                else:
                    iqs.on_iq(self, session, event.element)
            except Exception as exc:  # a routing bug must not kill the server
                self.log.append(f"error routing {event.kind}: {exc!r}")
                _log.exception("error routing a %s from %s", event.kind, session.jid)
        elif isinstance(event, ClientAuthenticated):
            session.user = self.user_from_local(event.username)
        elif isinstance(event, ClientBound):
            self._bound(session, event.jid)
        elif isinstance(event, ResumeRequested):
            self._resume(session, event)
        elif isinstance(event, ClientResumed):
            self._bound(session, event.jid)
            session.available = True
        elif isinstance(event, ClientClosed):
            self._closed(session, event)

    def _bound(self, session: Session, jid: str) -> None:
        """A session bound a resource: it is online (and the user was seen now)."""
        assert session.user is not None
        session.jid = jid
        self.online.setdefault(session.user.id, []).append(session)
        self.store.touch_user(session.user.id, self.now())

    def _resume(self, session: Session, event: ResumeRequested) -> None:
        """A client asks to resume a detached session: accepted with what was routed to
        it meanwhile, or refused (another user's, or expired -- then what its ``h`` says it
        had is dropped from offline storage)."""
        self.expire_detached()
        detached = self.detached.get(event.previd)
        if detached is not None and detached.session.username != event.username:
            session.conn.refuse_resume(now=self.connection_now())
            return
        if detached is None:
            # Too late to resume -- but the client's h says which of the stanzas that
            # session left unacknowledged it did handle: those must not come again.
            if session.user is not None:
                self.store.drop_offline_acked(session.user.id, event.previd, event.h)
            session.conn.refuse_resume(now=self.connection_now())
            return
        del self.detached[event.previd]
        session.conn.accept_resume(
            detached.session, now=self.connection_now(), extra=detached.extra
        )
        if detached.stored:
            # Delivered with the resumed stream: the copies kept for a fresh login go.
            self.store.drop_offline_ids(detached.user_id, detached.stored)
        self._dirty.add(session)

    def _closed(self, session: Session, event: ClientClosed) -> None:
        """A session ended: it leaves its rooms and watches; a resumable one is kept
        detached for ``resume_seconds``, any other goes unavailable and what it did not
        acknowledge goes to offline storage."""
        user = session.user
        if user is None or session.jid is None:
            return
        sessions = self.online.get(user.id, [])
        if session in sessions:
            sessions.remove(session)
        if not sessions:
            self.online.pop(user.id, None)
        for room in list(session.rooms):
            rooms.leave(self, session, room, announce=True)
        for watchers in self.watchers.values():
            watchers.discard(session)
        detached = session.conn.detach() if event.resumable else None
        if detached is not None:
            self.detached[detached.resume_id] = _Detached(
                detached, user.id, self.now() + self.resume_seconds
            )
        else:
            # RFC 6121 4.5.2 / 4.6.3: the resource is gone (a detached one may resume).
            presence.go_unavailable(self, session, None)
            # The session is over (clean close or no resumption): what the client did not
            # acknowledge is delivered at its next login -- once (deduplicated by id).
            for xml in session.conn.unacked_stanzas():
                self._keep_offline(user.id, xml, self.now())
        self.store.touch_user(user.id, self.now())
        if not self.is_online(user.id):
            iqs.push_last_activity(self, user)

    def expire_detached(self) -> None:
        """Sessions not resumed in time: their undelivered messages go offline, each
        tagged with the session and the ``h`` that acknowledges it, so that a late resume
        attempt can still say which ones the client had handled."""
        now = self.now()
        for key, detached in list(self.detached.items()):
            if detached.expires <= now:
                del self.detached[key]
                kept = detached.session
                for index, item in enumerate(kept.unacked):
                    h = (kept.acked_h + index + 1) % 2**32
                    self._keep_offline(detached.user_id, item.xml, now, origin=key, sm_h=h)
                for xml in detached.extra:
                    if message_id_of(xml) not in detached.stored:
                        self._keep_offline(detached.user_id, xml, now)

    def _keep_offline(
        self,
        user_id: int,
        xml: str,
        now: float,
        *,
        origin: str | None = None,
        sm_h: int | None = None,
    ) -> None:
        """Keep a message with a body for the user's next login, stamped with ``<delay/>``."""
        if xml.startswith("<message") and "<body>" in xml:
            self.store.add_offline(
                user_id,
                with_delay(xml, now),
                message_id=message_id_of(xml),
                origin=origin,
                sm_h=sm_h,
            )

    # ------------------------------------------------------------------ dialogs

    def private_dialog(self, user: User, peer: User) -> dict[str, Any]:
        """The private dialog of two users, created when they have none."""
        pair = sorted((user.id, peer.id))
        for dialog in self.store.dialogs(user.app_id):
            if dialog["type"] == PRIVATE and sorted(dialog["occupants_ids"]) == pair:
                return dialog
        return self.new_dialog(user, {"type": PRIVATE, "occupants_ids": pair})

    def new_dialog(self, owner: User, fields: dict[str, Any]) -> dict[str, Any]:
        """Create and store a dialog owned by ``owner`` (its room JID unless private)."""
        now = self.now()
        dialog_id = new_object_id(now)
        dtype = fields["type"]
        occupants = sorted(set(fields.get("occupants_ids", [])) | {owner.id})
        dialog: dict[str, Any] = {
            "_id": dialog_id,
            "app_id": owner.app_id,
            "type": dtype,
            "user_id": owner.id,
            "name": fields.get("name") if dtype != PRIVATE else None,
            "description": fields.get("description"),
            "photo": fields.get("photo"),
            "occupants_ids": occupants if dtype in (GROUP, PRIVATE) else [owner.id],
            "admins_ids": sorted(set(fields.get("admins_ids", []))),
            "pinned_messages_ids": [],
            "extensions": fields.get("extensions"),
            "permissions": fields.get("permissions"),
            "created": now,
            "updated": now,
            "hidden_for": [],
            "notifications_off": [],
        }
        dialog["xmpp_room_jid"] = self.room_jid(dialog) if dtype != PRIVATE else None
        self.store.put_dialog(dialog)
        return dialog

    def dialog_from_room(self, room: str) -> dict[str, Any] | None:
        """The group or public dialog a room JID names, or None."""
        local = room.partition("@")[0]
        app, _, dialog_id = local.partition("_")
        dialog = self.store.dialog(dialog_id)
        if dialog is None or str(dialog["app_id"]) != app or dialog["type"] == PRIVATE:
            return None
        return dialog

    def members(self, dialog: dict[str, Any]) -> list[int]:
        """Who receives a dialog's messages."""
        if dialog["type"] == BROADCAST:
            return [u.id for u in self.store.users(dialog["app_id"])]
        return list(dialog["occupants_ids"])

    def may_post(self, dialog: dict[str, Any], user_id: int) -> bool:
        """Whether ``user_id`` may post in ``dialog`` (a broadcast: its owner and admins)."""
        if dialog["type"] == BROADCAST:
            return user_id == dialog["user_id"] or user_id in dialog["admins_ids"]
        return user_id in dialog["occupants_ids"]

    # ------------------------------------------------------------------ used by the REST API

    def blocked(self, sender: User, receiver: User) -> bool:
        """Whether a message from ``sender`` to ``receiver`` is refused (privacy lists)."""
        return privacy.blocked(self, sender, receiver)

    def broadcast(
        self, dialog: dict[str, Any], element: etree._Element, *, sender: User | None
    ) -> None:
        """Send a groupchat stanza to the dialog's members (:func:`.routing.rooms.broadcast`)."""
        rooms.broadcast(self, dialog, element, sender=sender)

    def last_activity_seconds(self, user: User) -> int:
        """Seconds since ``user`` was last seen (0 while online)."""
        return iqs.last_activity_seconds(self, user)

    def push_reactions(
        self, record: dict[str, Any], reactor: User, add: str | None, remove: str | None
    ) -> None:
        """Tell the dialog's members of a reaction change (:mod:`.routing.pushes`)."""
        pushes.push_reactions(self, record, reactor, add, remove)

    def push_removal(self, record: dict[str, Any], actor: User) -> None:
        """Tell the dialog's members that a message was deleted for everybody."""
        pushes.push_removal(self, record, actor)

    def push_history_message(
        self, record: dict[str, Any], sender: User, dialog: dict[str, Any], custom: dict[str, Any]
    ) -> None:
        """Deliver a message created over REST with ``send_to_chat=1``."""
        pushes.push_history_message(self, record, sender, dialog, custom)

    def push_system_message(self, sender: User, recipient: User, params: dict[str, Any]) -> str:
        """Deliver a system message; its id."""
        return pushes.push_system_message(self, sender, recipient, params)
