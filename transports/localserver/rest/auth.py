"""Sessions, log-in and users: ``/session``, ``/login``, ``/users``.

A session is created with the application's ``auth_key`` (and a user's credentials for a
user session); every other call carries its ``CB-Token``.  Sign-up takes the token or,
without one, the ``CB-AuthKey`` header.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..store import User, iso
from .common import ApiError, Call, Response, base_error, json_response

if TYPE_CHECKING:
    from .api import RestApi

__all__ = [
    "PROFILE_FIELDS",
    "create_session",
    "delete_session",
    "get_user",
    "log_in",
    "log_out",
    "read_session",
    "sign_up",
    "user_json",
]

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


def user_json(user: User) -> dict[str, Any]:
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
    token: str, session_id: int, app_id: int, user: User | None, created: float
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
            **({"user": user_json(user)} if user else {}),
        }
    }


def _password_matches(api: RestApi, user: User | None, password: str) -> bool:
    from cubeproto.server import check_plain_password

    auth = api.store.user_auth(user.id) if user else None
    return auth is not None and check_plain_password(auth, password)


def create_session(api: RestApi, call: Call) -> Response:
    """``POST /session``: an application session, or a user session with ``user``."""
    p = call.params
    now = api.hub.now()
    app_raw = p.get("application_id")
    app = api.store.app(int(str(app_raw))) if str(app_raw).isdigit() else None
    if app is None or p.get("auth_key") != app.auth_key:
        raise base_error("Unexpected signature", 422)
    user = None
    if isinstance(p.get("user"), dict):
        creds = p["user"]
        login = str(creds.get("login") or creds.get("email") or "")
        user = api.store.user_by_login(app.id, login)
        if user is None or not _password_matches(api, user, str(creds.get("password", ""))):
            raise base_error("Unauthorized", 401)
    token, session_id = api.store.create_session(app.id, user.id if user else 0, now)
    return json_response(_session_json(token, session_id, app.id, user, now), 201)


def _live_session(api: RestApi, call: Call) -> tuple[str, tuple[int, int, int, float]]:
    token = call.headers.get("cb-token", "")
    found = api.store.session(token, api.hub.now())
    if found is None:
        raise base_error("Required session does not exist", 401)
    return token, found


def read_session(api: RestApi, call: Call) -> Response:
    """``GET /session``: the session of the token, with its user."""
    token, (session_id, app_id, user_id, created) = _live_session(api, call)
    return json_response(_session_json(token, session_id, app_id, api.store.user(user_id), created))


def delete_session(api: RestApi, call: Call) -> Response:
    """``DELETE /session``: the token is gone."""
    token, _ = _live_session(api, call)
    api.store.delete_session(token)
    return Response(200)


def log_in(api: RestApi, call: Call) -> Response:
    """``POST /login``: attach a user (login or e-mail, and password) to the session."""
    p = call.params
    app_id, _, _ = api.session(call.headers)
    user = api.store.user_by_login(app_id, str(p.get("login") or p.get("email") or ""))
    if user is None or not _password_matches(api, user, str(p.get("password", ""))):
        raise base_error("Unauthorized", 401)
    token = call.headers["cb-token"]
    api.store.db.execute("UPDATE sessions SET user_id=? WHERE token=?", (user.id, token))
    return json_response({"user": user_json(user)})


def log_out(api: RestApi, call: Call) -> Response:
    """``DELETE /login``: the session goes on without its user."""
    api.session(call.headers)
    token = call.headers["cb-token"]
    api.store.db.execute("UPDATE sessions SET user_id=0 WHERE token=?", (token,))
    return Response(200)


def _app_of_auth_key(api: RestApi, key: str) -> int:
    for (app_id,) in api.store.db.execute("SELECT id FROM apps"):
        app = api.store.app(app_id)
        if app is not None and app.auth_key == key:
            return app.id
    raise base_error("Required session does not exist", 401)


def sign_up(api: RestApi, call: Call) -> Response:
    """``POST /users``: a new user with login, password and profile fields."""
    if "cb-token" in call.headers:
        app_id, _, _ = api.session(call.headers)
    else:
        app_id = _app_of_auth_key(api, call.headers.get("cb-authkey", ""))
    fields = call.params.get("user")
    if not isinstance(fields, dict) or not fields.get("login") or not fields.get("password"):
        raise ApiError(422, {"login": ["can't be blank"], "password": ["can't be blank"]})
    if api.store.user_by_login(app_id, str(fields["login"])) is not None:
        raise ApiError(422, {"login": ["has already been taken"]})
    user = api.store.create_user(
        app_id,
        str(fields["login"]),
        str(fields["password"]),
        full_name=fields.get("full_name"),
        profile=_profile(fields),
        created=api.hub.now(),
    )
    return json_response({"user": user_json(user)}, 201)


def get_user(api: RestApi, call: Call) -> Response:
    """``GET /users/{id}``: a user of any application the caller can name by id."""
    found = api.store.user(int(call.args["user_id"]))
    if found is None:
        raise base_error("Not found", 404)
    return json_response({"user": user_json(found)})


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
