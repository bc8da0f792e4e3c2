"""SASL for the client role (RFC 6120 section 6): mechanism choice, PLAIN and SCRAM.

SCRAM (RFC 5802 / RFC 7677) is done by scramp; we choose the mechanism, feed it the
server's messages and map every failure to a :class:`SaslError` with a readable reason.
The client nonce comes from the injected entropy source, so a login is byte-for-byte
reproducible in tests.

Mechanism preference: SCRAM-SHA-256-PLUS > SCRAM-SHA-1-PLUS > SCRAM-SHA-256 > SCRAM-SHA-1 >
PLAIN.  The -PLUS variants are used only when the adapter gave channel-binding data; PLAIN
only on an encrypted stream unless the configuration explicitly allows it (loopback tests).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from scramp import ScramClient, ScramException

__all__ = ["DEFAULT_MECHANISMS", "SaslClient", "SaslError", "choose_mechanism"]

DEFAULT_MECHANISMS: tuple[str, ...] = (
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1",
    "PLAIN",
)

_SCRAM = frozenset(DEFAULT_MECHANISMS) - {"PLAIN"}


class SaslError(Exception):
    """Local SASL failure: no acceptable mechanism, a bad server message or signature."""


def choose_mechanism(
    offered: Sequence[str],
    *,
    preference: Sequence[str] = DEFAULT_MECHANISMS,
    encrypted: bool,
    channel_binding: bool,
    allow_plain_unencrypted: bool = False,
) -> str:
    """The first mechanism of ``preference`` that the server offers and we may use."""
    offered_set = {m.upper() for m in offered}
    for mechanism in preference:
        if mechanism not in offered_set:
            continue
        if mechanism.endswith("-PLUS") and not channel_binding:
            continue
        if mechanism == "PLAIN" and not encrypted and not allow_plain_unencrypted:
            continue
        if mechanism != "PLAIN" and mechanism not in _SCRAM:
            continue
        return mechanism
    reasons = []
    if "PLAIN" in offered_set and not encrypted and not allow_plain_unencrypted:
        reasons.append("PLAIN refused on an unencrypted stream")
    raise SaslError(
        "no acceptable SASL mechanism (offered: "
        + (", ".join(sorted(offered_set)) or "none")
        + ")"
        + (f"; {'; '.join(reasons)}" if reasons else "")
    )


class SaslClient:
    """One SASL exchange.  ``initial_response`` first, then ``challenge`` for each server
    challenge, then ``success`` with the additional data of ``<success/>``."""

    __slots__ = ("_done", "_password", "_scram", "_username", "mechanism")

    def __init__(
        self,
        mechanism: str,
        *,
        username: str,
        password: str,
        nonce: str,
        channel_binding: tuple[str, bytes] | None = None,
    ) -> None:
        self.mechanism = mechanism
        self._username = username
        self._password = password
        self._done = False
        self._scram: ScramClient | None = None
        if mechanism in _SCRAM:
            try:
                self._scram = ScramClient(
                    [mechanism],
                    username,
                    password,
                    channel_binding=channel_binding if mechanism.endswith("-PLUS") else None,
                    c_nonce=nonce,
                )
            except ScramException as exc:
                raise SaslError(f"cannot start {mechanism}: {exc}") from None
        elif mechanism != "PLAIN":
            raise SaslError(f"unsupported mechanism {mechanism}")

    def initial_response(self) -> bytes:
        """The initial response to send inside ``<auth/>`` (raw, not base64)."""
        if self._scram is None:
            # RFC 4616: [authzid] NUL authcid NUL passwd; empty authzid like the SDK.
            return b"\0" + self._username.encode() + b"\0" + self._password.encode()
        first: str = self._scram.get_client_first()
        return first.encode()

    def challenge(self, data: bytes) -> bytes:
        """Answer a server challenge (raw bytes in, raw bytes out)."""
        if self._scram is None:
            raise SaslError("PLAIN takes no challenge")
        try:
            self._scram.set_server_first(data.decode())
            final: str = self._scram.get_client_final()
            return final.encode()
        except (ScramException, UnicodeDecodeError, ValueError) as exc:
            raise SaslError(f"bad SCRAM server-first-message: {exc}") from None

    def success(self, data: bytes) -> None:
        """Check ``<success/>``: for SCRAM the server signature must verify."""
        if self._scram is None:
            self._done = True
            return
        if not data:
            raise SaslError("SCRAM success without server-final-message")
        try:
            self._scram.set_server_final(data.decode())
        except (ScramException, UnicodeDecodeError, ValueError) as exc:
            raise SaslError(f"SCRAM server signature not verified: {exc}") from None
        self._done = True


def b64decode_sasl(text: str | None) -> bytes:
    """Decode SASL element text (``=`` means empty, RFC 6120 6.4.2); raises SaslError."""
    if not text or text.strip() == "=":
        return b""
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SaslError("SASL data is not valid base64") from None


def b64encode_sasl(data: bytes) -> str:
    """Encode SASL data for an element's text (``=`` for empty)."""
    return base64.b64encode(data).decode() if data else "="
