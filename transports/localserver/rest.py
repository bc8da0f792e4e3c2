"""The local server's REST API: ConnectyCube's endpoints over the store and the hub.

:meth:`RestApi.handle` takes one HTTP request (method, target, headers, body) and returns
one :class:`Response`; the network layer (h11) only moves bytes.  Every call but session
creation, sign-up and storage uploads needs a live ``CB-Token`` (which each call extends);
errors are ConnectyCube-shaped: ``{"errors": {"base": ["..."]}}`` or field-keyed, with
401 ``Required session does not exist`` for a missing or expired token.

Every body and field has a size limit (the ``MAX_*`` constants below; the README's
local-server section has them as a table): a body over its limit is refused with 413 while
it is read (:meth:`RestApi.body_limit`, used by the server's HTTP reader), a string field
over its limit with 422 ``{"errors": {"<field>": ["is too long (maximum is N
characters)"]}}`` -- the Rails-style field-keyed shape the protocol reference (sections 3.4
and 11.5) shows -- before anything is stored.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from cubeproto.errors import LocalProtocolError

from .hub import BROADCAST, GROUP, PRIVATE, PUBLIC, Hub, iso
from .store import Store, User, new_object_id

__all__ = [
    "MAX_ADMINS",
    "MAX_BLOB_NAME_CHARS",
    "MAX_BODY_BYTES",
    "MAX_HEAD_BYTES",
    "MAX_NAME_CHARS",
    "MAX_PUSHED_STANZA_BYTES",
    "MAX_REACTION_CHARS",
    "MAX_TEXT_CHARS",
    "MAX_UPLOAD_BYTES",
    "MAX_URL_CHARS",
    "PROFILE_FIELDS",
    "UPLOAD_FORM_OVERHEAD_BYTES",
    "Response",
    "RestApi",
    "parse_query",
]

MAX_ADMINS = 5
#: ConnectyCube's storage limit is 100 MB; the local server keeps the same bound.
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
#: Bytes an upload's multipart form may add around its file (boundaries, part headers, the
#: form fields of the upload URL): the whole ``/s3`` body may be this much over
#: ``max_upload_bytes`` before it is refused (413) while being read.
UPLOAD_FORM_OVERHEAD_BYTES = 64 * 1024
#: Bytes of a request head (request line, query string included, and headers) that the
#: HTTP reader (h11's ``max_incomplete_event_size``) buffers while waiting for its end;
#: over it: 431.
MAX_HEAD_BYTES = 64 * 1024
#: Bytes of any other request body (JSON, or the form body of a DELETE): 256 KiB, the
#: chat side's limit for one text node (``XmlLimits.max_text_length``).  Over it: 413 while
#: the body is read, before it is held in memory.
MAX_BODY_BYTES = 256 * 1024
#: Characters of a chat message's text (``message`` of ``POST``/``PUT /chat/Message``), and
#: of every string field not named below (dialog ``description``, ``custom_data``, custom
#: message keys, extensions, attachments, system-message parameters, custom objects).
#: A text of 64 Ki characters, escaped, takes at most 320 KiB of the chat side's 512 KiB
#: stanza limit (what a pushed message as a whole may take: MAX_PUSHED_STANZA_BYTES).
MAX_TEXT_CHARS = 64 * 1024
#: Characters of names and identifiers: a user's ``login``, ``password``, ``email``,
#: ``full_name``, ``phone``, external and social ids, each user tag; a dialog's ``name``;
#: a blob's ``content_type``; every parameter name.
MAX_NAME_CHARS = 255
#: Characters of URL fields: a dialog's ``photo``, a user's ``avatar`` and ``website``.
MAX_URL_CHARS = 2048
#: Characters of a blob's ``name`` ("min 1 char and max 100 chars", ConnectyCube's storage docs).
MAX_BLOB_NAME_CHARS = 100
#: Characters of one reaction (an emoji, possibly a ZWJ sequence).
MAX_REACTION_CHARS = 16
#: Bytes a message sent to chat over REST (``send_to_chat=1``, and system messages) may
#: take in its stanza -- text, custom keys and attachments as the hub writes them, escaped,
#: counted as an upper bound -- leaving 64 KiB of the chat side's 512 KiB stanza limit
#: (``XmlLimits.max_stanza_bytes``) for the envelope: what REST accepts, chat can deliver.
MAX_PUSHED_STANZA_BYTES = 448 * 1024
#: Characters XML 1.0 forbids (section 2.2): a value holding one cannot go into a stanza.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

#: The user fields besides ``login``/``password``/``full_name`` that sign-up keeps and every
#: user object carries (null when not set), as the SDK's ``Users.User`` type lists them.
PROFILE_FIELDS = (
    "email",
    "phone",
    "website",
    "external_user_id",
    "external_id",
    "facebook_id",
    "twitter_id",
    "custom_data",
    "blob_id",
    "avatar",
    "user_tags",
    "timezone",
)
_PROFILE_INTS = ("external_user_id", "blob_id", "timezone")
_USER_LIMITS = {
    **dict.fromkeys(
        (
            "login",
            "password",
            "email",
            "full_name",
            "phone",
            "external_id",
            "external_user_id",
            "facebook_id",
            "twitter_id",
            "tag_list",
        ),
        MAX_NAME_CHARS,
    ),
    "avatar": MAX_URL_CHARS,
    "website": MAX_URL_CHARS,
}
#: Per route (first path segment; two under ``chat``): the field names with a limit of
#: their own (every other string: MAX_TEXT_CHARS).
_FIELD_LIMITS: dict[str, dict[str, int]] = {
    "session": _USER_LIMITS,
    "login": _USER_LIMITS,
    "users": _USER_LIMITS,
    "chat/Dialog": {"name": MAX_NAME_CHARS, "photo": MAX_URL_CHARS},
    "chat/dialog": {"name": MAX_NAME_CHARS, "photo": MAX_URL_CHARS},
    "blobs": {"name": MAX_BLOB_NAME_CHARS, "content_type": MAX_NAME_CHARS},
}
_ID = re.compile(r"[0-9a-f]{24}\Z")


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    #: A file to stream as the body instead of ``body``.
    file: Path | None = None


class ApiError(Exception):
    def __init__(self, status: int, errors: Any) -> None:
        super().__init__(str(errors))
        self.status = status
        self.errors = errors


def _base(message: str, status: int = 422) -> ApiError:
    return ApiError(status, {"base": [message]})


def _json(data: Any, status: int = 200) -> Response:
    return Response(
        status,
        json.dumps(data, ensure_ascii=False).encode(),
        [("Content-Type", "application/json; charset=utf-8")],
    )


def parse_query(text: str) -> dict[str, Any]:
    """The SDK's bracket form back into nested values (``a[b]=1``, ``ids[]=x``)."""
    out: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        if "[" in key and key.endswith("]"):
            head, _, rest = key.partition("[")
            inner = rest[:-1]
            if inner == "":
                target = out.setdefault(head, [])
                if isinstance(target, list):
                    target.append(value)
            else:
                target = out.setdefault(head, {})
                if isinstance(target, dict):
                    target[inner] = value
        else:
            out[key] = value
    return out


def _int_list(value: Any, what: str) -> list[int]:
    """Ids as the SDK sends them: a JSON array or one ``"1, 2"`` string."""
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    out = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        if not text.isdigit():
            raise ApiError(422, {what: ["must be a list of integers"]})
        out.append(int(text))
    return out


class RestApi:
    """ConnectyCube REST semantics for one local server."""

    def __init__(
        self,
        store: Store,
        hub: Hub,
        *,
        blob_dir: Path,
        base_url: str,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
    ) -> None:
        self.store = store
        self.max_upload_bytes = max_upload_bytes
        self.hub = hub
        self.blob_dir = blob_dir
        self.base_url = base_url.rstrip("/")
        blob_dir.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ entry

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        """Answer one request; never raises."""
        try:
            return self._route(method.upper(), target, headers, body)
        except ApiError as exc:
            return _json({"errors": exc.errors}, exc.status)
        except Exception as exc:  # a server bug: still a ConnectyCube-shaped answer
            self.hub.log.append(f"REST error {method} {target}: {exc!r}")
            return _json({"errors": {"base": [f"internal error: {exc}"]}}, 500)

    def body_limit(self, target: str) -> int:
        """Bytes the body of a request to ``target`` may have (the HTTP reader refuses a
        longer one with :meth:`too_large` before reading it all)."""
        if urlsplit(target).path.startswith("/s3/"):
            return self.max_upload_bytes + UPLOAD_FORM_OVERHEAD_BYTES
        return MAX_BODY_BYTES

    def too_large(self, target: str) -> Response:
        """The 413 for a body over :meth:`body_limit` (the connection then closes)."""
        limit = self.body_limit(target)
        if urlsplit(target).path.startswith("/s3/"):
            text = "Your proposed upload exceeds the maximum allowed size"
        else:
            text = f"Request body is too large (maximum is {limit} bytes)"
        response = _json({"errors": {"base": [text]}}, 413)
        response.headers.append(("Connection", "close"))
        return response

    def bad_head(self, status: int, reason: str) -> Response:
        """The answer to a request head h11 refuses: 431 over :data:`MAX_HEAD_BYTES`, 400
        when malformed (the connection then closes)."""
        if status == 431:
            text = f"Request header fields too large (maximum is {MAX_HEAD_BYTES} bytes)"
        else:
            text = f"Bad request: {reason}"
        response = _json({"errors": {"base": [text]}}, status)
        response.headers.append(("Connection", "close"))
        return response

    def _params(
        self, method: str, query: str, headers: dict[str, str], body: bytes
    ) -> dict[str, Any]:
        params = parse_query(query)
        if method in ("POST", "PUT") and body:
            try:
                data = json.loads(body)
            except (ValueError, UnicodeDecodeError, RecursionError):
                raise _base("Malformed JSON body", 400) from None
            if not isinstance(data, dict):
                raise _base("The JSON body must be an object", 400)
            params.update(data)
        elif method == "DELETE" and body:
            params.update(parse_query(body.decode("utf-8", "replace")))
        return params

    def _session(self, headers: dict[str, str]) -> tuple[int, int, User | None]:
        token = headers.get("cb-token")
        found = self.store.session(token, time.time()) if token else None
        if found is None:
            raise _base("Required session does not exist", 401)
        _, app_id, user_id, _ = found
        user = self.store.user(user_id) if user_id else None
        return app_id, user_id, user

    def _user(self, headers: dict[str, str]) -> User:
        _, _, user = self._session(headers)
        if user is None:
            raise _base("Forbidden. Need user.", 403)
        return user

    def _route(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        parts = urlsplit(target)
        path = parts.path
        if path.endswith(".json"):
            path = path[:-5]
        segs = [s for s in path.split("/") if s]
        p = self._params(method, parts.query, headers, body) if segs[:1] != ["s3"] else {}
        route = "/".join(segs[:2]) if segs[:1] == ["chat"] else "/".join(segs[:1])
        _check_lengths(p, _FIELD_LIMITS.get(route, {}))
        if segs == ["session"]:
            return self._session_call(method, headers, p)
        if segs == ["login"]:
            return self._login_call(method, headers, p)
        if segs[:1] == ["users"]:
            return self._users_call(method, segs, headers, p)
        if segs[:1] == ["s3"]:
            return self._upload(segs, headers, body)
        if segs[:1] == ["blobs"]:
            return self._blobs_call(method, segs, headers, p, parts.path.endswith(".json"))
        if segs[:2] == ["chat", "Dialog"] or segs[:2] == ["chat", "dialog"]:
            return self._dialogs_call(method, segs[2:], self._user(headers), p)
        if segs[:2] == ["chat", "Message"]:
            return self._messages_call(method, segs[2:], self._user(headers), p)
        if segs == ["chat", "search"]:
            return self._search(self._user(headers), p)
        if segs[:1] == ["data"] and len(segs) in (2, 3):
            return self._data_call(method, segs[1:], self._user(headers), p)
        raise _base(f"No route for {method} {parts.path}", 404)

    # ------------------------------------------------------------------ sessions, users

    def _user_json(self, user: User) -> dict[str, Any]:
        """A user object with every field of the SDK's ``Users.User`` (null when unset)."""
        return {
            "id": user.id,
            "login": user.login,
            "full_name": user.full_name,
            **{name: user.profile.get(name) for name in PROFILE_FIELDS},
            "created_at": iso(user.created),
            "updated_at": iso(user.created),
            "last_request_at": iso(user.last_seen) if user.last_seen else None,
        }

    def _session_json(
        self, token: str, session_id: int, app_id: int, user: User | None, created: float
    ) -> dict[str, Any]:
        return {
            "session": {
                "id": session_id,
                "user_id": user.id if user else 0,
                "application_id": app_id,
                "token": token,
                "ts": int(created),
                "created_at": iso(created),
                "updated_at": iso(created),
                **({"user": self._user_json(user)} if user else {}),
            }
        }

    def _check_password(self, user: User | None, password: str) -> bool:
        from cubeproto.server import check_plain_password

        auth = self.store.user_auth(user.id) if user else None
        return auth is not None and check_plain_password(auth, password)

    def _session_call(self, method: str, headers: dict[str, str], p: dict[str, Any]) -> Response:
        now = time.time()
        if method == "POST":
            app_raw = p.get("application_id")
            app = self.store.app(int(str(app_raw))) if str(app_raw).isdigit() else None
            if app is None or p.get("auth_key") != app.auth_key:
                raise _base("Unexpected signature", 422)
            user = None
            if isinstance(p.get("user"), dict):
                creds = p["user"]
                login = str(creds.get("login") or creds.get("email") or "")
                user = self.store.user_by_login(app.id, login)
                if user is None or not self._check_password(user, str(creds.get("password", ""))):
                    raise _base("Unauthorized", 401)
            token, session_id = self.store.create_session(app.id, user.id if user else 0, now)
            return _json(self._session_json(token, session_id, app.id, user, now), 201)
        token = headers.get("cb-token", "")
        found = self.store.session(token, now)
        if found is None:
            raise _base("Required session does not exist", 401)
        if method == "GET":
            session_id, app_id, user_id, created = found
            return _json(
                self._session_json(token, session_id, app_id, self.store.user(user_id), created)
            )
        if method == "DELETE":
            self.store.delete_session(token)
            return Response(200)
        raise _base("Method not allowed", 405)

    def _login_call(self, method: str, headers: dict[str, str], p: dict[str, Any]) -> Response:
        app_id, _, _ = self._session(headers)
        if method == "POST":
            user = self.store.user_by_login(app_id, str(p.get("login") or p.get("email") or ""))
            if user is None or not self._check_password(user, str(p.get("password", ""))):
                raise _base("Unauthorized", 401)
            token = headers["cb-token"]
            self.store.db.execute("UPDATE sessions SET user_id=? WHERE token=?", (user.id, token))
            return _json({"user": self._user_json(user)})
        self.store.db.execute("UPDATE sessions SET user_id=0 WHERE token=?", (headers["cb-token"],))
        return Response(200)

    def _users_call(
        self, method: str, segs: list[str], headers: dict[str, str], p: dict[str, Any]
    ) -> Response:
        if method == "POST" and len(segs) == 1:
            if "cb-token" in headers:
                app_id, _, _ = self._session(headers)
            else:
                key = headers.get("cb-authkey", "")
                app = next(
                    (
                        a
                        for a in (
                            self.store.app(i[0])
                            for i in self.store.db.execute("SELECT id FROM apps")
                        )
                        if a and a.auth_key == key
                    ),
                    None,
                )
                if app is None:
                    raise _base("Required session does not exist", 401)
                app_id = app.id
            fields = p.get("user")
            if (
                not isinstance(fields, dict)
                or not fields.get("login")
                or not fields.get("password")
            ):
                raise ApiError(422, {"login": ["can't be blank"], "password": ["can't be blank"]})
            if self.store.user_by_login(app_id, str(fields["login"])) is not None:
                raise ApiError(422, {"login": ["has already been taken"]})
            user = self.store.create_user(
                app_id,
                str(fields["login"]),
                str(fields["password"]),
                full_name=fields.get("full_name"),
                profile=_profile(fields),
            )
            return _json({"user": self._user_json(user)}, 201)
        self._user(headers)
        if method == "GET" and len(segs) == 2 and segs[1].isdigit():
            found_user = self.store.user(int(segs[1]))
            if found_user is None:
                raise _base("Not found", 404)
            return _json({"user": self._user_json(found_user)})
        raise _base("No such users call", 404)

    # ------------------------------------------------------------------ dialogs

    def _visible(self, dialog: dict[str, Any], user: User) -> bool:
        if dialog["app_id"] != user.app_id or user.id in dialog.get("hidden_for", []):
            return False
        return dialog["type"] == BROADCAST or user.id in dialog["occupants_ids"]

    def _dialog(self, dialog_id: str, user: User) -> dict[str, Any]:
        dialog = self.store.dialog(dialog_id) if _ID.match(dialog_id) else None
        if dialog is None or dialog["app_id"] != user.app_id:
            raise _base("Not found", 404)
        return dialog

    def _unread(self, dialog: dict[str, Any], user_id: int) -> int:
        return sum(
            1
            for m in self.store.messages(dialog["_id"])
            if m["sender_id"] != user_id
            and user_id not in m["read_ids"]
            and user_id not in m.get("hidden_for", [])
        )

    def dialog_json(self, dialog: dict[str, Any], user: User) -> dict[str, Any]:
        messages = [
            m for m in self.store.messages(dialog["_id"]) if user.id not in m.get("hidden_for", [])
        ]
        last = messages[-1] if messages else None
        status = None
        if last is not None and last["sender_id"] == user.id:
            others = set(dialog["occupants_ids"]) - {user.id}
            status = (
                "read"
                if others & set(last["read_ids"])
                else "delivered"
                if others & set(last["delivered_ids"])
                else "sent"
            )
        public = dialog["type"] == PUBLIC
        out: dict[str, Any] = {
            "_id": dialog["_id"],
            "user_id": dialog["user_id"],
            "type": dialog["type"],
            # A string always (the SDK's type): a private dialog has no name of its own.
            "name": dialog["name"] or "",
            "description": dialog["description"],
            "photo": dialog["photo"],
            "xmpp_room_jid": dialog["xmpp_room_jid"],
            "occupants_ids": [] if public else dialog["occupants_ids"],
            "occupants_count": len(dialog["occupants_ids"]),
            "admins_ids": dialog["admins_ids"],
            "pinned_messages_ids": dialog["pinned_messages_ids"],
            "last_message": last["message"] if last else None,
            "last_message_id": last["_id"] if last else None,
            "last_message_user_id": last["sender_id"] if last else None,
            "last_message_status": status,
            "unread_messages_count": self._unread(dialog, user.id),
            "created_at": iso(dialog["created"]),
            "updated_at": iso(dialog["updated"]),
        }
        # Optional in the SDK's type (absent, never null): the last message's date, the
        # custom fields and the permissions.
        if last is not None:
            out["last_message_date_sent"] = last["date_sent"]
        for key in ("extensions", "permissions"):
            if dialog.get(key) is not None:
                out[key] = dialog[key]
        return out

    def _dialogs_call(
        self, method: str, segs: list[str], user: User, p: dict[str, Any]
    ) -> Response:
        if not segs:
            if method == "GET":
                items = [d for d in self.store.dialogs(user.app_id) if self._visible(d, user)]
                items = [d for d in items if _matches(self.dialog_json(d, user), p)]
                items.sort(key=lambda d: d["updated"], reverse=True)
                skip, limit = _paging(p)
                return _json(
                    {
                        "total_entries": len(items),
                        "skip": skip,
                        "limit": limit,
                        "items": [self.dialog_json(d, user) for d in items[skip : skip + limit]],
                    }
                )
            if method == "POST":
                return _json(self.dialog_json(self._create_dialog(user, p), user), 201)
        if len(segs) == 2 and segs[0] == "clearHistory" and method == "DELETE":
            dialog = self._dialog(segs[1], user)
            for m in self.store.messages(dialog["_id"]):
                m.setdefault("hidden_for", []).append(user.id)
                self.store.put_message(m)
            return Response(200)
        if len(segs) == 2:
            dialog = self._dialog(segs[0], user)
            return self._dialog_sub(method, segs[1], dialog, user, p)
        if len(segs) == 1 and method == "PUT":
            return _json(
                self.dialog_json(self._update_dialog(self._dialog(segs[0], user), user, p), user)
            )
        if len(segs) == 1 and method == "DELETE":
            return self._delete_dialogs(segs[0].split(","), user, p)
        raise _base("No such dialog call", 404)

    def _create_dialog(self, user: User, p: dict[str, Any]) -> dict[str, Any]:
        dtype_raw = p.get("type")
        if str(dtype_raw) not in ("1", "2", "3", "4"):
            raise ApiError(422, {"type": ["is not included in the list"]})
        dtype = int(str(dtype_raw))
        occupants = _int_list(p.get("occupants_ids"), "occupants_ids")
        for uid in occupants:
            other = self.store.user(uid)
            if other is None or other.app_id != user.app_id:
                raise ApiError(422, {"occupants_ids": [f"user {uid} not found"]})
        if dtype in (GROUP, PUBLIC, BROADCAST) and not p.get("name"):
            raise ApiError(422, {"name": ["can't be blank"]})
        admins = _int_list(p.get("admins_ids"), "admins_ids")
        if len(admins) > MAX_ADMINS:
            raise ApiError(422, {"admins_ids": [f"at most {MAX_ADMINS} admins"]})
        if dtype == PRIVATE:
            others = set(occupants) - {user.id}
            if len(others) != 1:
                raise ApiError(422, {"occupants_ids": ["a private dialog has exactly 2 occupants"]})
            peer = self.store.user(others.pop())
            assert peer is not None
            return self.hub.private_dialog(user, peer)
        fields = _dialog_fields(p)
        return self.hub.new_dialog(
            user, {**fields, "type": dtype, "occupants_ids": occupants, "admins_ids": admins}
        )

    def _role(self, dialog: dict[str, Any], user: User) -> str:
        if dialog["user_id"] == user.id:
            return "owner"
        if user.id in dialog["admins_ids"]:
            return "admin"
        return "member" if user.id in dialog["occupants_ids"] else "none"

    def _update_dialog(
        self, dialog: dict[str, Any], user: User, p: dict[str, Any]
    ) -> dict[str, Any]:
        role = self._role(dialog, user)
        if role == "none" or dialog["type"] == PRIVATE:
            raise _base("You don't have appropriate permissions to perform this operation", 403)
        privileged = role in ("owner", "admin")
        if (
            dialog["type"] in (PUBLIC, BROADCAST)
            and not privileged
            and any(k in p for k in ("name", "photo", "description", "push_all"))
        ):
            raise _base("You don't have appropriate permissions to perform this operation", 403)
        changed = _dialog_fields(p)
        if changed.get("name", "") is None:
            raise ApiError(422, {"name": ["can't be blank"]})
        dialog.update(changed)
        push = _obj(p.get("push_all"))
        pull = _obj(p.get("pull_all"))
        if "admins_ids" in push or "admins_ids" in pull:
            self._change_admins(dialog, user, push.get("admins_ids"), pull.get("admins_ids"))
        added = _int_list(push.get("occupants_ids"), "occupants_ids")
        removed = _int_list(pull.get("occupants_ids"), "occupants_ids")
        if set(removed) - {user.id} and not privileged:
            raise _base("You don't have appropriate permissions to perform this operation", 403)
        for uid in added:
            if self.store.user(uid) is None:
                raise ApiError(422, {"occupants_ids": [f"user {uid} not found"]})
        dialog["occupants_ids"] = sorted((set(dialog["occupants_ids"]) | set(added)) - set(removed))
        dialog["admins_ids"] = [a for a in dialog["admins_ids"] if a not in removed]
        pins = push.get("pinned_messages_ids")
        if pins:
            if not privileged:
                raise _base("You don't have appropriate permissions to perform this operation", 403)
            dialog["pinned_messages_ids"] = list(
                dict.fromkeys([*dialog["pinned_messages_ids"], *pins])
            )
        unpins = pull.get("pinned_messages_ids") or []
        dialog["pinned_messages_ids"] = [
            m for m in dialog["pinned_messages_ids"] if m not in unpins
        ]
        dialog["updated"] = time.time()
        self.store.put_dialog(dialog)
        return dialog

    def _change_admins(self, dialog: dict[str, Any], user: User, add: Any, remove: Any) -> None:
        if dialog["user_id"] != user.id:
            raise _base("Only the dialog owner can manage admins", 403)
        admins = set(dialog["admins_ids"]) | set(_int_list(add, "admins_ids"))
        admins -= set(_int_list(remove, "admins_ids"))
        if len(admins) > MAX_ADMINS:
            raise ApiError(422, {"admins_ids": [f"at most {MAX_ADMINS} admins"]})
        dialog["admins_ids"] = sorted(admins)

    def _dialog_sub(
        self, method: str, sub: str, dialog: dict[str, Any], user: User, p: dict[str, Any]
    ) -> Response:
        if sub == "subscribe":
            if dialog["type"] not in (PUBLIC, GROUP):
                raise _base("Only public dialogs can be subscribed to", 403)
            if dialog["type"] == GROUP and user.id not in dialog["occupants_ids"]:
                raise _base("You don't have appropriate permissions to perform this operation", 403)
            occupants = set(dialog["occupants_ids"])
            if method == "POST":
                occupants.add(user.id)
            elif method == "DELETE":
                occupants.discard(user.id)
            dialog["occupants_ids"] = sorted(occupants)
            self.store.put_dialog(dialog)
            return _json(self.dialog_json(dialog, user)) if method == "POST" else Response(200)
        if sub == "admins" and method == "PUT":
            push = _obj(p.get("push_all"))
            pull = _obj(p.get("pull_all"))
            self._change_admins(dialog, user, push.get("admins_ids"), pull.get("admins_ids"))
            self.store.put_dialog(dialog)
            return _json(self.dialog_json(dialog, user))
        if sub == "occupants" and method == "GET":
            skip, limit = _paging(p)
            users = [self.store.user(u) for u in dialog["occupants_ids"][skip : skip + limit]]
            return _json({"items": [{"user": self._user_json(u)} for u in users if u]})
        if sub == "notifications":
            if self._role(dialog, user) == "none":
                raise _base("You don't have appropriate permissions to perform this operation", 403)
            off = set(dialog.get("notifications_off", []))
            if method == "PUT":
                if str(p.get("enabled")) == "0":
                    off.add(user.id)
                else:
                    off.discard(user.id)
                dialog["notifications_off"] = sorted(off)
                self.store.put_dialog(dialog)
            return _json({"notifications": {"enabled": 0 if user.id in off else 1}})
        raise _base("No such dialog call", 404)

    def _delete_dialogs(self, ids: list[str], user: User, p: dict[str, Any]) -> Response:
        force = str(p.get("force")) == "1"
        result: dict[str, list[str]] = {
            "SuccessfullyDeleted": [],
            "NotFound": [],
            "WrongPermissions": [],
        }
        for dialog_id in ids:
            dialog = self.store.dialog(dialog_id) if _ID.match(dialog_id) else None
            if dialog is None or not self._visible(dialog, user):
                result["NotFound"].append(dialog_id)
                continue
            if force:
                if dialog["user_id"] != user.id:
                    result["WrongPermissions"].append(dialog_id)
                    continue
                self.store.delete_dialog(dialog_id)
            else:
                dialog.setdefault("hidden_for", []).append(user.id)
                self.store.put_dialog(dialog)
            result["SuccessfullyDeleted"].append(dialog_id)
        if len(ids) == 1:
            if result["NotFound"]:
                raise _base("Not found", 404)
            if result["WrongPermissions"]:
                raise _base("You don't have appropriate permissions to perform this operation", 403)
            return Response(200)
        return _json({k: {"ids": v} for k, v in result.items()})

    # ------------------------------------------------------------------ messages

    def message_json(self, m: dict[str, Any], user: User) -> dict[str, Any]:
        reactions: dict[str, str] = m.get("reactions") or {}
        total: dict[str, int] = {}
        for emoji in reactions.values():
            total[emoji] = total.get(emoji, 0) + 1
        own = [reactions[str(user.id)]] if str(user.id) in reactions else []
        skip = {"created", "updated", "hidden_for", "reactions"}
        out = {k: v for k, v in m.items() if k not in skip}
        out.update(
            {
                "read": 1 if user.id in m["read_ids"] else 0,
                "created_at": iso(m["created"]),
                "updated_at": iso(m["updated"]),
            }
        )
        if total:  # optional in the SDK's type: absent, never null, without reactions
            out["reactions"] = {"own": own, "total": total}
        return out

    def _readable(self, dialog: dict[str, Any], user: User) -> bool:
        return dialog["type"] == BROADCAST or user.id in dialog["occupants_ids"]

    def _messages_call(
        self, method: str, segs: list[str], user: User, p: dict[str, Any]
    ) -> Response:
        if not segs:
            if method == "GET":
                return self._list_messages(user, p)
            if method == "POST":
                return self._create_message(user, p)
            if method == "PUT":
                dialog = self._dialog(str(p.get("chat_dialog_id") or ""), user)
                self._mark(dialog, user, p, None)
                return Response(200)
        if segs == ["unread"] and method == "GET":
            wanted = p.get("chat_dialog_ids")
            ids = [
                i.strip()
                for i in (wanted if isinstance(wanted, list) else str(wanted or "").split(","))
                if i.strip()
            ]
            dialogs = [
                d
                for d in self.store.dialogs(user.app_id)
                if self._visible(d, user) and d["type"] in (GROUP, PRIVATE)
            ]
            if ids:
                dialogs = [d for d in dialogs if d["_id"] in ids]
            counts = {d["_id"]: self._unread(d, user.id) for d in dialogs}
            return _json({"total": sum(counts.values()), **counts})
        if segs == ["system"] and method == "POST":
            recipient = (
                self.store.user(int(p["recipientId"]))
                if str(p.get("recipientId", "")).isdigit()
                else None
            )
            if recipient is None or recipient.app_id != user.app_id:
                raise ApiError(422, {"recipientId": ["user not found"]})
            params = {k: v for k, v in p.items() if k != "recipientId"}
            # As the hub writes them: objects and lists as JSON, the rest as text.
            _check_pushable(
                {
                    k: json.dumps(v) if isinstance(v, (dict, list)) else str(v)
                    for k, v in params.items()
                }
            )
            try:
                message_id = self.hub.push_system_message(user, recipient, params)
            except LocalProtocolError as exc:  # raised while encoding, before delivery
                raise ApiError(422, {"base": [f"cannot be sent to chat: {exc}"]}) from None
            return _json(
                {"messageId": message_id, "recipientId": recipient.id, "extensionParams": params}
            )
        if len(segs) == 2 and segs[1] == "reactions":
            return self._reactions(method, segs[0], user, p)
        if len(segs) == 1:
            ids = segs[0].split(",")
            if method == "PUT":
                return self._update_messages(ids, user, p)
            if method == "DELETE":
                return self._delete_messages(ids, user, p)
        raise _base("No such message call", 404)

    def _list_messages(self, user: User, p: dict[str, Any]) -> Response:
        dialog = self._dialog(str(p.get("chat_dialog_id") or ""), user)
        preview = str(p.get("preview")) == "1" and (dialog.get("permissions") or {}).get(
            "allow_preview"
        )
        if not self._readable(dialog, user) and not preview:
            raise _base("You don't have appropriate permissions to perform this operation", 403)
        items = [
            m for m in self.store.messages(dialog["_id"]) if user.id not in m.get("hidden_for", [])
        ]
        # The stored record keeps its moments as unix floats under other names; filters
        # name the API's fields.
        items = [
            m
            for m in items
            if _matches(
                {**m, "created_at": m["created"], "updated_at": m["updated"]},
                p,
                skip={"chat_dialog_id"},
            )
        ]
        if p.get("sort_desc"):
            items.reverse()
        skip, limit = _paging(p)
        if preview and not self._readable(dialog, user):
            items, skip = items[-20:], 0
        page = items[skip : skip + limit]
        if str(p.get("mark_as_read", "1")) != "0" and self._readable(dialog, user):
            for m in page:
                if user.id not in m["read_ids"] and m["sender_id"] != user.id:
                    m["read_ids"].append(user.id)
                    self.store.put_message(m)
        return _json(
            {"skip": skip, "limit": limit, "items": [self.message_json(m, user) for m in page]}
        )

    def _create_message(self, user: User, p: dict[str, Any]) -> Response:
        now = time.time()
        if p.get("chat_dialog_id"):
            dialog = self._dialog(str(p["chat_dialog_id"]), user)
        elif str(p.get("recipient_id", "")).isdigit():
            peer = self.store.user(int(p["recipient_id"]))
            if peer is None or peer.app_id != user.app_id:
                raise ApiError(422, {"recipient_id": ["user not found"]})
            dialog = self.hub.private_dialog(user, peer)
        else:
            raise ApiError(422, {"chat_dialog_id": ["can't be blank"]})
        if not self.hub.may_post(dialog, user.id):
            raise _base("You don't have appropriate permissions to perform this operation", 403)
        attachments = p.get("attachments") or []
        if isinstance(attachments, dict):
            attachments = list(attachments.values())
        if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
            raise ApiError(422, {"attachments": ["is invalid"]})
        recipient = 0
        if dialog["type"] == PRIVATE:
            recipient = next(u for u in dialog["occupants_ids"] if u != user.id)
        record: dict[str, Any] = {
            "_id": new_object_id(now),
            "chat_dialog_id": dialog["_id"],
            "message": str(p.get("message") or ""),
            "date_sent": int(now),
            "sender_id": user.id,
            "recipient_id": recipient,
            "read_ids": [user.id],
            "delivered_ids": [user.id],
            "views_count": 0,
            "attachments": attachments,
            "reactions": {},
            "created": now,
            "updated": now,
            "hidden_for": [],
        }
        reserved = {
            "chat_dialog_id",
            "recipient_id",
            "message",
            "attachments",
            "send_to_chat",
            "markable",
        }
        custom = {k: v for k, v in p.items() if k not in reserved and k not in record}
        if str(p.get("send_to_chat")) == "1":
            _check_pushable(_pushed_fields(record["message"], custom, attachments))
        record.update(custom)
        self.store.put_message(record)
        dialog["updated"] = now
        dialog["hidden_for"] = []
        self.store.put_dialog(dialog)
        if str(p.get("send_to_chat")) == "1":
            try:
                self.hub.push_history_message(record, user, dialog, custom)
            except LocalProtocolError as exc:  # a shape the chat encoder refuses: undo
                self.store.delete_message(record["_id"])
                raise ApiError(422, {"base": [f"cannot be sent to chat: {exc}"]}) from None
        return _json(self.message_json(record, user), 201)

    def _mark(
        self, dialog: dict[str, Any], user: User, p: dict[str, Any], ids: list[str] | None
    ) -> None:
        read = str(p.get("read")) == "1"
        delivered = str(p.get("delivered")) == "1"
        for m in self.store.messages(dialog["_id"]):
            if ids is not None and m["_id"] not in ids:
                continue
            changed = False
            if (read or delivered) and user.id not in m["delivered_ids"]:
                m["delivered_ids"].append(user.id)
                changed = True
            if read and user.id not in m["read_ids"]:
                m["read_ids"].append(user.id)
                changed = True
            if changed:
                self.store.put_message(m)

    def _update_messages(self, ids: list[str], user: User, p: dict[str, Any]) -> Response:
        records = [self.store.message(i) for i in ids]
        if any(r is None for r in records):
            raise _base("Not found", 404)
        for record in records:
            assert record is not None
            dialog = self._dialog(record["chat_dialog_id"], user)
            if not self._readable(dialog, user):
                raise _base("You don't have appropriate permissions to perform this operation", 403)
            if "message" in p:
                if record["sender_id"] != user.id:
                    raise _base(
                        "You don't have appropriate permissions to perform this operation", 403
                    )
                record["message"] = str(p["message"])
                record["updated"] = time.time()
                self.store.put_message(record)
            self._mark(dialog, user, p, [record["_id"]])
        return Response(200)

    def _delete_messages(self, ids: list[str], user: User, p: dict[str, Any]) -> Response:
        force = str(p.get("force")) == "1"
        result: dict[str, list[str]] = {
            "SuccessfullyDeleted": [],
            "NotFound": [],
            "WrongPermissions": [],
        }
        for message_id in ids:
            record = self.store.message(message_id)
            dialog = self.store.dialog(record["chat_dialog_id"]) if record else None
            if record is None or dialog is None or not self._readable(dialog, user):
                result["NotFound"].append(message_id)
                continue
            if force:
                if record["sender_id"] != user.id and self._role(dialog, user) not in (
                    "owner",
                    "admin",
                ):
                    result["WrongPermissions"].append(message_id)
                    continue
                self.store.delete_message(message_id)
                self.hub.push_removal(record, user)
            else:
                record.setdefault("hidden_for", []).append(user.id)
                self.store.put_message(record)
            result["SuccessfullyDeleted"].append(message_id)
        return _json({k: {"ids": v} for k, v in result.items()})

    def _reactions(self, method: str, message_id: str, user: User, p: dict[str, Any]) -> Response:
        record = self.store.message(message_id)
        dialog = self.store.dialog(record["chat_dialog_id"]) if record else None
        if record is None or dialog is None or not self._readable(dialog, user):
            raise _base("Not found", 404)
        reactions: dict[str, str] = record.setdefault("reactions", {})
        if method == "GET":
            out: dict[str, list[int]] = {}
            for uid, emoji in reactions.items():
                out.setdefault(emoji, []).append(int(uid))
            return _json(out)
        if method != "PUT":
            raise _base("Method not allowed", 405)
        add, remove = p.get("add"), p.get("remove")
        if not add and not remove:
            raise ApiError(422, {"base": ["add or remove is required"]})
        for value in (add, remove):
            if value is not None and (
                not isinstance(value, str)
                or not 0 < len(value) <= MAX_REACTION_CHARS
                or _XML_FORBIDDEN.search(value)
            ):
                raise ApiError(422, {"base": ["a reaction is a short string"]})
        mine = reactions.get(str(user.id))
        if remove and mine == remove:
            del reactions[str(user.id)]
        if add:
            reactions[str(user.id)] = add
        self.store.put_message(record)
        self.hub.push_reactions(record, user, add, remove)
        return Response(200)

    def _search(self, user: User, p: dict[str, Any]) -> Response:
        text = str(p.get("search_text") or "")
        if len(text) < 4:
            raise ApiError(422, {"search_text": ["is too short (minimum is 4 characters)"]})
        wanted = [i for i in str(p.get("chat_dialog_ids") or "").split(",") if i]
        dialogs = [d for d in self.store.dialogs(user.app_id) if self._visible(d, user)]
        if wanted:
            dialogs = [d for d in dialogs if d["_id"] in wanted]
        _, limit = _paging(p)
        window = _search_window(p)
        found_dialogs = [
            self.dialog_json(d, user) for d in dialogs if text in (d.get("name") or "")
        ]
        found_messages = [
            self.message_json(m, user)
            for d in dialogs
            for m in self.store.messages(d["_id"])
            if text in m["message"]
            and user.id not in m.get("hidden_for", [])
            and (window is None or window[0] <= m["date_sent"] <= window[1])
        ]
        users = [
            self._user_json(u)
            for u in self.store.users(user.app_id)
            if text in (u.full_name or "") or text in u.login
        ]
        return _json(
            {
                "results": {
                    "dialogs": found_dialogs[:limit],
                    "messages": found_messages[:limit],
                    "users": users[:limit],
                }
            }
        )

    # ------------------------------------------------------------------ storage

    def _blob_json(self, blob: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in blob.items() if k not in ("completed", "path", "upload_key")}

    def _list_blobs(self, user: User, p: dict[str, Any]) -> Response:
        """``GET /blobs.json`` (the SDK's ``storage.list``): the caller's own blobs, paged
        by ``page`` (the SDK sends ``current_page``) and ``per_page`` (default 10, max 100)."""
        page_raw = p.get("current_page", p.get("page", ""))
        page = max(1, int(page_raw)) if str(page_raw).isdigit() else 1
        per_raw = p.get("per_page", "")
        per_page = max(1, min(int(per_raw), 100)) if str(per_raw).isdigit() else 10
        blobs = self.store.blobs_of(user.id)
        start = (page - 1) * per_page
        return _json(
            {
                "current_page": page,
                "per_page": per_page,
                "total_entries": len(blobs),
                "items": [self._blob_json(b) for b in blobs[start : start + per_page]],
            }
        )

    def _blob_by_uid(self, uid: str, user: User) -> Response:
        """``GET /blobs/{uid}.json`` (the SDK's ``storage.getFile``): a blob of the caller's
        application, by uid."""
        found = self.store.blob(uid) if re.fullmatch(r"[0-9a-f]{1,64}", uid) else None
        owner = self.store.user(found[1]) if found is not None else None
        if found is None or owner is None or owner.app_id != user.app_id:
            raise _base("Not found", 404)
        return _json({"blob": self._blob_json(found[0])})

    def _blobs_call(
        self,
        method: str,
        segs: list[str],
        headers: dict[str, str],
        p: dict[str, Any],
        is_json: bool,
    ) -> Response:
        if len(segs) >= 2 and not is_json and not segs[1].isdigit():
            return self._download(segs[1], headers, p)
        user = self._user(headers)
        if len(segs) == 1 and method == "GET":
            return self._list_blobs(user, p)
        if len(segs) == 2 and method == "GET" and not segs[1].isdigit():
            return self._blob_by_uid(segs[1], user)
        if len(segs) == 1 and method == "POST":
            spec = p.get("blob")
            if (
                not isinstance(spec, dict)
                or not spec.get("name")
                or not 0 < len(str(spec["name"])) <= 100
            ):
                raise ApiError(422, {"name": ["is invalid"]})
            now = time.time()
            blob = self.store.create_blob(
                user.id,
                {
                    "name": str(spec["name"]),
                    "content_type": str(spec.get("content_type") or "application/octet-stream"),
                    "size": None,
                    "public": bool(spec.get("public")),
                    "created_at": iso(now),
                    "updated_at": iso(now),
                    "completed": False,
                },
            )
            key = os.urandom(16).hex()
            blob["upload_key"] = key
            self.store.put_blob(blob, user.id)
            params = (
                f"{self.base_url}/s3/{blob['uid']}"
                f"?Content-Type={quote(blob['content_type'], safe='')}"
                f"&key={key}&success_action_status=201"
            )
            out = self._blob_json(blob)
            out["blob_object_access"] = {
                "id": blob["id"],
                "blob_id": blob["id"],
                "expires": iso(now + 3600),
                "object_access_type": "Write",
                "params": params,
            }
            return _json({"blob": out}, 201)
        if len(segs) >= 2 and segs[1].isdigit():
            found = self.store.blob(int(segs[1]))
            if found is None:
                raise _base("Not found", 404)
            blob, owner = found
            if len(segs) == 3 and segs[2] == "complete" and method == "PUT":
                if owner != user.id:
                    raise _base(
                        "You don't have appropriate permissions to perform this operation", 403
                    )
                size = p.get(
                    "size",
                    (p.get("blob") or {}).get("size") if isinstance(p.get("blob"), dict) else None,
                )
                blob["size"] = int(str(size)) if str(size).isdigit() else blob.get("size")
                blob["completed"] = True
                self.store.put_blob(blob, owner)
                return Response(200)
            if len(segs) == 2 and method == "GET":
                return _json({"blob": self._blob_json(blob)})
            if len(segs) == 2 and method == "DELETE":
                if owner != user.id:
                    raise _base(
                        "You don't have appropriate permissions to perform this operation", 403
                    )
                (self.blob_dir / blob["uid"]).unlink(missing_ok=True)
                self.store.delete_blob(blob["id"])
                return Response(200)
        raise _base("No such blobs call", 404)

    def _download(self, uid: str, headers: dict[str, str], p: dict[str, Any]) -> Response:
        found = self.store.blob(uid) if re.fullmatch(r"[0-9a-f]{1,64}", uid) else None
        if found is None:
            raise _base("Not found", 404)
        blob, _ = found
        if not blob.get("public"):
            token = str(p.get("token") or headers.get("cb-token") or "")
            session = self.store.session(token, time.time()) if token else None
            if (
                session is None
                or session[1]
                != (
                    self.store.user(found[1])
                    or User(id=0, app_id=-1, login="", full_name=None, created=0, last_seen=None)
                ).app_id
            ):
                raise _base("Required session does not exist", 401)
        path = self.blob_dir / uid
        if not blob.get("completed") or not path.exists():
            raise _base("Not found", 404)
        return Response(200, headers=[("Content-Type", blob["content_type"])], file=path)

    def _upload(self, segs: list[str], headers: dict[str, str], body: bytes) -> Response:
        """The storage endpoint the upload URL points to (S3's multipart POST form)."""
        if len(segs) != 2:
            raise _base("Not found", 404)
        found = self.store.blob(segs[1]) if re.fullmatch(r"[0-9a-f]{1,64}", segs[1]) else None
        if found is None:
            raise _base("Not found", 404)
        blob, owner = found
        fields = _multipart(headers.get("content-type", ""), body)
        if fields is None or "file" not in fields:
            raise _base("Expected multipart/form-data with a file field", 400)
        if fields.get("key", b"").decode("utf-8", "replace") != blob.get("upload_key"):
            raise _base("Invalid upload key", 403)
        data = fields["file"]
        if len(data) > self.max_upload_bytes:
            raise _base("Your proposed upload exceeds the maximum allowed size", 400)
        (self.blob_dir / blob["uid"]).write_bytes(data)
        blob["size"] = len(data)
        self.store.put_blob(blob, owner)
        location = f"{self.base_url}/blobs/{blob['uid']}"
        return Response(
            201,
            f"<PostResponse><Location>{location}</Location><Key>{blob['uid']}</Key></PostResponse>".encode(),
            [("Content-Type", "application/xml")],
        )

    # ------------------------------------------------------------------ custom objects

    def _data_call(self, method: str, segs: list[str], user: User, p: dict[str, Any]) -> Response:
        class_name = segs[0]
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", class_name):
            raise _base("Not found", 404)
        if method == "GET" and len(segs) == 1:
            items = self.store.objects(class_name, user.app_id)
            skip, limit = _paging(p)
            return _json(
                {
                    "class_name": class_name,
                    "skip": skip,
                    "limit": limit,
                    "items": items[skip : skip + limit],
                }
            )
        if method == "POST":
            records = []
            if len(segs) == 2 and segs[1] == "multi":
                batch = _obj(p.get("record"))
                records = [v for v in batch.values() if isinstance(v, dict)]
            elif len(segs) == 1:
                records = [p]
            if not records:
                raise ApiError(422, {"base": ["no record"]})
            now = int(time.time())
            saved = []
            for fields in records:
                record = {
                    "_id": new_object_id(now),
                    "_parent_id": None,
                    "user_id": user.id,
                    **{k: v for k, v in fields.items() if not k.startswith("_")},
                    "created_at": now,
                    "updated_at": now,
                    "permissions": {
                        "read": {"access": "open"},
                        "update": {"access": "owner"},
                        "delete": {"access": "owner"},
                    },
                }
                self.store.put_object(class_name, user.app_id, record)
                saved.append(record)
            if len(segs) == 1:
                return _json(saved[0], 201)
            return _json({"class_name": class_name, "items": saved}, 201)
        raise _base("No such data call", 404)


def _too_long(limit: int) -> list[str]:
    return [f"is too long (maximum is {limit} characters)"]


def _check_lengths(params: dict[str, Any], limits: dict[str, int]) -> None:
    """422 for the first string value longer than its field's limit (``limits`` by field
    name, :data:`MAX_TEXT_CHARS` otherwise) or parameter name longer than
    :data:`MAX_NAME_CHARS`, anywhere in the parameters.  Iterative: JSON nested as deep as
    the parser allows does not exhaust the stack."""
    stack: list[tuple[str, Any]] = [("base", params)]
    while stack:
        name, value = stack.pop()
        if isinstance(value, str):
            limit = limits.get(name, MAX_TEXT_CHARS)
            if len(value) > limit:
                raise ApiError(422, {name: _too_long(limit)})
        elif isinstance(value, dict):
            for key, item in value.items():
                if len(key) > MAX_NAME_CHARS:
                    raise ApiError(
                        422,
                        {"base": [f"a parameter name is too long (maximum is {MAX_NAME_CHARS})"]},
                    )
                stack.append((key, item))
        elif isinstance(value, list):
            stack.extend((name, item) for item in value)


def _pushed_fields(
    message: str, custom: dict[str, Any], attachments: list[dict[str, Any]]
) -> dict[str, Any]:
    """What the hub writes into the chat stanza of a message created with
    ``send_to_chat=1``: its text, its custom keys (values other than objects and strings as
    JSON) and its attachments (values as text)."""
    return {
        "message": message,
        **{k: v if isinstance(v, (dict, str)) else json.dumps(v) for k, v in custom.items()},
        "attachments": [{str(k): str(v) for k, v in a.items()} for a in attachments],
    }


def _check_pushable(fields: dict[str, Any]) -> None:
    """422 unless ``fields`` can go into a chat stanza: no character XML 1.0 forbids, in a
    value or a name, and at most :data:`MAX_PUSHED_STANZA_BYTES` written out.  The count
    is an upper bound of what the hub writes: each string's UTF-8 bytes plus what escaping
    adds (``"`` 5 bytes, ``&`` and tab/LF/CR 4, ``<`` ``>`` 3), each name twice plus 5
    (``<name>...</name>``), 32 per list item, other values as their JSON."""
    total = 0
    stack: list[tuple[str, Any]] = [("base", fields)]
    while stack:
        name, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if _XML_FORBIDDEN.search(key):
                    raise ApiError(422, {"base": ["a parameter name XML 1.0 forbids"]})
                total += 2 * len(key.encode("utf-8", "surrogatepass")) + 5
                stack.append((key, item))
            continue
        if isinstance(value, list):
            total += 32 * len(value)
            stack.extend((name, item) for item in value)
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        if _XML_FORBIDDEN.search(text):
            raise ApiError(422, {name: ["contains a character XML 1.0 forbids"]})
        total += (
            len(text.encode("utf-8"))
            + 5 * text.count('"')
            + 4 * (text.count("&") + text.count("\t") + text.count("\n") + text.count("\r"))
            + 3 * (text.count("<") + text.count(">"))
        )
    if total > MAX_PUSHED_STANZA_BYTES:
        raise ApiError(
            422,
            {"base": [f"too large to send to chat (maximum is {MAX_PUSHED_STANZA_BYTES} bytes)"]},
        )


def _dialog_fields(p: dict[str, Any]) -> dict[str, Any]:
    """The dialog fields present in ``p``, typed as the SDK's ``Dialogs.Dialog`` declares
    them: ``name``, ``description``, ``photo`` strings (a number is taken as its text;
    ``description``/``photo`` may be null), ``extensions`` and ``permissions`` objects or
    null.  Anything else: 422 ``is invalid``."""
    out: dict[str, Any] = {}
    for key in ("name", "description", "photo"):
        if key not in p:
            continue
        value = p[key]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if value is not None and not isinstance(value, str):
            raise ApiError(422, {key: ["is invalid"]})
        out[key] = value
    for key in ("extensions", "permissions"):
        if key in p:
            if p[key] is not None and not isinstance(p[key], dict):
                raise ApiError(422, {key: ["is invalid"]})
            out[key] = p[key]
    return out


def _profile(fields: dict[str, Any]) -> dict[str, Any]:
    """The profile fields of a sign-up (``user[...]``), typed as the SDK's ``Users.User``
    declares them: ids and ``timezone`` numbers, ``tag_list`` (a list or one comma-separated
    string) becoming ``user_tags``, the others strings."""
    profile: dict[str, Any] = {}
    for name in PROFILE_FIELDS:
        value = fields.get("tag_list") if name == "user_tags" else fields.get(name)
        if value is None or value == "":
            continue
        if name in _PROFILE_INTS:
            text = str(value).strip()
            if not text.lstrip("-").isdigit():
                raise ApiError(422, {name: ["is not a number"]})
            profile[name] = int(text)
        elif isinstance(value, dict) or (isinstance(value, list) and name != "user_tags"):
            raise ApiError(422, {name: ["is invalid"]})
        elif name == "user_tags":
            items = value if isinstance(value, list) else str(value).split(",")
            profile[name] = [str(t).strip() for t in items if str(t).strip()]
        else:
            profile[name] = str(value)
    return profile


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


#: The longest search window the API accepts (protocol reference 11, search: "<= 3 months").
MAX_SEARCH_WINDOW_SECONDS = 92 * 86400


def _search_window(p: dict[str, Any]) -> tuple[float, float] | None:
    """The messages' ``date_sent`` window of a search: ``start_date`` and ``end_date``
    (ISO-8601 as the SDK sends them, or unix seconds) come together and bound it inclusively.

    The reference says the server compares ``start_date`` with ``lte`` and ``end_date`` with
    ``gte``; which of the two is the older bound is not certain, so the window runs from the
    earlier to the later of them, which is right under either reading.
    """
    start, end = p.get("start_date"), p.get("end_date")
    if start in (None, "") and end in (None, ""):
        return None
    if start in (None, "") or end in (None, ""):
        raise ApiError(422, {"base": ["start_date and end_date are required together"]})
    a, b = _moment(start), _moment(end)
    if a is None or b is None:
        raise ApiError(422, {"base": ["start_date and end_date must be ISO-8601 dates"]})
    low, high = min(a, b), max(a, b)
    if high - low > MAX_SEARCH_WINDOW_SECONDS:
        raise ApiError(422, {"base": ["the search window is at most 3 months"]})
    return low, high


def _paging(p: dict[str, Any]) -> tuple[int, int]:
    skip = int(p["skip"]) if str(p.get("skip", "")).isdigit() else 0
    limit = int(p["limit"]) if str(p.get("limit", "")).isdigit() else 100
    return skip, max(1, min(limit, 1000))


_CONTROL = {
    "limit",
    "skip",
    "sort_asc",
    "sort_desc",
    "mark_as_read",
    "preview",
    "count",
    "chat_dialog_id",
}


def _matches(record: dict[str, Any], p: dict[str, Any], skip: set[str] = frozenset()) -> bool:  # type: ignore[assignment]
    """The REST filters: ``field=value`` and ``field[op]=value``."""
    for key, cond in p.items():
        if key in _CONTROL or key in skip:
            continue
        if key == "extensions" and isinstance(cond, dict):
            ext = record.get("extensions") or {}
            if any(str(ext.get(k)) != str(v) for k, v in cond.items()):
                return False
            continue
        value = record.get(key)
        if key in _DATE_FIELDS:
            conds = cond if isinstance(cond, dict) else {"eq": cond}
            if not all(_date_op(key, op, value, raw) for op, raw in conds.items()):
                return False
            continue
        if isinstance(cond, dict):
            for op, raw in cond.items():
                if not _op(op, value, raw):
                    return False
        elif str(value) != str(cond):
            return False
    return True


#: Fields that hold a moment.  The API's tables call them unix timestamps while its
#: examples show ISO-8601 strings (protocol reference 10.1, 11.1), and the SDK passes
#: whatever the application wrote: a filter on one of them takes either form and compares
#: moments, never the strings.
_DATE_FIELDS = frozenset({"created_at", "updated_at", "date_sent", "last_message_date_sent"})


def _moment(value: Any) -> float | None:
    """Unix seconds from a number, a numeric string or an ISO-8601 string; else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _date_op(key: str, op: str, value: Any, raw: Any) -> bool:
    """One filter on a date field; a value that is no moment is refused (422), since an
    empty answer would claim that nothing matched."""
    if op in ("in", "nin"):
        wanted = [_moment(item) for item in str(raw).split(",")]
        if None in wanted:
            raise ApiError(422, {key: [f"{op} takes unix timestamps or ISO-8601 dates"]})
        found = _moment(value) in wanted
        return found if op == "in" else not found
    bound = _moment(raw)
    if bound is None or op not in _ORDER:
        raise ApiError(
            422, {key: [f"{op}: {str(raw)[:64]!r} is not a unix timestamp or an ISO-8601 date"]}
        )
    moment = _moment(value)
    if moment is None:
        return op == "ne"
    return _ORDER[op](moment, bound)


_ORDER: dict[str, Callable[[float, float], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
}


def _num(value: Any) -> float | str:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _op(op: str, value: Any, raw: Any) -> bool:
    items = [s.strip() for s in str(raw).split(",")]
    a, b = _num(value), _num(raw)
    try:
        if op == "lt":
            return a < b  # type: ignore[operator]
        if op == "lte":
            return a <= b  # type: ignore[operator]
        if op == "gt":
            return a > b  # type: ignore[operator]
        if op == "gte":
            return a >= b  # type: ignore[operator]
    except TypeError:
        return False
    if op == "ne":
        return str(value) != str(raw)
    if op == "in":
        return str(value) in items
    if op == "nin":
        return str(value) not in items
    if op == "ctn":
        return str(raw) in str(value or "")
    if op == "all":
        return isinstance(value, list) and all(i in [str(v) for v in value] for i in items)
    return True


def _multipart(content_type: str, body: bytes) -> dict[str, bytes] | None:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/form-data") or match is None:
        return None
    boundary = b"--" + match.group(1).encode()
    fields: dict[str, bytes] = {}
    for part in body.split(boundary)[1:]:
        if part.startswith(b"--"):
            break
        head, sep, data = part.partition(b"\r\n\r\n")
        if not sep:
            return None
        name = re.search(rb'name="([^"]*)"', head)
        if name is None:
            return None
        fields[name.group(1).decode("utf-8", "replace")] = data.removesuffix(b"\r\n")
    return fields
