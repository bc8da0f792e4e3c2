"""Sessions and log-in: application and user sessions, signed sessions, login
and logout.

The credential objects (:class:`LoginPassword` and the others of :data:`UserAuth`) say how a
user proves who they are; :func:`create_session` and :func:`login` carry them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ...errors import LocalProtocolError
from ..models import Session, User
from ..responses import parse_empty, parse_session, parse_user
from ..restrequest import DEFAULT_BASE_URL, RestRequest, build
from ..signing import signed_session_params
from ._checks import text_arg


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginPassword:
    """A user session by login and password."""

    login: str
    password: str

    def fields(self) -> dict[str, Any]:
        return {
            "user": {
                "login": text_arg(self.login, "login"),
                "password": text_arg(self.password, "password"),
            }
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailPassword:
    """A user session by e-mail and password."""

    email: str
    password: str

    def fields(self) -> dict[str, Any]:
        return {
            "user": {
                "email": text_arg(self.email, "email"),
                "password": text_arg(self.password, "password"),
            }
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class GuestUser:
    """A guest user session (the user lives one day)."""

    full_name: str

    def fields(self) -> dict[str, Any]:
        return {"user": {"guest": "1", "full_name": text_arg(self.full_name, "full_name")}}


@dataclass(frozen=True, slots=True, kw_only=True)
class SocialToken:
    """Facebook or Twitter login; ``secret`` is Twitter's token secret."""

    provider: Literal["facebook", "twitter"]
    token: str
    secret: str | None = None

    def __post_init__(self) -> None:
        if self.provider not in ("facebook", "twitter"):
            raise LocalProtocolError(f"unknown social provider {self.provider!r}")

    def fields(self) -> dict[str, Any]:
        keys: dict[str, Any] = {"token": text_arg(self.token, "token")}
        if self.secret is not None:
            keys["secret"] = text_arg(self.secret, "secret")
        return {"provider": self.provider, "keys": keys}


@dataclass(frozen=True, slots=True, kw_only=True)
class FirebaseToken:
    """Firebase phone or e-mail login with a Firebase ID token."""

    provider: Literal["firebase_phone", "firebase_email"]
    project_id: str
    access_token: str

    def __post_init__(self) -> None:
        if self.provider not in ("firebase_phone", "firebase_email"):
            raise LocalProtocolError(f"unknown firebase provider {self.provider!r}")

    def fields(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            self.provider: {
                "project_id": text_arg(self.project_id, "project_id"),
                "access_token": text_arg(self.access_token, "access_token"),
            },
        }


UserAuth = LoginPassword | EmailPassword | GuestUser | SocialToken | FirebaseToken


def _app_fields(application_id: int | str, auth_key: str) -> dict[str, Any]:
    if isinstance(application_id, bool) or not isinstance(application_id, (int, str)):
        raise LocalProtocolError("application_id must be an int or str")
    return {"application_id": application_id, "auth_key": text_arg(auth_key, "auth_key")}


def create_session(
    *,
    application_id: int | str,
    auth_key: str,
    user: UserAuth | None = None,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[Session]:
    """``POST /session.json`` -- an application session, or a user session with ``user``.

    ``token``: an older token still held (the SDK sends it on every request).
    """
    params = _app_fields(application_id, auth_key)
    if user is not None:
        params.update(user.fields())
    return build("POST", ["session"], parse_session, params=params, token=token, base_url=base_url)


def create_session_signed(
    *,
    application_id: int | str,
    auth_key: str,
    auth_secret: str,
    nonce: int | str,
    timestamp: int,
    user: UserAuth | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[Session]:
    """The legacy signed ``POST /session.json`` (whether today's server accepts it: unverified).

    ``nonce`` (SDK 3.x: a random int 0..9999) and ``timestamp`` (unix seconds) are injected so
    the request is reproducible; the signature is HMAC-SHA1 over the sorted parameters.
    """
    params = _app_fields(application_id, auth_key)
    params["nonce"] = nonce
    params["timestamp"] = timestamp
    if user is not None:
        params.update(user.fields())
    signed = signed_session_params(params, auth_secret)
    return build("POST", ["session"], parse_session, params=signed, base_url=base_url)


def get_session(
    *, token: str | None = None, base_url: str = DEFAULT_BASE_URL
) -> RestRequest[Session]:
    """``GET /session.json``."""
    return build("GET", ["session"], parse_session, token=token, base_url=base_url)


def destroy_session(
    *, token: str | None = None, base_url: str = DEFAULT_BASE_URL
) -> RestRequest[None]:
    """``DELETE /session.json`` (empty 200)."""
    return build("DELETE", ["session"], parse_empty, token=token, base_url=base_url)


def login(
    auth: LoginPassword | EmailPassword,
    *,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[User]:
    """``POST /login.json``: attach a user to the current application session.

    The credentials go at the top level, not under ``user``.
    """
    if not isinstance(auth, (LoginPassword, EmailPassword)):
        raise LocalProtocolError("login takes LoginPassword or EmailPassword")
    params = dict(auth.fields()["user"])
    return build("POST", ["login"], parse_user, params=params, token=token, base_url=base_url)


def logout(*, token: str | None = None, base_url: str = DEFAULT_BASE_URL) -> RestRequest[None]:
    """``DELETE /login.json`` (empty 200)."""
    return build("DELETE", ["login"], parse_empty, token=token, base_url=base_url)
