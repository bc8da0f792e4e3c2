"""Users: sign-up."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import LocalProtocolError
from ..models import User
from ..responses import parse_user
from ..restrequest import DEFAULT_BASE_URL, RestRequest, build


def sign_up(
    user: Mapping[str, Any],
    *,
    auth_key: str | None = None,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[User]:
    """``POST /users.json`` ``{"user": {...}}``; ``CB-AuthKey`` is sent when there is no token."""
    if not isinstance(user, Mapping):
        raise LocalProtocolError("user must be a mapping of user fields")
    return build(
        "POST",
        ["users"],
        parse_user,
        params={"user": dict(user)},
        token=token,
        auth_key=auth_key,
        base_url=base_url,
    )
