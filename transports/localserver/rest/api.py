"""The local server's REST API: ConnectyCube's endpoints over the store and the hub.

:meth:`RestApi.handle` takes one HTTP request (method, target, headers, body) and returns
one :class:`~.common.Response`; the network layer (h11) only moves bytes.  The endpoints
are a table (:data:`~.routes.ROUTES`), their handlers grouped by resource (:mod:`.auth`,
:mod:`.dialogs`, :mod:`.messages`, :mod:`.storage`, :mod:`.data`).  Every call but
session creation, sign-up and storage uploads needs a live ``CB-Token`` (which each call
extends); errors are ConnectyCube-shaped: ``{"errors": {"base": ["..."]}}`` or
field-keyed, with 401 ``Required session does not exist`` for a missing or expired token.
Size limits: :mod:`.limits`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..hub import Hub
from ..store import Store, User
from . import dialogs, messages
from .common import ApiError, Call, Response, base_error, json_response, read_params
from .limits import (
    MAX_BODY_BYTES,
    MAX_HEAD_BYTES,
    MAX_UPLOAD_BYTES,
    UPLOAD_FORM_OVERHEAD_BYTES,
    check_lengths,
)
from .routes import find_route

__all__ = ["RestApi"]


class RestApi:
    """ConnectyCube REST semantics for one local server.  Its moments come from the
    hub's clock (:meth:`Hub.now`)."""

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

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        """Answer one request; never raises."""
        try:
            return self.dispatch(method.upper(), target, headers, body)
        except ApiError as exc:
            return json_response({"errors": exc.errors}, exc.status)
        except Exception as exc:  # a server bug: still a ConnectyCube-shaped answer
            self.hub.log.append(f"REST error {method} {target}: {exc!r}")
            return json_response({"errors": {"base": [f"internal error: {exc}"]}}, 500)

    def dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        """Find the route, read and check the parameters, resolve the caller, call the
        handler (raises :class:`~.common.ApiError` for a refusal)."""
        parts = urlsplit(target)
        route, args = find_route(method, parts.path)
        params = {} if route.raw_body else read_params(method, parts.query, body)
        check_lengths(params, dict(route.limits))
        caller = self.user(headers) if route.user else None
        call = Call(
            method=method,
            args=args,
            params=params,
            headers=headers,
            body=body,
            caller=caller,
        )
        return route.handler(self, call)

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
        response = json_response({"errors": {"base": [text]}}, 413)
        response.headers.append(("Connection", "close"))
        return response

    def bad_head(self, status: int, reason: str) -> Response:
        """The answer to a request head h11 refuses: 431 over :data:`MAX_HEAD_BYTES`, 400
        when malformed (the connection then closes)."""
        if status == 431:
            text = f"Request header fields too large (maximum is {MAX_HEAD_BYTES} bytes)"
        else:
            text = f"Bad request: {reason}"
        response = json_response({"errors": {"base": [text]}}, status)
        response.headers.append(("Connection", "close"))
        return response

    def session(self, headers: dict[str, str]) -> tuple[int, int, User | None]:
        """The live session of the call's ``CB-Token`` -- application id, user id (0 for an
        application session), user -- or 401."""
        token = headers.get("cb-token")
        found = self.store.session(token, self.hub.now()) if token else None
        if found is None:
            raise base_error("Required session does not exist", 401)
        _, app_id, user_id, _ = found
        user = self.store.user(user_id) if user_id else None
        return app_id, user_id, user

    def user(self, headers: dict[str, str]) -> User:
        """The user of the call's session: 401 without one, 403 for an application session."""
        _, _, user = self.session(headers)
        if user is None:
            raise base_error("Forbidden. Need user.", 403)
        return user

    def dialog_json(self, dialog: dict[str, Any], user: User) -> dict[str, Any]:
        """The dialog as the API shows it to ``user`` (:func:`.dialogs.dialog_json`)."""
        return dialogs.dialog_json(self.store, dialog, user)

    def message_json(self, m: dict[str, Any], user: User) -> dict[str, Any]:
        """The message as the API shows it to ``user`` (:func:`.messages.message_json`)."""
        return messages.message_json(m, user)
