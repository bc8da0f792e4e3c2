"""The local server's storage: one SQLite database (stdlib ``sqlite3``).

In memory by default; give a file name and everything (apps, users, sessions, dialogs,
history, reactions, privacy lists, blobs' metadata, custom objects, offline messages)
survives a restart.  Records with a free shape are JSON columns.  One connection, used
from the server's single event-loop thread; autocommit after each write.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cubeproto.server import UserAuth, make_user_auth

__all__ = ["App", "Store", "User", "new_object_id"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS apps (id INTEGER PRIMARY KEY, auth_key TEXT NOT NULL,
    auth_secret TEXT NOT NULL, extensions TEXT NOT NULL DEFAULT '[]');
CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY AUTOINCREMENT, app_id INTEGER NOT NULL,
    login TEXT NOT NULL, full_name TEXT, auth TEXT NOT NULL, created REAL NOT NULL,
    last_seen REAL, profile TEXT NOT NULL DEFAULT '{}', UNIQUE(app_id, login));
CREATE TABLE IF NOT EXISTS sessions (token TEXT PRIMARY KEY, id INTEGER NOT NULL,
    app_id INTEGER NOT NULL, user_id INTEGER NOT NULL, created REAL NOT NULL,
    expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS dialogs (id TEXT PRIMARY KEY, app_id INTEGER NOT NULL,
    data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, dialog_id TEXT NOT NULL,
    date_sent INTEGER NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS messages_dialog ON messages(dialog_id, date_sent, seq);
CREATE TABLE IF NOT EXISTS offline (seq INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL, xml TEXT NOT NULL, message_id TEXT, origin TEXT, sm_h INTEGER);
CREATE TABLE IF NOT EXISTS privacy (user_id INTEGER NOT NULL, name TEXT NOT NULL,
    items TEXT NOT NULL, PRIMARY KEY(user_id, name));
CREATE TABLE IF NOT EXISTS privacy_default (user_id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY AUTOINCREMENT, uid TEXT UNIQUE NOT NULL,
    owner INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (id TEXT PRIMARY KEY, class TEXT NOT NULL,
    app_id INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

#: Dialog types, as the API numbers them.
PRIVATE, GROUP, PUBLIC, BROADCAST = 3, 2, 4, 1


def iso(t: float) -> str:
    """ISO-8601 UTC with seconds, as ConnectyCube writes ``created_at``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


#: ConnectyCube's session lifetime: 2 hours, extended by every request.
SESSION_SECONDS = 2 * 3600.0


def new_object_id(now: float | None = None) -> str:
    """A 24-hex ObjectId (4 bytes of seconds, 8 random bytes)."""
    seconds = int(now if now is not None else time.time()) & 0xFFFFFFFF
    return f"{seconds:08x}{os.urandom(8).hex()}"


#: The fields every stored chat message has (the history record's own; the API shows the
#: moments ``created``/``updated`` as ``created_at``/``updated_at``).  Any other key of a
#: record is a custom field its sender added, and a custom field never replaces one of these.
MESSAGE_FIELDS = frozenset(
    {
        "_id",
        "chat_dialog_id",
        "message",
        "date_sent",
        "sender_id",
        "recipient_id",
        "read_ids",
        "delivered_ids",
        "views_count",
        "attachments",
        "reactions",
        "created",
        "updated",
        "hidden_for",
    }
)


def new_message_record(
    *,
    message_id: str,
    dialog_id: str,
    text: str,
    sender_id: int,
    recipient_id: int,
    attachments: list[Any],
    custom: Mapping[str, Any],
    now: float,
) -> dict[str, Any]:
    """A chat message as history stores it, whichever way it came (``POST /chat/Message``
    or a chat message with ``save_to_history``): sent, delivered and read by its sender at
    ``now``; ``recipient_id`` 0 in a group dialog; the ``custom`` fields added unless they
    would replace one of :data:`MESSAGE_FIELDS`."""
    record: dict[str, Any] = {
        "_id": message_id,
        "chat_dialog_id": dialog_id,
        "message": text,
        "date_sent": int(now),
        "sender_id": sender_id,
        "recipient_id": recipient_id,
        "read_ids": [sender_id],
        "delivered_ids": [sender_id],
        "views_count": 0,
        "attachments": attachments,
        "reactions": {},
        "created": now,
        "updated": now,
        "hidden_for": [],
    }
    for key, value in custom.items():
        record.setdefault(key, value)
    return record


@dataclass(frozen=True, slots=True, kw_only=True)
class App:
    id: int
    auth_key: str
    auth_secret: str


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    id: int
    app_id: int
    login: str
    full_name: str | None
    created: float
    last_seen: float | None
    #: The optional profile fields given at sign-up (``phone``, ``website``, ``custom_data``,
    #: ``user_tags``...; see ``rest.PROFILE_FIELDS``), as stored.
    profile: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def username(self) -> str:
        """The XMPP local part / SASL username."""
        return f"{self.id}-{self.app_id}"


def _auth_json(auth: UserAuth) -> str:
    return json.dumps(
        {
            "salt": auth.salt.hex(),
            "iterations": auth.iterations,
            "keys": {k: [v[0].hex(), v[1].hex()] for k, v in auth.keys.items()},
        }
    )


def _auth_from(text: str) -> UserAuth:
    raw = json.loads(text)
    return UserAuth(
        salt=bytes.fromhex(raw["salt"]),
        iterations=raw["iterations"],
        keys={k: (bytes.fromhex(v[0]), bytes.fromhex(v[1])) for k, v in raw["keys"].items()},
    )


class Store:
    """All persistent state of the local server."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.executescript(_SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(offline)")}
        for column, kind in (("message_id", "TEXT"), ("origin", "TEXT"), ("sm_h", "INTEGER")):
            if column not in columns:  # a database file from before these columns
                self.db.execute(f"ALTER TABLE offline ADD COLUMN {column} {kind}")
        if "profile" not in {row[1] for row in self.db.execute("PRAGMA table_info(users)")}:
            self.db.execute("ALTER TABLE users ADD COLUMN profile TEXT NOT NULL DEFAULT '{}'")
        self._seq = self.counter("message_seq", 0)

    def close(self) -> None:
        self.db.close()

    # --- counters ---------------------------------------------------------------------

    def counter(self, name: str, add: int = 1) -> int:
        """Add ``add`` to the counter ``name`` and return its new value.  The read and
        the write are one write transaction, so that two servers (or stores) on one
        database file never hand out the same value (no lost update); a writer that
        finds the file locked waits for it (``sqlite3.connect``'s timeout)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            row = self.db.execute("SELECT value FROM counters WHERE name=?", (name,)).fetchone()
            value = (row[0] if row else 0) + add
            self.db.execute("INSERT OR REPLACE INTO counters VALUES (?, ?)", (name, value))
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return int(value)

    # --- apps and users ------------------------------------------------------------------

    def create_app(self, app_id: int, auth_key: str, auth_secret: str = "") -> App:
        self.db.execute(
            "INSERT OR REPLACE INTO apps (id, auth_key, auth_secret) VALUES (?, ?, ?)",
            (app_id, auth_key, auth_secret),
        )
        return App(id=app_id, auth_key=auth_key, auth_secret=auth_secret)

    def app(self, app_id: int) -> App | None:
        row = self.db.execute(
            "SELECT id, auth_key, auth_secret FROM apps WHERE id=?", (app_id,)
        ).fetchone()
        return App(id=row[0], auth_key=row[1], auth_secret=row[2]) if row else None

    def create_user(
        self,
        app_id: int,
        login: str,
        password: str,
        *,
        full_name: str | None = None,
        profile: dict[str, Any] | None = None,
        created: float | None = None,
    ) -> User:
        """A new user of ``app_id``; ``created``: when (unix seconds; now when not given)."""
        auth = make_user_auth(password, salt=os.urandom(16))
        now = time.time() if created is None else created
        profile = dict(profile or {})
        cur = self.db.execute(
            "INSERT INTO users (app_id, login, full_name, auth, created, profile)"
            " VALUES (?,?,?,?,?,?)",
            (app_id, login, full_name, _auth_json(auth), now, json.dumps(profile)),
        )
        user_id = cur.lastrowid
        assert user_id is not None
        return User(
            id=user_id,
            app_id=app_id,
            login=login,
            full_name=full_name,
            created=now,
            last_seen=None,
            profile=profile,
        )

    def _user(self, row: Any) -> User | None:
        if row is None:
            return None
        return User(
            id=row[0],
            app_id=row[1],
            login=row[2],
            full_name=row[3],
            created=row[4],
            last_seen=row[5],
            profile=json.loads(row[6]),
        )

    _USER_COLS = "id, app_id, login, full_name, created, last_seen, profile"

    def user(self, user_id: int) -> User | None:
        return self._user(
            self.db.execute(
                f"SELECT {self._USER_COLS} FROM users WHERE id=?", (user_id,)
            ).fetchone()
        )

    def user_by_login(self, app_id: int, login: str) -> User | None:
        return self._user(
            self.db.execute(
                f"SELECT {self._USER_COLS} FROM users WHERE app_id=? AND login=?", (app_id, login)
            ).fetchone()
        )

    def users(self, app_id: int) -> list[User]:
        rows = self.db.execute(
            f"SELECT {self._USER_COLS} FROM users WHERE app_id=? ORDER BY id", (app_id,)
        ).fetchall()
        return [u for u in (self._user(r) for r in rows) if u is not None]

    def user_auth(self, user_id: int) -> UserAuth | None:
        row = self.db.execute("SELECT auth FROM users WHERE id=?", (user_id,)).fetchone()
        return _auth_from(row[0]) if row else None

    def touch_user(self, user_id: int, now: float) -> None:
        self.db.execute("UPDATE users SET last_seen=? WHERE id=?", (now, user_id))

    # --- sessions ----------------------------------------------------------------------

    def create_session(self, app_id: int, user_id: int, now: float) -> tuple[str, int]:
        token = os.urandom(20).hex()
        session_id = self.counter("session_id")
        self.db.execute(
            "INSERT INTO sessions VALUES (?,?,?,?,?,?)",
            (token, session_id, app_id, user_id, now, now + SESSION_SECONDS),
        )
        return token, session_id

    def session(self, token: str, now: float) -> tuple[int, int, int, float] | None:
        """``(session id, app id, user id, created)`` of a live token; extends it."""
        row = self.db.execute(
            "SELECT id, app_id, user_id, created, expires FROM sessions WHERE token=?", (token,)
        ).fetchone()
        if row is None or row[4] < now:
            return None
        self.db.execute(
            "UPDATE sessions SET expires=? WHERE token=?", (now + SESSION_SECONDS, token)
        )
        return row[0], row[1], row[2], row[3]

    def expire_session(self, token: str) -> None:
        self.db.execute("UPDATE sessions SET expires=0 WHERE token=?", (token,))

    def delete_session(self, token: str) -> None:
        self.db.execute("DELETE FROM sessions WHERE token=?", (token,))

    def live_tokens(self, user_id: int, now: float) -> frozenset[str]:
        rows = self.db.execute(
            "SELECT token FROM sessions WHERE user_id=? AND expires>=?", (user_id, now)
        ).fetchall()
        return frozenset(r[0] for r in rows)

    # --- dialogs -------------------------------------------------------------------------

    def put_dialog(self, dialog: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO dialogs VALUES (?,?,?)",
            (dialog["_id"], dialog["app_id"], json.dumps(dialog)),
        )

    def dialog(self, dialog_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT data FROM dialogs WHERE id=?", (dialog_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def dialogs(self, app_id: int) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT data FROM dialogs WHERE app_id=?", (app_id,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def delete_dialog(self, dialog_id: str) -> None:
        self.db.execute("DELETE FROM dialogs WHERE id=?", (dialog_id,))
        self.db.execute("DELETE FROM messages WHERE dialog_id=?", (dialog_id,))

    # --- messages --------------------------------------------------------------------------

    def add_message(self, record: dict[str, Any], dialog: dict[str, Any] | None) -> None:
        """Store a new message (:func:`new_message_record`) and bring its dialog forward:
        updated when the message was sent, shown again to members who had deleted it."""
        self.put_message(record)
        if dialog is not None:
            dialog["updated"] = record["created"]
            dialog["hidden_for"] = []
            self.put_dialog(dialog)

    def put_message(self, message: dict[str, Any]) -> None:
        exists = self.db.execute(
            "SELECT seq FROM messages WHERE id=?", (message["_id"],)
        ).fetchone()
        seq = exists[0] if exists else self.counter("message_seq")
        self.db.execute(
            "INSERT OR REPLACE INTO messages VALUES (?,?,?,?,?)",
            (
                message["_id"],
                message["chat_dialog_id"],
                message["date_sent"],
                seq,
                json.dumps(message),
            ),
        )

    def message(self, message_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT data FROM messages WHERE id=?", (message_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def messages(self, dialog_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT data FROM messages WHERE dialog_id=? ORDER BY date_sent, seq", (dialog_id,)
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def all_messages(self, dialog_ids: list[str]) -> Iterator[dict[str, Any]]:
        for dialog_id in dialog_ids:
            yield from self.messages(dialog_id)

    def delete_message(self, message_id: str) -> None:
        self.db.execute("DELETE FROM messages WHERE id=?", (message_id,))

    # --- offline --------------------------------------------------------------------------

    def add_offline(
        self,
        user_id: int,
        xml: str,
        *,
        message_id: str | None = None,
        origin: str | None = None,
        sm_h: int | None = None,
    ) -> bool:
        """Keep ``xml`` for ``user_id``'s next login; False (nothing stored) when a message
        with the same ``message_id`` is already waiting for that user.  ``origin`` and
        ``sm_h``: the stream-management session that sent it unacknowledged and the ``h``
        that would acknowledge it (see :meth:`drop_offline_acked`)."""
        if message_id is not None:
            dup = self.db.execute(
                "SELECT 1 FROM offline WHERE user_id=? AND message_id=?", (user_id, message_id)
            ).fetchone()
            if dup is not None:
                return False
        self.db.execute(
            "INSERT INTO offline (user_id, xml, message_id, origin, sm_h) VALUES (?,?,?,?,?)",
            (user_id, xml, message_id, origin, sm_h),
        )
        return True

    def drop_offline_acked(self, user_id: int, origin: str, h: int, modulus: int = 2**32) -> int:
        """A client that tries to resume session ``origin`` with ``h`` has handled every
        stanza up to ``h``: drop the ones kept offline from that session (they would come
        twice).  Returns how many were dropped."""
        rows = self.db.execute(
            "SELECT seq, sm_h FROM offline WHERE user_id=? AND origin=? AND sm_h IS NOT NULL",
            (user_id, origin),
        ).fetchall()
        covered = [seq for seq, sm_h in rows if (h - sm_h) % modulus < modulus // 2]
        self.db.executemany("DELETE FROM offline WHERE seq=?", [(seq,) for seq in covered])
        return len(covered)

    def drop_offline_ids(self, user_id: int, message_ids: Iterable[str]) -> int:
        """Drop the offline copies of ``message_ids`` (delivered another way: a resumed
        session got them); returns how many were dropped."""
        dropped = 0
        for message_id in message_ids:
            cursor = self.db.execute(
                "DELETE FROM offline WHERE user_id=? AND message_id=?", (user_id, message_id)
            )
            dropped += cursor.rowcount
        return dropped

    def offline_count(self, user_id: int) -> int:
        row = self.db.execute("SELECT COUNT(*) FROM offline WHERE user_id=?", (user_id,)).fetchone()
        return int(row[0])

    def take_offline(self, user_id: int) -> list[str]:
        rows = self.db.execute(
            "SELECT seq, xml FROM offline WHERE user_id=? ORDER BY seq", (user_id,)
        ).fetchall()
        self.db.execute("DELETE FROM offline WHERE user_id=?", (user_id,))
        return [r[1] for r in rows]

    # --- privacy ---------------------------------------------------------------------------

    def set_privacy_list(self, user_id: int, name: str, items: list[dict[str, Any]]) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO privacy VALUES (?,?,?)", (user_id, name, json.dumps(items))
        )

    def privacy_list(self, user_id: int, name: str) -> list[dict[str, Any]] | None:
        row = self.db.execute(
            "SELECT items FROM privacy WHERE user_id=? AND name=?", (user_id, name)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def privacy_names(self, user_id: int) -> list[str]:
        rows = self.db.execute(
            "SELECT name FROM privacy WHERE user_id=? ORDER BY name", (user_id,)
        ).fetchall()
        return [r[0] for r in rows]

    def delete_privacy_list(self, user_id: int, name: str) -> None:
        self.db.execute("DELETE FROM privacy WHERE user_id=? AND name=?", (user_id, name))
        if self.default_privacy(user_id) == name:
            self.set_default_privacy(user_id, None)

    def set_default_privacy(self, user_id: int, name: str | None) -> None:
        if name is None:
            self.db.execute("DELETE FROM privacy_default WHERE user_id=?", (user_id,))
        else:
            self.db.execute("INSERT OR REPLACE INTO privacy_default VALUES (?, ?)", (user_id, name))

    def default_privacy(self, user_id: int) -> str | None:
        row = self.db.execute(
            "SELECT name FROM privacy_default WHERE user_id=?", (user_id,)
        ).fetchone()
        return row[0] if row else None

    # --- blobs ----------------------------------------------------------------------------

    def create_blob(self, owner: int, data: dict[str, Any]) -> dict[str, Any]:
        uid = os.urandom(17).hex()
        cur = self.db.execute(
            "INSERT INTO blobs (uid, owner, data) VALUES (?,?,?)", (uid, owner, json.dumps(data))
        )
        blob_id = cur.lastrowid
        assert blob_id is not None
        data = dict(data, id=blob_id, uid=uid)
        self.put_blob(data, owner)
        return data

    def put_blob(self, data: dict[str, Any], owner: int) -> None:
        self.db.execute(
            "UPDATE blobs SET data=?, owner=? WHERE id=?", (json.dumps(data), owner, data["id"])
        )

    def blob(self, key: int | str) -> tuple[dict[str, Any], int] | None:
        column = "id" if isinstance(key, int) else "uid"
        row = self.db.execute(f"SELECT data, owner FROM blobs WHERE {column}=?", (key,)).fetchone()
        return (json.loads(row[0]), row[1]) if row else None

    def blobs_of(self, owner: int) -> list[dict[str, Any]]:
        """Every blob ``owner`` created, oldest first."""
        rows = self.db.execute(
            "SELECT data FROM blobs WHERE owner=? ORDER BY id", (owner,)
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def delete_blob(self, blob_id: int) -> None:
        self.db.execute("DELETE FROM blobs WHERE id=?", (blob_id,))

    # --- custom objects ------------------------------------------------------------------

    def put_object(self, class_name: str, app_id: int, record: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO objects VALUES (?,?,?,?)",
            (record["_id"], class_name, app_id, json.dumps(record)),
        )

    def objects(self, class_name: str, app_id: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT data FROM objects WHERE class=? AND app_id=? ORDER BY rowid",
            (class_name, app_id),
        ).fetchall()
        return [json.loads(r[0]) for r in rows]
