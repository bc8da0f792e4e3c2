"""Custom objects: ``/data/{class}`` -- records of an application-defined class, one or
many at a time.  Moderation lives here too: the SDK
reports users and messages as the classes ``UserReports`` and ``MessageReports``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..store import new_object_id
from .common import ApiError, Call, Response, base_error, json_response, obj, paging

if TYPE_CHECKING:
    from .api import RestApi

__all__ = ["create_object", "create_objects", "list_objects"]

_CLASS_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


def _class_name(call: Call) -> str:
    name = call.args["class_name"]
    if not _CLASS_NAME.fullmatch(name):
        raise base_error("Not found", 404)
    return name


def list_objects(api: RestApi, call: Call) -> Response:
    """``GET /data/{class}``: the application's records of the class, paged."""
    class_name = _class_name(call)
    items = api.store.objects(class_name, call.user.app_id)
    skip, limit = paging(call.params)
    return json_response(
        {
            "class_name": class_name,
            "skip": skip,
            "limit": limit,
            "items": items[skip : skip + limit],
        }
    )


def _save(api: RestApi, call: Call, class_name: str, records: list[Any]) -> list[dict[str, Any]]:
    """Store each field set as a record owned by the caller (open to read, owner to change)."""
    if not records:
        raise ApiError(422, {"base": ["no record"]})
    now = int(api.hub.now())
    saved = []
    for fields in records:
        record = {
            "_id": new_object_id(now),
            "_parent_id": None,
            "user_id": call.user.id,
            **{k: v for k, v in fields.items() if not k.startswith("_")},
            "created_at": now,
            "updated_at": now,
            "permissions": {
                "read": {"access": "open"},
                "update": {"access": "owner"},
                "delete": {"access": "owner"},
            },
        }
        api.store.put_object(class_name, call.user.app_id, record)
        saved.append(record)
    return saved


def create_object(api: RestApi, call: Call) -> Response:
    """``POST /data/{class}``: one record from the call's parameters."""
    class_name = _class_name(call)
    return json_response(_save(api, call, class_name, [call.params])[0], 201)


def create_objects(api: RestApi, call: Call) -> Response:
    """``POST /data/{class}/multi``: ``{"record": {"1": {...}, "2": {...}}}``."""
    class_name = _class_name(call)
    batch = obj(call.params.get("record"))
    records = [v for v in batch.values() if isinstance(v, dict)]
    saved = _save(api, call, class_name, records)
    return json_response({"class_name": class_name, "items": saved}, 201)
