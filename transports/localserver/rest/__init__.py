"""The local server's REST API: ConnectyCube's endpoints over the store and the hub.

=============  ====================================================================
``api``        :class:`RestApi`: one request in, one response out; the dispatch
``routes``     the endpoints as data: method, path pattern, handler
``auth``       ``/session``, ``/login``, ``/users``
``dialogs``    ``/chat/Dialog``
``messages``   ``/chat/Message``, ``/chat/search``
``storage``    ``/blobs``, the ``/s3`` upload form, file downloads
``data``       ``/data`` custom objects (and the reports moderation stores there)
``limits``     the size limits and their checks
``filters``    list filters and the search window
``common``     the response, the error, one call, parameter readers
=============  ====================================================================
"""

from __future__ import annotations

from .api import RestApi
from .auth import PROFILE_FIELDS
from .common import ApiError, Response, parse_query
from .dialogs import MAX_ADMINS
from .limits import (
    MAX_BLOB_NAME_CHARS,
    MAX_BODY_BYTES,
    MAX_HEAD_BYTES,
    MAX_NAME_CHARS,
    MAX_PUSHED_STANZA_BYTES,
    MAX_REACTION_CHARS,
    MAX_TEXT_CHARS,
    MAX_UPLOAD_BYTES,
    MAX_URL_CHARS,
    UPLOAD_FORM_OVERHEAD_BYTES,
)

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
    "ApiError",
    "Response",
    "RestApi",
    "parse_query",
]
