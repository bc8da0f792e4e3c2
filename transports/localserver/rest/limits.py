"""The local REST API's size limits, and the checks that apply them before anything is stored.

Every body and field has a limit (the ``MAX_*`` constants below; the README's local-server
section has them as a table): a body over its limit is refused with 413 while it is read
(:meth:`~.api.RestApi.body_limit`, used by the server's HTTP reader), a string field over
its limit with 422 ``{"errors": {"<field>": ["is too long (maximum is N characters)"]}}``
-- the Rails-style field-keyed shape, next to the ``{"errors": {"base": [...]}}`` that
ConnectyCube documents.
A message that goes on to chat must also fit a stanza (:func:`check_pushable`).
"""

from __future__ import annotations

import json
from typing import Any

# Characters XML 1.0 forbids (section 2.2): a value holding one cannot go into a stanza.
# The set the chat layer refuses outbound, re-exported for the REST modules.
from cubeproto._xmlescape import XML_FORBIDDEN

from .common import ApiError

__all__ = [
    "BLOB_FIELD_LIMITS",
    "DIALOG_FIELD_LIMITS",
    "MAX_BLOB_NAME_CHARS",
    "MAX_BODY_BYTES",
    "MAX_HEAD_BYTES",
    "MAX_NAME_CHARS",
    "MAX_PUSHED_STANZA_BYTES",
    "MAX_REACTION_CHARS",
    "MAX_TEXT_CHARS",
    "MAX_UPLOAD_BYTES",
    "MAX_URL_CHARS",
    "UPLOAD_FORM_OVERHEAD_BYTES",
    "USER_FIELD_LIMITS",
    "XML_FORBIDDEN",
    "check_lengths",
    "check_pushable",
    "pushed_fields",
]

#: ConnectyCube's storage limit is 100 MB; the local server keeps the same bound.
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
#: Bytes an upload's multipart form may add around its file (boundaries, part headers, the
#: form fields of the upload URL): the whole ``/s3`` body may be this much over
#: ``max_upload_bytes`` before it is refused (413) while being read.
UPLOAD_FORM_OVERHEAD_BYTES = 64 * 1024
#: Bytes of a request head (request line, query string included, and headers) that the
#: HTTP reader (h11's ``max_incomplete_event_size``) buffers while waiting for its end;
#: over it: 431.
MAX_HEAD_BYTES = 64 * 1024
#: Bytes of any other request body (JSON, or the form body of a DELETE): 256 KiB, the
#: chat side's limit for one text node (``XmlLimits.max_text_length``).  Over it: 413 while
#: the body is read, before it is held in memory.
MAX_BODY_BYTES = 256 * 1024
#: Characters of a chat message's text (``message`` of ``POST``/``PUT /chat/Message``), and
#: of every string field not named below (dialog ``description``, ``custom_data``, custom
#: message keys, extensions, attachments, system-message parameters, custom objects).
#: A text of 64 Ki characters, escaped, takes at most 320 KiB of the chat side's 512 KiB
#: stanza limit (what a pushed message as a whole may take: MAX_PUSHED_STANZA_BYTES).
MAX_TEXT_CHARS = 64 * 1024
#: Characters of names and identifiers: a user's ``login``, ``password``, ``email``,
#: ``full_name``, ``phone``, external and social ids, each user tag; a dialog's ``name``;
#: a blob's ``content_type``; every parameter name.
MAX_NAME_CHARS = 255
#: Characters of URL fields: a dialog's ``photo``, a user's ``avatar`` and ``website``.
MAX_URL_CHARS = 2048
#: Characters of a blob's ``name`` ("min 1 char and max 100 chars", ConnectyCube's storage docs).
MAX_BLOB_NAME_CHARS = 100
#: Characters of one reaction (an emoji, possibly a ZWJ sequence).
MAX_REACTION_CHARS = 16
#: Bytes a message sent to chat over REST (``send_to_chat=1``, and system messages) may
#: take in its stanza -- text, custom keys and attachments as the hub writes them, escaped,
#: counted as an upper bound -- leaving 64 KiB of the chat side's 512 KiB stanza limit
#: (``XmlLimits.max_stanza_bytes``) for the envelope: what REST accepts, chat can deliver.
MAX_PUSHED_STANZA_BYTES = 448 * 1024

#: Fields of users (sign-up, session and login credentials) with a limit of their own (every
#: other string: MAX_TEXT_CHARS).
USER_FIELD_LIMITS = {
    **dict.fromkeys(
        (
            "login",
            "password",
            "email",
            "full_name",
            "phone",
            "external_id",
            "external_user_id",
            "facebook_id",
            "twitter_id",
            "tag_list",
        ),
        MAX_NAME_CHARS,
    ),
    "avatar": MAX_URL_CHARS,
    "website": MAX_URL_CHARS,
}
#: Fields of dialogs with a limit of their own.
DIALOG_FIELD_LIMITS = {"name": MAX_NAME_CHARS, "photo": MAX_URL_CHARS}
#: Fields of blobs with a limit of their own.
BLOB_FIELD_LIMITS = {"name": MAX_BLOB_NAME_CHARS, "content_type": MAX_NAME_CHARS}


def too_long(limit: int) -> list[str]:
    return [f"is too long (maximum is {limit} characters)"]


def check_lengths(params: dict[str, Any], limits: dict[str, int]) -> None:
    """422 for the first string value longer than its field's limit (``limits`` by field
    name, :data:`MAX_TEXT_CHARS` otherwise) or parameter name longer than
    :data:`MAX_NAME_CHARS`, anywhere in the parameters.  Iterative: JSON nested as deep as
    the parser allows does not exhaust the stack."""
    stack: list[tuple[str, Any]] = [("base", params)]
    while stack:
        name, value = stack.pop()
        if isinstance(value, str):
            limit = limits.get(name, MAX_TEXT_CHARS)
            if len(value) > limit:
                raise ApiError(422, {name: too_long(limit)})
        elif isinstance(value, dict):
            for key, item in value.items():
                if len(key) > MAX_NAME_CHARS:
                    raise ApiError(
                        422,
                        {"base": [f"a parameter name is too long (maximum is {MAX_NAME_CHARS})"]},
                    )
                stack.append((key, item))
        elif isinstance(value, list):
            stack.extend((name, item) for item in value)


def pushed_fields(
    message: str, custom: dict[str, Any], attachments: list[dict[str, Any]]
) -> dict[str, Any]:
    """What the hub writes into the chat stanza of a message created with
    ``send_to_chat=1``: its text, its custom keys (values other than objects and strings as
    JSON) and its attachments (values as text)."""
    return {
        "message": message,
        **{k: v if isinstance(v, (dict, str)) else json.dumps(v) for k, v in custom.items()},
        "attachments": [{str(k): str(v) for k, v in a.items()} for a in attachments],
    }


def check_pushable(fields: dict[str, Any]) -> None:
    """422 unless ``fields`` can go into a chat stanza: no character XML 1.0 forbids, in a
    value or a name, and at most :data:`MAX_PUSHED_STANZA_BYTES` written out.  The count
    is an upper bound of what the hub writes: each string's UTF-8 bytes plus what escaping
    adds (``"`` 5 bytes, ``&`` and tab/LF/CR 4, ``<`` ``>`` 3), each name twice plus 5
    (``<name>...</name>``), 32 per list item, other values as their JSON."""
    total = 0
    stack: list[tuple[str, Any]] = [("base", fields)]
    while stack:
        name, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if XML_FORBIDDEN.search(key):
                    raise ApiError(422, {"base": ["a parameter name XML 1.0 forbids"]})
                total += 2 * len(key.encode("utf-8", "surrogatepass")) + 5
                stack.append((key, item))
            continue
        if isinstance(value, list):
            total += 32 * len(value)
            stack.extend((name, item) for item in value)
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        if XML_FORBIDDEN.search(text):
            raise ApiError(422, {name: ["contains a character XML 1.0 forbids"]})
        total += (
            len(text.encode("utf-8"))
            + 5 * text.count('"')
            + 4 * (text.count("&") + text.count("\t") + text.count("\n") + text.count("\r"))
            + 3 * (text.count("<") + text.count(">"))
        )
    if total > MAX_PUSHED_STANZA_BYTES:
        raise ApiError(
            422,
            {"base": [f"too large to send to chat (maximum is {MAX_PUSHED_STANZA_BYTES} bytes)"]},
        )
