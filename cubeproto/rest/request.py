"""Former name of :mod:`cubeproto.rest.restrequest` (the request object and the SDK's
encoding rules), kept so that ``from cubeproto.rest.request import RestRequest`` goes on
working.  New code imports from :mod:`cubeproto.rest` or :mod:`cubeproto.rest.restrequest`.
"""

from __future__ import annotations

from .restrequest import (
    CONTENT_TYPE_FORM,
    CONTENT_TYPE_JSON,
    DEFAULT_BASE_URL,
    IDEMPOTENT_METHODS,
    RestRequest,
    build,
    check_base_url,
    check_header,
    check_segment,
)

__all__ = [
    "CONTENT_TYPE_FORM",
    "CONTENT_TYPE_JSON",
    "DEFAULT_BASE_URL",
    "IDEMPOTENT_METHODS",
    "RestRequest",
    "build",
    "check_base_url",
    "check_header",
    "check_segment",
]
