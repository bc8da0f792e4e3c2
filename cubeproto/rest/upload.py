"""The storage upload (the step after the blob is created): a multipart/form-data POST
streamed from a file.

``blob_object_access.params`` is the upload URL with the form fields as its query.  The
request is described, not materialized: :class:`BlobUpload` holds the bytes that go *before*
the file (the form fields and the file part's header) and *after* it (the closing boundary),
and the file's size, so an adapter can send ``head``, then the file in chunks, then ``tail``
with an exact ``Content-Length`` and never hold the file in memory.  No CB headers are sent
to storage.  The boundary is a parameter (this module has no randomness).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from ..errors import LocalProtocolError
from .models import Blob
from .responses import Headers, parse_upload
from .restrequest import check_header

__all__ = ["BlobUpload", "prepare_blob_upload"]

#: RFC 2046 section 5.1.1 boundary characters (without the space, which may not end it).
_BOUNDARY: Final = re.compile(r"[0-9A-Za-z'()+_,./:=?-]{1,70}")


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobUpload:
    """A streamed multipart upload: send ``head``, ``size`` file bytes, then ``tail``."""

    url: str
    headers: tuple[tuple[str, str], ...]
    head: bytes
    tail: bytes
    size: int

    method: str = "POST"

    @property
    def content_length(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    def parse(self, status: int, headers: Headers, body: bytes) -> None:
        """Storage answers 201 (with an XML PostResponse); anything else is an ApiError."""
        parse_upload(status, headers, body)


def _quoted(value: str, what: str) -> str:
    if any(c in value for c in "\r\n\0"):
        raise LocalProtocolError(f"{what} must not contain CR, LF or NUL")
    return value.replace("\\", "\\\\").replace('"', "%22")


def prepare_blob_upload(
    blob_or_params: Blob | str,
    *,
    file_name: str,
    content_type: str,
    size: int,
    boundary: str,
) -> BlobUpload:
    """Describe the upload of a ``size``-byte file for a freshly created blob.

    ``blob_or_params``: the blob from :func:`~cubeproto.rest.requests.create_blob`, or its
    ``blob_object_access.params`` string.  Form fields come from the query in order, values
    percent-decoded; the file is the last field, ``file``.
    """
    if isinstance(blob_or_params, Blob):
        access = blob_or_params.blob_object_access
        if access is None or not access.params:
            raise LocalProtocolError(
                "this blob carries no upload parameters (blob_object_access.params)"
            )
        params_url = access.params
    else:
        params_url = blob_or_params
    parts = urlsplit(params_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LocalProtocolError(f"upload URL {params_url[:80]!r} is not an http(s) URL")
    if not _BOUNDARY.fullmatch(boundary):
        raise LocalProtocolError("boundary must be 1-70 RFC 2046 characters")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise LocalProtocolError("size must be a non-negative int")
    check_header("Content-Type", content_type)
    url = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))
    dash = f"--{boundary}"
    chunks = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        field = _quoted(name, "field name")
        chunks.append(
            f'{dash}\r\nContent-Disposition: form-data; name="{field}"\r\n\r\n{value}\r\n'
        )
    chunks.append(
        f'{dash}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{_quoted(file_name, "file_name")}"\r\nContent-Type: {content_type}\r\n\r\n'
    )
    head = "".join(chunks).encode("utf-8")
    if boundary.encode() in head.replace(dash.encode(), b""):
        raise LocalProtocolError("boundary occurs inside a form field")
    tail = f"\r\n{dash}--\r\n".encode("ascii")
    upload = BlobUpload(
        url=url,
        headers=(("Content-Type", f"multipart/form-data; boundary={boundary}"),),
        head=head,
        tail=tail,
        size=size,
    )
    return upload
