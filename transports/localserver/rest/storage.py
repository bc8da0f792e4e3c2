"""Storage: ``/blobs`` -- create, complete, read, list, delete -- the S3-style upload form
the upload URL points to (``/s3/{uid}``), and file downloads (``/blobs/{uid}``, no
``.json``)."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..store import iso
from .common import NO_PERMISSION, ApiError, Call, Response, base_error, json_response

if TYPE_CHECKING:
    from .api import RestApi

__all__ = [
    "blob_by_id",
    "blob_by_uid",
    "complete_blob",
    "create_blob",
    "delete_blob",
    "download",
    "list_blobs",
    "upload",
]

_UID = re.compile(r"[0-9a-f]{1,64}")


def _blob_json(blob: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in blob.items() if k not in ("completed", "path", "upload_key")}


def list_blobs(api: RestApi, call: Call) -> Response:
    """``GET /blobs.json`` (the SDK's ``storage.list``): the caller's own blobs, paged
    by ``page`` (the SDK sends ``current_page``) and ``per_page`` (default 10, max 100)."""
    p = call.params
    page_raw = p.get("current_page", p.get("page", ""))
    page = max(1, int(page_raw)) if str(page_raw).isdigit() else 1
    per_raw = p.get("per_page", "")
    per_page = max(1, min(int(per_raw), 100)) if str(per_raw).isdigit() else 10
    blobs = api.store.blobs_of(call.user.id)
    start = (page - 1) * per_page
    return json_response(
        {
            "current_page": page,
            "per_page": per_page,
            "total_entries": len(blobs),
            "items": [_blob_json(b) for b in blobs[start : start + per_page]],
        }
    )


def blob_by_uid(api: RestApi, call: Call) -> Response:
    """``GET /blobs/{uid}.json`` (the SDK's ``storage.getFile``): a blob of the caller's
    application, by uid."""
    uid = call.args["uid"]
    found = api.store.blob(uid) if _UID.fullmatch(uid) else None
    owner = api.store.user(found[1]) if found is not None else None
    if found is None or owner is None or owner.app_id != call.user.app_id:
        raise base_error("Not found", 404)
    return json_response({"blob": _blob_json(found[0])})


def create_blob(api: RestApi, call: Call) -> Response:
    """``POST /blobs.json``: a blob record and the upload URL (with its one-time key)."""
    user = call.user
    spec = call.params.get("blob")
    if not isinstance(spec, dict) or not spec.get("name") or not 0 < len(str(spec["name"])) <= 100:
        raise ApiError(422, {"name": ["is invalid"]})
    now = api.hub.now()
    blob = api.store.create_blob(
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
    api.store.put_blob(blob, user.id)
    params = (
        f"{api.base_url}/s3/{blob['uid']}"
        f"?Content-Type={quote(blob['content_type'], safe='')}"
        f"&key={key}&success_action_status=201"
    )
    out = _blob_json(blob)
    out["blob_object_access"] = {
        "id": blob["id"],
        "blob_id": blob["id"],
        "expires": iso(now + 3600),
        "object_access_type": "Write",
        "params": params,
    }
    return json_response({"blob": out}, 201)


def _numbered_blob(api: RestApi, call: Call) -> tuple[dict[str, Any], int]:
    found = api.store.blob(int(call.args["id"]))
    if found is None:
        raise base_error("Not found", 404)
    return found


def complete_blob(api: RestApi, call: Call) -> Response:
    """``PUT /blobs/{id}/complete.json``: the owner says the upload is done (and its size)."""
    blob, owner = _numbered_blob(api, call)
    if owner != call.user.id:
        raise base_error(NO_PERMISSION, 403)
    p = call.params
    size = p.get(
        "size",
        (p.get("blob") or {}).get("size") if isinstance(p.get("blob"), dict) else None,
    )
    blob["size"] = int(str(size)) if str(size).isdigit() else blob.get("size")
    blob["completed"] = True
    api.store.put_blob(blob, owner)
    return Response(200)


def blob_by_id(api: RestApi, call: Call) -> Response:
    """``GET /blobs/{id}.json``: a blob's record by its number."""
    blob, _ = _numbered_blob(api, call)
    return json_response({"blob": _blob_json(blob)})


def delete_blob(api: RestApi, call: Call) -> Response:
    """``DELETE /blobs/{id}.json``: the owner removes the blob and its file."""
    blob, owner = _numbered_blob(api, call)
    if owner != call.user.id:
        raise base_error(NO_PERMISSION, 403)
    (api.blob_dir / blob["uid"]).unlink(missing_ok=True)
    api.store.delete_blob(blob["id"])
    return Response(200)


def download(api: RestApi, call: Call) -> Response:
    """``GET /blobs/{uid}`` (no ``.json``): the file; a private one needs a session of the
    owner's application (``?token=`` or ``CB-Token``)."""
    uid = call.args["uid"]
    found = api.store.blob(uid) if _UID.fullmatch(uid) else None
    if found is None:
        raise base_error("Not found", 404)
    blob, owner_id = found
    if not blob.get("public"):
        token = str(call.params.get("token") or call.headers.get("cb-token") or "")
        session = api.store.session(token, api.hub.now()) if token else None
        owner = api.store.user(owner_id)
        if session is None or owner is None or session[1] != owner.app_id:
            raise base_error("Required session does not exist", 401)
    path = api.blob_dir / uid
    if not blob.get("completed") or not path.exists():
        raise base_error("Not found", 404)
    return Response(200, headers=[("Content-Type", blob["content_type"])], file=path)


def upload(api: RestApi, call: Call) -> Response:
    """``POST /s3/{uid}``: the storage endpoint the upload URL points to (S3's multipart
    POST form, with the key the blob was created with)."""
    uid = call.args["uid"]
    found = api.store.blob(uid) if _UID.fullmatch(uid) else None
    if found is None:
        raise base_error("Not found", 404)
    blob, owner = found
    fields = _multipart(call.headers.get("content-type", ""), call.body)
    if fields is None or "file" not in fields:
        raise base_error("Expected multipart/form-data with a file field", 400)
    if fields.get("key", b"").decode("utf-8", "replace") != blob.get("upload_key"):
        raise base_error("Invalid upload key", 403)
    data = fields["file"]
    if len(data) > api.max_upload_bytes:
        raise base_error("Your proposed upload exceeds the maximum allowed size", 400)
    (api.blob_dir / blob["uid"]).write_bytes(data)
    blob["size"] = len(data)
    api.store.put_blob(blob, owner)
    location = f"{api.base_url}/blobs/{blob['uid']}"
    return Response(
        201,
        f"<PostResponse><Location>{location}</Location><Key>{blob['uid']}</Key></PostResponse>".encode(),
        [("Content-Type", "application/xml")],
    )


def _multipart(content_type: str, body: bytes) -> dict[str, bytes] | None:
    """The fields of a ``multipart/form-data`` body, or None when it is not one."""
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
