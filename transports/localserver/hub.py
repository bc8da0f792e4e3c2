"""ConnectyCube chat semantics on top of :class:`~cubeproto.server.ServerConnection`.

The hub knows every bound client session and routes what they send: 1-1 messages to the
peer's sessions (or offline storage), group/public dialogs as rooms whose members come
from the dialog, typing and markers, edits and deletes applied to history, history saved
when ``save_to_history=1`` (the stanza id becomes the history ``_id``), privacy lists
(a blocked 1-1 sender gets ``<message type="error">``; in groups the blocker just receives
nothing), last activity and its status-streaming pushes, carbons, system messages, MUC
presence, and stream-management sessions kept for resumption after a cut.

Everything here is synchronous and runs on the server's event-loop thread.  Output is only
queued on the connections; the network layer writes what :meth:`Hub.take_dirty` returns.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from cubeproto.chat.extension import decode_extension, encode_extension
from cubeproto.events import Event
from cubeproto.server import (
    NS_CLIENT,
    ClientAuthenticated,
    ClientBound,
    ClientClosed,
    ClientResumed,
    DetachedSession,
    ResumeRequested,
    ServerConnection,
    StanzaReceived,
    UserAuth,
    element_bytes,
    escape_attr,
    escape_text,
)

from .store import Store, User, new_object_id

__all__ = ["Hub", "Session", "iso"]

NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_MUC = "http://jabber.org/protocol/muc"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
NS_CARBONS = "urn:xmpp:carbons:2"
NS_PRIVACY = "jabber:iq:privacy"
NS_LAST = "jabber:iq:last"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_MOBILE = "http://tigase.org/protocol/mobile#v2"
NS_STATUS = "https://connectycube.com/protocol/status_streaming"
NS_DELAY = "urn:xmpp:delay"

PRIVATE, GROUP, PUBLIC, BROADCAST = 3, 2, 4, 1

_log = logging.getLogger("cubeproto.localserver")


def iso(t: float) -> str:
    """ISO-8601 UTC with seconds, as ConnectyCube writes ``created_at``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _child(element: etree._Element, local: str) -> etree._Element | None:
    for child in element:
        if _local(child.tag) == local:
            return child
    return None


def _into_client_namespace(element: etree._Element) -> None:
    """Put un-namespaced elements of a stanza into ``jabber:client``: a WebSocket client may
    omit the namespace, and a stanza the hub forwards (carbons, offline storage) must carry
    it wherever it is embedded."""
    for node in element.iter():
        if isinstance(node.tag, str) and not node.tag.startswith("{"):
            node.tag = f"{{{NS_CLIENT}}}{node.tag}"


def _body(element: etree._Element) -> str | None:
    """The text of a stanza's ``<body>``, whatever namespace the framing gave it (the
    WebSocket framing's stanzas may carry none)."""
    body = _child(element, "body")
    return None if body is None else (body.text or "")


def _xml(element: etree._Element) -> str:
    return element_bytes(element).decode()


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

    def __init__(self, store: Store, *, domain: str, resume_seconds: int = 300) -> None:
        self.store = store
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

    # ------------------------------------------------------------------ plumbing

    def now(self) -> float:
        return time.time()

    def take_dirty(self) -> list[Session]:
        dirty = list(self._dirty)
        self._dirty.clear()
        return dirty

    def user_jid(self, user: User | int, app_id: int | None = None) -> str:
        if isinstance(user, User):
            return f"{user.id}-{user.app_id}@{self.domain}"
        return f"{user}-{app_id}@{self.domain}"

    def room_jid(self, dialog: dict[str, Any]) -> str:
        return f"{dialog['app_id']}_{dialog['_id']}@{self.muc}"

    def authenticate(self, username: str) -> UserAuth | None:
        """SASL lookup: ``{userId}-{appId}`` -> keys, plus live REST tokens (section 4.4).

        An unknown username gets a decoy (:meth:`_decoy_auth`) instead of ``None``, so that
        a SCRAM exchange does not tell it apart from an account before the proof."""
        user = self._user_from_local(username)
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

    def _user_from_local(self, local: str) -> User | None:
        uid, _, app = local.partition("-")
        if not uid.isdigit() or not app.isdigit() or len(uid) > 18:
            return None
        user = self.store.user(int(uid))
        return user if user is not None and user.app_id == int(app) else None

    def _user_from_jid(self, jid: str | None) -> User | None:
        if not jid or "@" not in jid:
            return None
        local, _, rest = jid.partition("@")
        if rest.partition("/")[0] != self.domain:
            return None
        return self._user_from_local(local)

    def _send(self, session: Session, xml: str) -> None:
        if session.conn.jid is not None and session.conn.state.value == "ready":
            session.conn.send_stanza(xml, now=self.now())
            self._dirty.add(session)

    def sessions_of(self, user_id: int) -> list[Session]:
        return list(self.online.get(user_id, ()))

    def is_online(self, user_id: int) -> bool:
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
                self._send(session, xml)
            return True
        self.expire_detached()
        message_id = _message_id(xml)
        if store_offline:
            self.store.add_offline(user_id, _with_delay(xml, self.now()), message_id=message_id)
        for detached in self.detached.values():
            if detached.user_id == user_id:
                detached.extra.append(xml)
                if store_offline and message_id is not None:
                    detached.stored.add(message_id)
        return False

    # ------------------------------------------------------------------ connection events

    def on_event(self, session: Session, event: Event) -> None:
        """Everything a connection reports goes through here."""
        if isinstance(event, StanzaReceived):
            if session.user is None:
                return
            _into_client_namespace(event.element)
            try:
                if event.kind == "message":
                    self._on_message(session, event.element)
                elif event.kind == "presence":
                    self._on_presence(session, event.element)
                else:
                    self._on_iq(session, event.element)
            except Exception as exc:  # a routing bug must not kill the server
                self.log.append(f"error routing {event.kind}: {exc!r}")
                _log.exception("error routing a %s from %s", event.kind, session.jid)
        elif isinstance(event, ClientAuthenticated):
            session.user = self._user_from_local(event.username)
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
        assert session.user is not None
        session.jid = jid
        self.online.setdefault(session.user.id, []).append(session)
        self.store.touch_user(session.user.id, self.now())

    def _resume(self, session: Session, event: ResumeRequested) -> None:
        self.expire_detached()
        detached = self.detached.get(event.previd)
        if detached is not None and detached.session.username != event.username:
            session.conn.refuse_resume(now=self.now())
            return
        if detached is None:
            # Too late to resume -- but the client's h says which of the stanzas that
            # session left unacknowledged it did handle: those must not come again.
            if session.user is not None:
                self.store.drop_offline_acked(session.user.id, event.previd, event.h)
            session.conn.refuse_resume(now=self.now())
            return
        del self.detached[event.previd]
        session.conn.accept_resume(detached.session, now=self.now(), extra=detached.extra)
        if detached.stored:
            # Delivered with the resumed stream: the copies kept for a fresh login go.
            self.store.drop_offline_ids(detached.user_id, detached.stored)
        self._dirty.add(session)

    def _closed(self, session: Session, event: ClientClosed) -> None:
        user = session.user
        if user is None or session.jid is None:
            return
        sessions = self.online.get(user.id, [])
        if session in sessions:
            sessions.remove(session)
        if not sessions:
            self.online.pop(user.id, None)
        for room in list(session.rooms):
            self._leave_room(session, room, announce=True)
        for watchers in self.watchers.values():
            watchers.discard(session)
        detached = session.conn.detach() if event.resumable else None
        if detached is not None:
            self.detached[detached.resume_id] = _Detached(
                detached, user.id, self.now() + self.resume_seconds
            )
        else:
            # RFC 6121 4.5.2 / 4.6.3: the resource is gone (a detached one may resume).
            self._go_unavailable(session, None)
            # The session is over (clean close or no resumption): what the client did not
            # acknowledge is delivered at its next login -- once (deduplicated by id).
            for xml in session.conn.unacked_stanzas():
                self._keep_offline(user.id, xml, self.now())
        self.store.touch_user(user.id, self.now())
        if not self.is_online(user.id):
            self._push_last_activity(user)

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
                    if _message_id(xml) not in detached.stored:
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
        if xml.startswith("<message") and "<body>" in xml:
            self.store.add_offline(
                user_id,
                _with_delay(xml, now),
                message_id=_message_id(xml),
                origin=origin,
                sm_h=sm_h,
            )

    # ------------------------------------------------------------------ privacy

    def _privacy_items(self, user_id: int) -> list[dict[str, Any]]:
        name = self.store.default_privacy(user_id)
        if name is None:
            return []
        items = self.store.privacy_list(user_id, name) or []
        return sorted(items, key=lambda i: i.get("order", 0))

    def _match(self, user_id: int, other: User, outgoing: bool) -> bool:
        """Whether ``user_id``'s default list denies messages with ``other``."""
        targets = {self.user_jid(other), f"{self.muc}/{other.id}"}
        for item in self._privacy_items(user_id):
            if item.get("value") not in targets:
                continue
            kinds = item.get("kinds") or []
            applies = not kinds if outgoing else (not kinds or "message" in kinds)
            if applies:
                return item.get("action") == "deny"
        return False

    def blocked(self, sender: User, receiver: User) -> bool:
        """A message from ``sender`` to ``receiver`` is refused: the receiver blocks the
        sender (one-way), or either side holds a two-way block."""
        return self._match(receiver.id, sender, outgoing=False) or self._match(
            sender.id, receiver, outgoing=True
        )

    # ------------------------------------------------------------------ messages

    def _on_message(self, session: Session, element: etree._Element) -> None:
        user = session.user
        assert user is not None and session.jid is not None
        mtype = element.get("type") or "normal"
        if mtype == "error":
            return
        to = element.get("to") or ""
        bare = to.partition("/")[0]
        if bare.endswith("@" + self.muc):
            self._group_message(session, element, bare)
            return
        peer = self._user_from_jid(to)
        if peer is None or peer.app_id != user.app_id:
            # No such account here (unknown user, another app, a remote domain): answered
            # exactly as a blocked recipient is -- service-unavailable, RFC 6121 8.5.2.1.1
            # -- so the answer never tells which accounts exist (IQs get the same); a
            # headline is dropped silently, as that section says.
            if mtype != "headline":
                self._refuse(session, element)
            return
        if mtype == "headline":
            self.deliver(peer.id, _xml(element), store_offline=True)
            return
        self._private_message(session, element, peer)

    def _refuse(self, session: Session, element: etree._Element) -> None:
        """The one answer for a message nobody here takes: unknown or blocked recipient."""
        self._bounce(session, element, "service-unavailable", "503", "Service not available.")

    def _bounce(
        self, session: Session, element: etree._Element, condition: str, code: str, text: str
    ) -> None:
        msg_id = escape_attr(element.get("id") or "")
        sender = escape_attr(element.get("to") or self.domain)
        body = _body(element)
        body_xml = f"<body>{escape_text(body)}</body>" if body else ""
        etype = "auth" if condition == "forbidden" else "cancel"
        self._send(
            session,
            f'<message type="error" id="{msg_id}" from="{sender}" '
            f'to="{escape_attr(session.jid or "")}">{body_xml}'
            f'<error code="{code}" type="{etype}"><{condition} xmlns="{NS_STANZAS}"/>'
            f'<text xmlns="{NS_STANZAS}">{escape_text(text)}</text></error></message>',
        )

    def _extra_params(self, element: etree._Element) -> etree._Element:
        extra = _child(element, "extraParams")
        if extra is None:
            extra = etree.SubElement(element, f"{{{NS_CLIENT}}}extraParams")
        return extra

    def _set_param(self, extra: etree._Element, name: str, value: str) -> None:
        if _child(extra, name) is None:
            etree.SubElement(extra, f"{{{NS_CLIENT}}}{name}").text = value

    def _private_message(self, session: Session, element: etree._Element, peer: User) -> None:
        user = session.user
        assert user is not None
        if self.blocked(user, peer):
            self._refuse(session, element)
            return
        kind = self._kind(element)
        extra_el = _child(element, "extraParams")
        params = decode_extension(extra_el) if extra_el is not None else None
        extension = dict(params.extension) if params is not None else {}
        named = extension.get("dialog_id")
        dialog_id = named if isinstance(named, str) else None
        if kind == "chat":
            now = self.now()
            if dialog_id is None:
                dialog_id = self.private_dialog(user, peer)["_id"]
            elif (refusal := self._dialog_refusal(dialog_id, user, peer)) is not None:
                # A dialog id the server cannot file the message under is bounced, not
                # acknowledged and delivered as if it were stored (issue 14).
                self._bounce(session, element, *refusal)
                return
            assert isinstance(dialog_id, str)
            extra = self._extra_params(element)
            self._set_param(extra, "dialog_id", dialog_id)
            self._set_param(extra, "date_sent", str(int(now)))
            if str(extension.get("save_to_history")) == "1":
                self._save(element, user, dialog_id, peer.id, extension, params, now)
            xml = _xml(element)
            delivered = self.deliver(peer.id, xml, store_offline=True)
            self._carbon(session, xml)
            if not delivered:
                self.log.append(f"stored offline for {peer.id}")
            return
        if kind in ("received", "displayed"):
            marked = _child(element, kind)
            if marked is not None and marked.get("id"):
                self._apply_marker(marked.get("id") or "", user.id, kind == "displayed")
        elif kind == "replace":
            self._apply_edit(element, user)
        elif kind == "remove":
            self._apply_remove(element, user)
        xml = _xml(element)
        self.deliver(peer.id, xml, store_offline=False)
        if kind in ("replace", "remove"):
            self._carbon(session, xml)

    def _dialog_refusal(
        self, dialog_id: str, user: User, peer: User
    ) -> tuple[str, str, str] | None:
        """Why a 1-1 message may not name ``dialog_id`` (condition, code, text), or None: the
        dialog must exist in the sender's application and hold both users (a public or
        broadcast dialog holds everyone)."""
        dialog = self.store.dialog(dialog_id)
        if dialog is None or dialog["app_id"] != user.app_id:
            return "item-not-found", "404", "Dialog not found"
        occupants = dialog.get("occupants_ids") or []
        if dialog.get("type") in (PUBLIC, BROADCAST):
            return None
        if user.id not in occupants or peer.id not in occupants:
            return "forbidden", "403", "Both users must be occupants of the dialog"
        return None

    def _kind(self, element: etree._Element) -> str:
        for local in ("composing", "paused", "replace", "remove", "received", "displayed"):
            if _child(element, local) is not None:
                return local
        if _child(element, "body") is not None:
            return "chat"
        extra = _child(element, "extraParams")
        if extra is not None and _child(extra, "attachment") is not None:
            return "chat"
        return "other"

    def _carbon(self, session: Session, xml: str) -> None:
        user = session.user
        assert user is not None
        for other in self.online.get(user.id, ()):
            if other is session or not other.carbons:
                continue
            self._send(
                other,
                f'<message from="{self.user_jid(user)}" to="{escape_attr(other.jid or "")}" '
                f'type="chat"><sent xmlns="{NS_CARBONS}"><forwarded xmlns="urn:xmpp:forward:0">'
                f"{xml}</forwarded></sent></message>",
            )

    def private_dialog(self, user: User, peer: User) -> dict[str, Any]:
        pair = sorted((user.id, peer.id))
        for dialog in self.store.dialogs(user.app_id):
            if dialog["type"] == PRIVATE and sorted(dialog["occupants_ids"]) == pair:
                return dialog
        return self.new_dialog(user, {"type": PRIVATE, "occupants_ids": pair})

    def new_dialog(self, owner: User, fields: dict[str, Any]) -> dict[str, Any]:
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

    def _save(
        self,
        element: etree._Element,
        user: User,
        dialog_id: str,
        recipient_id: int,
        extension: dict[str, Any],
        params: Any,
        now: float,
    ) -> None:
        message_id = element.get("id") or new_object_id(now)
        body = _body(element) or ""
        raw_attachments = extension.get("attachments")
        attachments = list(raw_attachments) if isinstance(raw_attachments, (list, tuple)) else []
        record: dict[str, Any] = {
            "_id": message_id,
            "chat_dialog_id": dialog_id,
            "message": body,
            "date_sent": int(now),
            "sender_id": user.id,
            "recipient_id": recipient_id,
            "read_ids": [user.id],
            "delivered_ids": [user.id],
            "views_count": 0,
            "attachments": attachments,
            "reactions": {},
            "created": now,
            "updated": now,
            "hidden_for": [],
        }
        for key, value in extension.items():
            if key not in ("save_to_history", "dialog_id", "attachments", "date_sent"):
                record.setdefault(key, value)
        self.store.put_message(record)
        dialog = self.store.dialog(dialog_id)
        if dialog is not None:
            dialog["updated"] = now
            dialog["hidden_for"] = []
            self.store.put_dialog(dialog)

    def _apply_marker(self, message_id: str, user_id: int, read: bool) -> None:
        record = self.store.message(message_id)
        if record is None:
            return
        if user_id not in record["delivered_ids"]:
            record["delivered_ids"].append(user_id)
        if read and user_id not in record["read_ids"]:
            record["read_ids"].append(user_id)
        self.store.put_message(record)

    def _apply_edit(self, element: etree._Element, user: User) -> None:
        replace = _child(element, "replace")
        record = self.store.message(replace.get("id") or "") if replace is not None else None
        if record is None or record["sender_id"] != user.id:
            return
        record["message"] = _body(element) or ""
        record["updated"] = self.now()
        self.store.put_message(record)

    def _apply_remove(self, element: etree._Element, user: User) -> None:
        remove = _child(element, "remove")
        record = self.store.message(remove.get("id") or "") if remove is not None else None
        if record is None:
            return
        dialog = self.store.dialog(record["chat_dialog_id"])
        admins = set(dialog["admins_ids"]) | {dialog["user_id"]} if dialog else set()
        if record["sender_id"] == user.id or user.id in admins:
            self.store.delete_message(record["_id"])

    # --- group dialogs -----------------------------------------------------------------

    def dialog_from_room(self, room: str) -> dict[str, Any] | None:
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
        if dialog["type"] == BROADCAST:
            return user_id == dialog["user_id"] or user_id in dialog["admins_ids"]
        return user_id in dialog["occupants_ids"]

    def _group_message(self, session: Session, element: etree._Element, room: str) -> None:
        user = session.user
        assert user is not None
        dialog = self.dialog_from_room(room)
        if dialog is None:
            self._bounce(session, element, "item-not-found", "404", "Dialog not found")
            return
        if not self.may_post(dialog, user.id):
            self._bounce(
                session, element, "forbidden", "403", "You are not an occupant of this dialog"
            )
            return
        kind = self._kind(element)
        if kind in ("received", "displayed"):
            return  # markers are 1-1 only
        now = self.now()
        element.set("from", f"{room}/{user.id}")
        element.set("type", "groupchat")
        if kind == "chat":
            extra_el = _child(element, "extraParams")
            params = decode_extension(extra_el) if extra_el is not None else None
            extension = dict(params.extension) if params is not None else {}
            extra = self._extra_params(element)
            self._set_param(extra, "dialog_id", dialog["_id"])
            self._set_param(extra, "date_sent", str(int(now)))
            if str(extension.get("save_to_history")) == "1":
                self._save(element, user, dialog["_id"], 0, extension, params, now)
        elif kind == "replace":
            self._apply_edit(element, user)
        elif kind == "remove":
            self._apply_remove(element, user)
        self.broadcast(dialog, element, sender=user)

    def broadcast(
        self, dialog: dict[str, Any], element: etree._Element, *, sender: User | None
    ) -> None:
        """Send a groupchat stanza to every member's sessions (the sender's too), except
        to members whose privacy list blocks the sender."""
        for member in self.members(dialog):
            if sender is not None and member != sender.id:
                member_user = self.store.user(member)
                if member_user is not None and self._match(member, sender, outgoing=False):
                    continue
            for target in self.online.get(member, ()):
                element.set("to", target.jid or "")
                self._send(target, _xml(element))

    # ------------------------------------------------------------------ presence

    def _on_presence(self, session: Session, element: etree._Element) -> None:
        user = session.user
        assert user is not None
        to = element.get("to")
        ptype = element.get("type")
        if to is None:
            if ptype in (None, "available"):
                self._broadcast_presence(session, element)
            elif ptype == "unavailable":
                self._go_unavailable(session, element)
                self.store.touch_user(user.id, self.now())
                self._push_last_activity(user)
            return
        room, _, nick = to.partition("/")
        if room.endswith("@" + self.muc):
            if ptype == "unavailable":
                self._leave_room(session, room, announce=True, presence_id=element.get("id"))
            else:
                self._join_room(session, room, nick, element.get("id"))
            return
        self._directed_presence(session, element, to, ptype)

    def _broadcast_presence(self, session: Session, element: etree._Element) -> None:
        """Initial or updated available presence (RFC 6121 4.2.2, 4.4.2): sent as it came,
        ``show``/``status``/``priority``/extensions kept, from the resource's full JID to
        every available resource of the user (the sender included); a resource that just
        became available also gets the presence of the user's other available resources.
        There is no roster, so no contact receives it."""
        user = session.user
        assert user is not None
        first = not session.available
        session.available = True
        element.set("from", session.jid or "")
        element.set("to", self.user_jid(user))
        xml = session.presence = _xml(element)
        for other in self.online.get(user.id, ()):
            if other.available:
                self._send(other, xml)
                if first and other is not session and other.presence is not None:
                    self._send(session, other.presence)
        if first:
            for stored in self.store.take_offline(user.id):
                self._send(session, stored)
            self._push_last_activity(user)

    def _go_unavailable(self, session: Session, element: etree._Element | None) -> None:
        """Unavailable presence (RFC 6121 4.5.2), sent by the client or made for it when
        its stream ends: to the user's other available resources and to whoever got
        directed presence from this one.  (Last activity is the callers' business.)"""
        user = session.user
        assert user is not None
        if not session.available and not session.directed:
            return
        was_available = session.available
        session.available = False
        session.presence = None
        if element is None:
            element = etree.Element(f"{{{NS_CLIENT}}}presence", type="unavailable")
        element.set("from", session.jid or "")
        element.set("to", self.user_jid(user))
        if was_available:
            xml = _xml(element)
            for other in self.online.get(user.id, ()):
                if other is not session and other.available:
                    self._send(other, xml)
        for target in sorted(session.directed):
            element.set("to", target)
            self._deliver_presence(user, target, _xml(element))
        session.directed.clear()

    def _directed_presence(
        self, session: Session, element: etree._Element, to: str, ptype: str | None
    ) -> None:
        """Directed presence (RFC 6121 4.6): available or unavailable presence to one
        user of the same application, as sent (from the sender's full JID), to the given
        resource or, for a bare JID, to every available resource.  Nothing comes back
        whatever the target (unknown accounts are not revealed; a recipient whose privacy
        list blocks the sender's presence gets nothing); subscription requests and probes
        are dropped (no rosters here)."""
        user = session.user
        assert user is not None
        if ptype not in (None, "available", "unavailable"):
            return
        peer = self._user_from_jid(to)
        if peer is None or peer.app_id != user.app_id:
            return
        if self._presence_blocked(user, peer):
            return
        if ptype == "unavailable":
            session.directed.discard(to)
        elif len(session.directed) < 1000:
            session.directed.add(to)
        self._deliver_presence(user, to, _xml(element))

    def _deliver_presence(self, sender: User, to: str, xml: str) -> None:
        peer = self._user_from_jid(to)
        if peer is None:
            return
        resource = to.partition("/")[2]
        for target in self.online.get(peer.id, ()):
            if not target.available:
                continue
            if resource and (target.jid or "").partition("/")[2] != resource:
                continue
            self._send(target, xml)

    def _presence_blocked(self, sender: User, receiver: User) -> bool:
        """Privacy lists for presence: the receiver's ``presence-in`` items (or items for
        everything) against the sender, the sender's ``presence-out`` ones against the
        receiver; the first matching item decides (XEP-0016)."""

        def denies(owner: int, other: User, kind: str) -> bool:
            targets = {self.user_jid(other)}
            for item in self._privacy_items(owner):
                if item.get("value") in targets:
                    kinds = item.get("kinds") or []
                    if not kinds or kind in kinds:
                        return item.get("action") == "deny"
            return False

        return denies(receiver.id, sender, "presence-in") or denies(
            sender.id, receiver, "presence-out"
        )

    def _join_room(self, session: Session, room: str, nick: str, presence_id: str | None) -> None:
        """A MUC join as XEP-0045 7.2 orders it: the present occupants' presences, the
        joiner's self-presence (status 110; 210 too when the server changed the
        requested nick, 7.2.9 -- the nick is always the user id here), then the room
        subject (7.2.16; empty, as dialogs have none) that tells the client the join is
        complete."""
        user = session.user
        assert user is not None
        dialog = self.dialog_from_room(room)
        id_attr = f' id="{escape_attr(presence_id)}"' if presence_id else ""
        if dialog is None or user.id not in self.members(dialog):
            condition = "item-not-found" if dialog is None else "registration-required"
            code = "404" if dialog is None else "407"
            self._send(
                session,
                f'<presence type="error" from="{escape_attr(room)}/{user.id}" '
                f'to="{escape_attr(session.jid or "")}"{id_attr}>'
                f'<x xmlns="{NS_MUC}"/><error code="{code}" type="cancel">'
                f'<{condition} xmlns="{NS_STANZAS}"/></error></presence>',
            )
            return
        occupants = self.rooms.setdefault(room, {})
        joined_before = occupants.get(user.id) is session
        for uid, other in occupants.items():
            if uid != user.id:
                self._send(session, self._occupant_presence(room, uid, session.jid, None))
                self._send(other, self._occupant_presence(room, user.id, other.jid, None))
        occupants[user.id] = session
        session.rooms.add(room)
        self._send(
            session,
            self._occupant_presence(
                room, user.id, session.jid, presence_id, True, nick_changed=nick != str(user.id)
            ),
        )
        if not joined_before:
            self._send(
                session,
                f'<message type="groupchat" id="{new_object_id()}" from="{escape_attr(room)}" '
                f'to="{escape_attr(session.jid or "")}"><subject/></message>',
            )

    def _occupant_presence(
        self,
        room: str,
        uid: int,
        to: str | None,
        presence_id: str | None,
        self_presence: bool = False,
        unavailable: bool = False,
        *,
        nick_changed: bool = False,
    ) -> str:
        id_attr = f' id="{escape_attr(presence_id)}"' if presence_id else ""
        type_attr = ' type="unavailable"' if unavailable else ""
        status = '<status code="110"/>' if self_presence else ""
        if nick_changed:
            status += '<status code="210"/>'
        return (
            f'<presence from="{escape_attr(room)}/{uid}" to="{escape_attr(to or "")}"'
            f'{id_attr}{type_attr}><x xmlns="{NS_MUC_USER}">'
            f'<item affiliation="member" role="{"none" if unavailable else "participant"}"/>'
            f"{status}</x></presence>"
        )

    def _leave_room(
        self, session: Session, room: str, *, announce: bool, presence_id: str | None = None
    ) -> None:
        user = session.user
        assert user is not None
        occupants = self.rooms.get(room, {})
        if occupants.get(user.id) is session:
            del occupants[user.id]
        session.rooms.discard(room)
        if announce:
            for other in occupants.values():
                self._send(
                    other, self._occupant_presence(room, user.id, other.jid, None, unavailable=True)
                )
        if session.conn.state.value == "ready":
            self._send(
                session,
                self._occupant_presence(room, user.id, session.jid, presence_id, True, True),
            )

    # ------------------------------------------------------------------ IQs

    def _iq_result(
        self, session: Session, element: etree._Element, payload: str = "", frm: str | None = None
    ) -> None:
        iq_id = escape_attr(element.get("id") or "")
        from_attr = f' from="{escape_attr(frm)}"' if frm else ""
        self._send(
            session,
            f'<iq type="result" id="{iq_id}"{from_attr} to="{escape_attr(session.jid or "")}">'
            f"{payload}</iq>",
        )

    def _iq_error(
        self, session: Session, element: etree._Element, condition: str, etype: str = "cancel"
    ) -> None:
        iq_id = escape_attr(element.get("id") or "")
        frm = element.get("to")
        from_attr = f' from="{escape_attr(frm)}"' if frm else ""
        self._send(
            session,
            f'<iq type="error" id="{iq_id}"{from_attr} to="{escape_attr(session.jid or "")}">'
            f'<error type="{etype}"><{condition} xmlns="{NS_STANZAS}"/></error></iq>',
        )

    def _on_iq(self, session: Session, element: etree._Element) -> None:
        user = session.user
        assert user is not None
        itype = element.get("type")
        if itype not in ("get", "set"):
            return  # results/errors of server pushes
        child = next((c for c in element if isinstance(c.tag, str)), None)
        if child is None:
            self._iq_error(session, element, "bad-request", "modify")
            return
        ns = child.tag.partition("}")[0].lstrip("{") if child.tag.startswith("{") else ""
        to = element.get("to")
        if to is None or to == self.domain:
            if ns == NS_CARBONS:
                session.carbons = _local(child.tag) == "enable"
                self._iq_result(session, element)
            elif ns == NS_PRIVACY:
                self._privacy_iq(session, element, child)
            elif ns == NS_MOBILE:
                if child.get("enable") == "true":
                    self.push_suppressed.discard(user.id)
                    session.inactive = True
                else:
                    session.inactive = False
                self._iq_result(session, element)
            elif ns == NS_STATUS:
                watched = self._user_from_jid(child.get("user_jid"))
                if watched is None or watched.app_id != user.app_id:
                    # As for last activity: no account oracle, no other app's users.
                    self._iq_error(session, element, "service-unavailable")
                    return
                watchers = self.watchers.setdefault(watched.id, set())
                if child.get("enable") == "false":
                    watchers.discard(session)
                else:
                    watchers.add(session)
                self._iq_result(session, element)
            else:
                self._iq_error(session, element, "service-unavailable")
            return
        bare = to.partition("/")[0]
        if ns == NS_LAST:
            target = self._user_from_jid(bare)
            if target is None or target.app_id != user.app_id:
                # RFC 6121 8.5.2.1.1 (no such account): as for a message, nothing that
                # would tell an unknown account from one that exists.
                self._iq_error(session, element, "service-unavailable")
                return
            seconds = self.last_activity_seconds(target)
            self._iq_result(
                session, element, f'<query xmlns="{NS_LAST}" seconds="{seconds}"/>', frm=bare
            )
            return
        if ns == NS_DISCO_ITEMS and bare.endswith("@" + self.muc):
            items = "".join(
                f'<item jid="{escape_attr(bare)}/{uid}" name="{uid}"/>'
                for uid in sorted(self.rooms.get(bare, {}))
            )
            self._iq_result(
                session, element, f'<query xmlns="{NS_DISCO_ITEMS}">{items}</query>', frm=bare
            )
            return
        self._iq_error(session, element, "service-unavailable")

    def last_activity_seconds(self, user: User) -> int:
        if self.is_online(user.id):
            return 0
        fresh = self.store.user(user.id)
        seen = fresh.last_seen if fresh is not None and fresh.last_seen else user.created
        return max(0, int(self.now() - seen))

    def _push_last_activity(self, user: User) -> None:
        seconds = self.last_activity_seconds(user)
        for watcher in list(self.watchers.get(user.id, ())):
            self._send(
                watcher,
                f'<iq type="set" id="{new_object_id()}:lastActivity" from="{self.user_jid(user)}" '
                f'to="{escape_attr(watcher.jid or "")}"><query xmlns="{NS_LAST}" '
                f'seconds="{seconds}"/></iq>',
            )

    def _privacy_iq(self, session: Session, element: etree._Element, query: etree._Element) -> None:
        user = session.user
        assert user is not None
        store = self.store
        children = [c for c in query if isinstance(c.tag, str)]
        if element.get("type") == "get":
            if not children:
                default = store.default_privacy(user.id)
                default_xml = (
                    f'<default name="{escape_attr(default)}"/>' if default else "<default/>"
                )
                lists = "".join(
                    f'<list name="{escape_attr(n)}"/>' for n in store.privacy_names(user.id)
                )
                self._iq_result(
                    session,
                    element,
                    f'<query xmlns="{NS_PRIVACY}"><active/>{default_xml}{lists}</query>',
                )
                return
            name = children[0].get("name") or ""
            items = store.privacy_list(user.id, name)
            if items is None:
                self._iq_error(session, element, "item-not-found")
                return
            self._iq_result(
                session,
                element,
                f'<query xmlns="{NS_PRIVACY}"><list name="{escape_attr(name)}">'
                + "".join(_privacy_item_xml(i) for i in items)
                + "</list></query>",
            )
            return
        if not children:
            self._iq_error(session, element, "bad-request", "modify")
            return
        first = children[0]
        local = _local(first.tag)
        if local == "default":
            default = first.get("name")
            if default is not None and store.privacy_list(user.id, default) is None:
                self._iq_error(session, element, "item-not-found")
                return
            store.set_default_privacy(user.id, default)
            self._iq_result(session, element)
        elif local == "active":
            self._iq_result(session, element)
        elif local == "list":
            name = first.get("name") or ""
            items = []
            for item in first:
                if _local(item.tag) != "item":
                    continue
                order = item.get("order") or "0"
                items.append(
                    {
                        "type": item.get("type"),
                        "value": item.get("value"),
                        "action": item.get("action"),
                        "order": int(order) if order.isdigit() else 0,
                        "kinds": [_local(k.tag) for k in item if isinstance(k.tag, str)],
                    }
                )
            if items:
                store.set_privacy_list(user.id, name, items)
            else:
                store.delete_privacy_list(user.id, name)
            self._iq_result(session, element)
        else:
            self._iq_error(session, element, "bad-request", "modify")

    # ------------------------------------------------------------------ REST-driven pushes

    def push_reactions(
        self, record: dict[str, Any], reactor: User, add: str | None, remove: str | None
    ) -> None:
        dialog = self.store.dialog(record["chat_dialog_id"])
        if dialog is None:
            return
        children = ""
        if add:
            children += f'<reaction add="true" type="{escape_attr(add)}"/>'
        if remove:
            children += f'<reaction remove="true" type="{escape_attr(remove)}"/>'
        reactions = (
            f'<reactions user_id="{reactor.id}" message_id="{escape_attr(record["_id"])}">'
            f"{children}</reactions>"
        )
        extra = (
            f'<extraParams xmlns="jabber:client"><dialog_id>{dialog["_id"]}</dialog_id>'
            "</extraParams>"
        )
        if dialog["type"] == PRIVATE:
            for member in dialog["occupants_ids"]:
                for target in self.online.get(member, ()):
                    self._send(
                        target,
                        f'<message type="chat" id="{new_object_id()}" '
                        f'from="{self.user_jid(reactor)}" '
                        f'to="{escape_attr(target.jid or "")}">{extra}{reactions}</message>',
                    )
            return
        room = self.room_jid(dialog)
        for member in self.members(dialog):
            for target in self.online.get(member, ()):
                self._send(
                    target,
                    f'<message type="groupchat" id="{new_object_id()}" from="{room}/{reactor.id}" '
                    f'to="{escape_attr(target.jid or "")}">{extra}{reactions}</message>',
                )

    def push_removal(self, record: dict[str, Any], actor: User) -> None:
        dialog = self.store.dialog(record["chat_dialog_id"])
        if dialog is None:
            return
        remove = (
            f'<remove xmlns="urn:xmpp:message-delete:0" id="{escape_attr(record["_id"])}"/>'
            f'<extraParams xmlns="jabber:client"><dialog_id>{dialog["_id"]}</dialog_id>'
            "</extraParams>"
        )
        if dialog["type"] == PRIVATE:
            for member in dialog["occupants_ids"]:
                if member != actor.id:
                    self.deliver(
                        member,
                        f'<message type="chat" id="{new_object_id()}" '
                        f'from="{self.user_jid(actor)}" '
                        f'to="{self.user_jid(member, actor.app_id)}">{remove}</message>',
                        store_offline=False,
                    )
            return
        room = self.room_jid(dialog)
        element = etree.fromstring(
            f'<message xmlns="jabber:client" type="groupchat" id="{new_object_id()}" '
            f'from="{room}/{actor.id}">{remove}</message>'
        )
        self.broadcast(dialog, element, sender=None)

    def push_history_message(
        self, record: dict[str, Any], sender: User, dialog: dict[str, Any], custom: dict[str, Any]
    ) -> None:
        """Deliver a message created over REST with ``send_to_chat=1`` (reference 11.3) as
        the chat message a client would have sent: 1-1 to the other occupant (stored
        offline if needed), group as a groupchat from ``room/sender`` to every member."""
        extension: dict[str, Any] = {
            "save_to_history": "1",
            "dialog_id": dialog["_id"],
            "date_sent": str(record["date_sent"]),
        }
        extension.update(
            (k, v if isinstance(v, (dict, str)) else json.dumps(v))
            for k, v in custom.items()
            if _name_ok(k)
        )
        if record.get("attachments"):
            extension["attachments"] = [
                {str(k): str(v) for k, v in a.items() if v is not None}
                for a in record["attachments"]
                if isinstance(a, dict)
            ]
        body = f"<body>{escape_text(record['message'])}</body>" if record["message"] else ""
        payload = body + encode_extension(extension)
        message_id = escape_attr(record["_id"])
        if dialog["type"] == PRIVATE:
            peer = record["recipient_id"]
            self.deliver(
                peer,
                f'<message type="chat" id="{message_id}" from="{self.user_jid(sender)}" '
                f'to="{self.user_jid(peer, sender.app_id)}">{payload}</message>',
                store_offline=True,
            )
            return
        element = etree.fromstring(
            f'<message xmlns="jabber:client" type="groupchat" id="{message_id}" '
            f'from="{self.room_jid(dialog)}/{sender.id}">{payload}</message>'
        )
        self.broadcast(dialog, element, sender=sender)

    def push_system_message(self, sender: User, recipient: User, params: dict[str, Any]) -> str:
        message_id = new_object_id()
        children = "".join(
            f"<{k}>{escape_text(json.dumps(v) if isinstance(v, (dict, list)) else str(v))}</{k}>"
            for k, v in params.items()
            if _name_ok(k)
        )
        xml = (
            f'<message type="headline" id="{message_id}" from="{self.user_jid(sender)}" '
            f'to="{self.user_jid(recipient)}"><extraParams xmlns="jabber:client">'
            f"<moduleIdentifier>SystemNotifications</moduleIdentifier>{children}"
            "</extraParams></message>"
        )
        self.deliver(recipient.id, xml, store_offline=True)
        return message_id


def _name_ok(name: str) -> bool:
    return (
        bool(name)
        and (name[0].isalpha() or name[0] == "_")
        and all(c.isalnum() or c in "_-." for c in name)
    )


def _privacy_item_xml(item: dict[str, Any]) -> str:
    kinds = "".join(f"<{k}/>" for k in item.get("kinds", []) if _name_ok(k))
    return (
        f'<item type="{escape_attr(str(item.get("type") or "jid"))}" '
        f'value="{escape_attr(str(item.get("value") or ""))}" '
        f'action="{escape_attr(str(item.get("action") or "deny"))}" '
        f'order="{int(item.get("order") or 0)}">{kinds}</item>'
    )


_MESSAGE_ID = re.compile(r'<message\b[^>]*?\sid="([^"]*)"')


def _message_id(xml: str) -> str | None:
    """The ``id`` attribute of a serialized ``<message>`` (its start tag only)."""
    match = _MESSAGE_ID.match(xml)
    return match.group(1) if match else None


def _with_delay(xml: str, now: float) -> str:
    """Mark a stored message with XEP-0203 ``<delay/>`` (offline delivery)."""
    if "urn:xmpp:delay" in xml or not xml.startswith("<message"):
        return xml
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    end = xml.rfind("</message>")
    if end < 0:
        return xml
    return xml[:end] + f'<delay xmlns="{NS_DELAY}" stamp="{stamp}"/>' + xml[end:]
