"""The legacy signed session request, as SDK 3.x implemented it (SDK 4.0 dropped signing).

The string to sign: every parameter except ``signature``; a scalar is ``key=value``, a nested
object (``user``, ``keys``, ``firebase_phone``) is its ``key[sub]=value`` pairs sorted among
themselves and joined with ``&`` into one entry; the entries are sorted as strings and joined
with ``&``.  Values are raw (not URL-encoded).  The signature is the lowercase hex
HMAC-SHA1 of that string keyed with the application's auth secret.

Nonce and timestamp are parameters: this module reads no clock and draws no randomness.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from ..errors import LocalProtocolError
from .query import js_number

__all__ = ["session_signature", "signature_base_string", "signed_session_params"]


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return js_number(value)
    if isinstance(value, str):
        return value
    raise LocalProtocolError(f"cannot sign a {type(value).__name__} value")


def signature_base_string(params: Mapping[str, Any]) -> str:
    """The text that is signed (``application_id=105&auth_key=...&user[login]=john&...``)."""
    entries = []
    for key, value in params.items():
        if key == "signature":
            continue
        if isinstance(value, Mapping):
            pairs = sorted(f"{key}[{sub}]={_value_text(v)}" for sub, v in value.items())
            entries.append("&".join(pairs))
        else:
            entries.append(f"{key}={_value_text(value)}")
    return "&".join(sorted(entries))


def session_signature(params: Mapping[str, Any], auth_secret: str) -> str:
    """Lowercase hex HMAC-SHA1 of :func:`signature_base_string` keyed with ``auth_secret``."""
    if not isinstance(auth_secret, str) or not auth_secret:
        raise LocalProtocolError("auth_secret must be a non-empty str")
    message = signature_base_string(params).encode("utf-8")
    return hmac.new(auth_secret.encode("utf-8"), message, hashlib.sha1).hexdigest()


def signed_session_params(params: Mapping[str, Any], auth_secret: str) -> dict[str, Any]:
    """``params`` plus their ``signature``, ready for the JSON body of ``POST /session``."""
    for required in ("application_id", "auth_key", "nonce", "timestamp"):
        if required not in params:
            raise LocalProtocolError(f"a signed session request needs {required}")
    return {**params, "signature": session_signature(params, auth_secret)}
