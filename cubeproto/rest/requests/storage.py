"""Storage: blobs -- create, complete the upload, read, delete -- and the
URLs the SDK builds for them.  The upload itself is :mod:`cubeproto.rest.upload`.
"""

from __future__ import annotations

from ...errors import LocalProtocolError
from ..models import Blob
from ..query import encode_uri_component
from ..responses import parse_blob, parse_empty
from ..restrequest import DEFAULT_BASE_URL, RestRequest, build, check_base_url, check_segment
from ._checks import non_negative_int, text_arg


def create_blob(
    *,
    name: str,
    content_type: str,
    public: bool = False,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[Blob]:
    """``POST /blobs.json`` ``{"blob":{"name","content_type","public"}}``.

    Private by default, as the server docs say (the SDK's upload helper defaults to public).
    """
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise LocalProtocolError("blob name must be 1-100 characters")
    if not isinstance(public, bool):
        raise LocalProtocolError("public must be a bool")
    params = {
        "blob": {
            "name": name,
            "content_type": text_arg(content_type, "content_type"),
            "public": public,
        }
    }
    return build("POST", ["blobs"], parse_blob, params=params, token=token, base_url=base_url)


def complete_blob(
    blob_id: int, size: int, *, token: str | None = None, base_url: str = DEFAULT_BASE_URL
) -> RestRequest[None]:
    """``PUT /blobs/{id}/complete.json`` ``{"size": N}`` (the SDK's body form)."""
    segment = check_segment(non_negative_int(blob_id, "blob id"), "blob id")
    return build(
        "PUT",
        ["blobs", segment, "complete"],
        parse_empty,
        params={"size": non_negative_int(size, "size")},
        token=token,
        base_url=base_url,
    )


def get_blob(
    blob_id: int, *, token: str | None = None, base_url: str = DEFAULT_BASE_URL
) -> RestRequest[Blob]:
    """``GET /blobs/{id}.json`` (info by numeric id)."""
    segment = check_segment(non_negative_int(blob_id, "blob id"), "blob id")
    return build("GET", ["blobs", segment], parse_blob, token=token, base_url=base_url)


def get_blob_object(
    uid: str, *, token: str | None = None, base_url: str = DEFAULT_BASE_URL
) -> RestRequest[Blob]:
    """``GET /blobs/{uid}/object.json?download_url=1``: the blob with a signed download URL."""
    segment = check_segment(uid, "blob uid")
    return build(
        "GET",
        ["blobs", segment, "object"],
        parse_blob,
        params={"download_url": 1},
        token=token,
        base_url=base_url,
    )


def delete_blob(
    blob_id: int, *, token: str | None = None, base_url: str = DEFAULT_BASE_URL
) -> RestRequest[None]:
    """``DELETE /blobs/{id}.json`` (numeric id, not uid)."""
    segment = check_segment(non_negative_int(blob_id, "blob id"), "blob id")
    return build("DELETE", ["blobs", segment], parse_empty, token=token, base_url=base_url)


def blob_private_url(uid: str, token: str, *, base_url: str = DEFAULT_BASE_URL) -> str:
    """``{base}/blobs/{uid}?token={token}`` (no ``.json``), as the SDK's helper builds it."""
    base = check_base_url(base_url)
    return f"{base}/blobs/{check_segment(uid, 'blob uid')}?token={encode_uri_component(token)}"


def blob_public_url(uid: str, *, base_url: str = DEFAULT_BASE_URL) -> str:
    """``{base}/blobs/{uid}``."""
    return f"{check_base_url(base_url)}/blobs/{check_segment(uid, 'blob uid')}"
