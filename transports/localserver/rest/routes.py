"""The REST API's routes as data: one row per endpoint -- method, path pattern, handler, and
what the dispatcher does before calling it -- and the matching of a request to a row.

A pattern is the path without its leading ``/`` and its ``.json``, one part per segment:
a literal (``Dialog``), alternatives (``Dialog|dialog``), a named segment (``{id}``)
or a named number (``{id:int}``).  Rows are tried in order; the first whose method and
pattern fit answers.  A path some row fits under another method is a 405, a path no row
fits a 404.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import auth, data, dialogs, messages, storage
from .common import Call, Response, base_error
from .limits import BLOB_FIELD_LIMITS, DIALOG_FIELD_LIMITS, USER_FIELD_LIMITS

if TYPE_CHECKING:
    from .api import RestApi

__all__ = ["ROUTES", "Handler", "Route", "find_route"]

Handler = Callable[["RestApi", Call], Response]

_NUMBER = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint."""

    method: str
    pattern: str
    handler: Handler
    #: The dispatcher resolves the caller's user first (401 without a live session, 403
    #: for an application session); False: the handler authenticates, or nobody needs to.
    user: bool = True
    #: Whether the path must end in ``.json`` (True), must not (False), or either (None).
    json: bool | None = None
    #: The body is the handler's to read (a file upload): no parameters are parsed from it.
    raw_body: bool = False
    #: String fields with a limit of their own (every other string: MAX_TEXT_CHARS).
    limits: Mapping[str, int] = field(default_factory=dict)
    #: The pattern, parsed: per segment, a name and whether it must be a number, or the
    #: literal spellings it may have.
    _parts: tuple[tuple[str, bool] | frozenset[str], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        parts: list[tuple[str, bool] | frozenset[str]] = []
        for part in self.pattern.split("/"):
            if part.startswith("{") and part.endswith("}"):
                name, _, kind = part[1:-1].partition(":")
                parts.append((name, kind == "int"))
            else:
                parts.append(frozenset(part.split("|")))
        object.__setattr__(self, "_parts", tuple(parts))

    def fit(self, segments: list[str]) -> dict[str, str] | None:
        """The named segments when ``segments`` fits the pattern, else None."""
        if len(self._parts) != len(segments):
            return None
        args: dict[str, str] = {}
        for part, segment in zip(self._parts, segments, strict=True):
            if isinstance(part, frozenset):
                if segment not in part:
                    return None
            else:
                name, number = part
                if number and not _NUMBER.fullmatch(segment):
                    return None
                args[name] = segment
        return args


_DIALOG = "chat/Dialog|dialog"
_USER, _DIALOG_FIELDS, _BLOB = USER_FIELD_LIMITS, DIALOG_FIELD_LIMITS, BLOB_FIELD_LIMITS

#: Every endpoint of the local server, by resource.
ROUTES: tuple[Route, ...] = (
    # sessions, log-in, users
    Route("POST", "session", auth.create_session, user=False, limits=_USER),
    Route("GET", "session", auth.read_session, user=False, limits=_USER),
    Route("DELETE", "session", auth.delete_session, user=False, limits=_USER),
    Route("POST", "login", auth.log_in, user=False, limits=_USER),
    Route("DELETE", "login", auth.log_out, user=False, limits=_USER),
    Route("POST", "users", auth.sign_up, user=False, limits=_USER),
    Route("GET", "users/{user_id:int}", auth.get_user, limits=_USER),
    # dialogs
    Route("GET", _DIALOG, dialogs.list_dialogs, limits=_DIALOG_FIELDS),
    Route("POST", _DIALOG, dialogs.create_dialog, limits=_DIALOG_FIELDS),
    Route("DELETE", _DIALOG + "/clearHistory/{id}", dialogs.clear_history, limits=_DIALOG_FIELDS),
    Route("PUT", _DIALOG + "/{id}", dialogs.update_dialog, limits=_DIALOG_FIELDS),
    Route("DELETE", _DIALOG + "/{ids}", dialogs.delete_dialogs, limits=_DIALOG_FIELDS),
    Route("POST", _DIALOG + "/{id}/subscribe", dialogs.subscribe, limits=_DIALOG_FIELDS),
    Route("DELETE", _DIALOG + "/{id}/subscribe", dialogs.unsubscribe, limits=_DIALOG_FIELDS),
    Route("PUT", _DIALOG + "/{id}/admins", dialogs.set_admins, limits=_DIALOG_FIELDS),
    Route("GET", _DIALOG + "/{id}/occupants", dialogs.list_occupants, limits=_DIALOG_FIELDS),
    Route("GET", _DIALOG + "/{id}/notifications", dialogs.notifications, limits=_DIALOG_FIELDS),
    Route("PUT", _DIALOG + "/{id}/notifications", dialogs.notifications, limits=_DIALOG_FIELDS),
    # messages and search
    Route("GET", "chat/Message", messages.list_messages),
    Route("POST", "chat/Message", messages.create_message),
    Route("PUT", "chat/Message", messages.mark_all),
    Route("GET", "chat/Message/unread", messages.unread_counts),
    Route("POST", "chat/Message/system", messages.send_system_message),
    Route("GET", "chat/Message/{id}/reactions", messages.list_reactions),
    Route("PUT", "chat/Message/{id}/reactions", messages.update_reactions),
    Route("PUT", "chat/Message/{ids}", messages.update_messages),
    Route("DELETE", "chat/Message/{ids}", messages.delete_messages),
    Route("GET", "chat/search", messages.search),
    # storage: numbered blobs, then files (no .json) and blobs (.json) by uid, the upload form
    Route("GET", "blobs", storage.list_blobs, limits=_BLOB),
    Route("POST", "blobs", storage.create_blob, limits=_BLOB),
    Route("GET", "blobs/{id:int}", storage.blob_by_id, limits=_BLOB),
    Route("DELETE", "blobs/{id:int}", storage.delete_blob, limits=_BLOB),
    Route("PUT", "blobs/{id:int}/complete", storage.complete_blob, limits=_BLOB),
    Route("GET", "blobs/{uid}", storage.download, user=False, json=False, limits=_BLOB),
    Route("GET", "blobs/{uid}", storage.blob_by_uid, json=True, limits=_BLOB),
    Route("POST", "s3/{uid}", storage.upload, user=False, raw_body=True),
    # custom objects (and the reports moderation stores as custom objects)
    Route("GET", "data/{class_name}", data.list_objects),
    Route("POST", "data/{class_name}", data.create_object),
    Route("POST", "data/{class_name}/multi", data.create_objects),
)


def find_route(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route answering ``method path`` and its named segments: the first row of
    :data:`ROUTES` that fits.  405 when rows fit the path under other methods only, 404
    when none fits it."""
    is_json = path.endswith(".json")
    segments = [s for s in path.removesuffix(".json").split("/") if s]
    path_fits = False
    for route in ROUTES:
        if route.json is not None and route.json != is_json:
            continue
        args = route.fit(segments)
        if args is None:
            continue
        if route.method == method:
            return route, args
        path_fits = True
    if path_fits:
        raise base_error("Method not allowed", 405)
    raise base_error(f"No route for {method} {path}", 404)
