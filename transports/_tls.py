"""TLS helpers shared by every chat adapter: the client context and channel binding.

Verification and hostname checking are on by default (``ssl.create_default_context``);
``ca_file`` adds a trust anchor (a private CA such as the test ejabberd's).  Turning
verification off needs an explicit ``verify=False`` and is meant for throw-away loopback
setups only.

Channel binding (for SCRAM ``-PLUS``) is ``tls-server-end-point`` (RFC 5929 section 4.1):
the hash of the server's DER certificate, with the hash function of the certificate's
signature algorithm -- SHA-256 when that is MD5 or SHA-1.  It is the one binding type that
is defined for TLS 1.3 and that Python's ``ssl`` can compute (``tls-unique`` is TLS <= 1.2
only; ``tls-exporter`` needs keying-material export, which ``ssl`` does not offer).  When the
signature algorithm is one RFC 5929 does not cover (RSASSA-PSS, EdDSA), no binding is
offered and SASL falls back to plain SCRAM.
"""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path
from typing import Literal

__all__ = [
    "TLS_SERVER_END_POINT",
    "ChannelBindingMode",
    "channel_binding",
    "client_context",
    "server_end_point",
    "signature_hash_name",
]

TLS_SERVER_END_POINT = "tls-server-end-point"

# Signature algorithm OIDs (DER-encoded content bytes) -> hash used for the binding.
_SHA256 = "sha256"
_OID_HASH: dict[bytes, str] = {
    # PKCS #1 RSA: md5, sha1 (-> sha256 per RFC 5929), sha256, sha384, sha512, sha224
    bytes.fromhex("2a864886f70d010104"): _SHA256,
    bytes.fromhex("2a864886f70d010105"): _SHA256,
    bytes.fromhex("2a864886f70d01010b"): "sha256",
    bytes.fromhex("2a864886f70d01010c"): "sha384",
    bytes.fromhex("2a864886f70d01010d"): "sha512",
    bytes.fromhex("2a864886f70d01010e"): "sha224",
    # ECDSA with sha1 (-> sha256), sha224, sha256, sha384, sha512
    bytes.fromhex("2a8648ce3d0401"): _SHA256,
    bytes.fromhex("2a8648ce3d040301"): "sha224",
    bytes.fromhex("2a8648ce3d040302"): "sha256",
    bytes.fromhex("2a8648ce3d040303"): "sha384",
    bytes.fromhex("2a8648ce3d040304"): "sha512",
    # DSA with sha1 (-> sha256), sha256
    bytes.fromhex("2a8648ce380403"): _SHA256,
    bytes.fromhex("608648016503040302"): "sha256",
}


def client_context(*, ca_file: str | Path | None = None, verify: bool = True) -> ssl.SSLContext:
    """A client TLS context: system trust store plus ``ca_file``, hostname check on.

    ``verify=False`` disables both checks (never for production use).
    """
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _read_tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at ``pos``.

    Raises ValueError on anything that is not well-formed definite-length DER.
    """
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise ValueError("DER element overruns its container")
    return tag, pos, end


def signature_hash_name(der_cert: bytes) -> str | None:
    """The hash RFC 5929 prescribes for this certificate, or ``None`` if it has none.

    Reads ``Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, ... }`` just far
    enough to find the algorithm's OID.  Never raises: bytes that are not a certificate
    give ``None``.
    """
    try:
        tag, start, end = _read_tlv(der_cert, 0)
        if tag != 0x30:
            return None
        tag, _, tbs_end = _read_tlv(der_cert, start)  # tbsCertificate
        if tag != 0x30 or tbs_end >= end:
            return None
        tag, alg_start, alg_end = _read_tlv(der_cert, tbs_end)  # signatureAlgorithm
        if tag != 0x30:
            return None
        tag, oid_start, oid_end = _read_tlv(der_cert, alg_start)
        if tag != 0x06 or oid_end > alg_end:
            return None
    except ValueError:
        return None
    return _OID_HASH.get(der_cert[oid_start:oid_end])


def server_end_point(der_cert: bytes | None) -> tuple[str, bytes] | None:
    """Channel-binding data ``("tls-server-end-point", hash)`` for the core, or ``None``."""
    if not der_cert:
        return None
    name = signature_hash_name(der_cert)
    if name is None:
        return None
    return TLS_SERVER_END_POINT, hashlib.new(name, der_cert).digest()


#: ``"auto"``: ``tls-unique`` on TLS <= 1.2, nothing on TLS 1.3 (see module docstring).
ChannelBindingMode = Literal["auto", "tls-unique", "tls-server-end-point", "none"]


def channel_binding(
    tls: ssl.SSLSocket | ssl.SSLObject, mode: ChannelBindingMode = "auto"
) -> tuple[str, bytes] | None:
    """Channel-binding data for the core's ``start``/``tls_established``.

    ``auto`` gives ``tls-unique`` on TLS 1.2 and below and no binding on TLS 1.3:
    ``tls-unique`` is undefined there, and ejabberd 23.01 (the test server) advertises
    SCRAM ``-PLUS`` but refuses ``tls-server-end-point`` ("Invalid channel binding"),
    so offering it would make the login fail.  Ask for ``tls-server-end-point``
    explicitly against servers that implement it.
    """
    if mode == "none":
        return None
    version = tls.version() or ""
    legacy = version in ("TLSv1", "TLSv1.1", "TLSv1.2")
    if mode == "tls-unique" or (mode == "auto" and legacy):
        data = tls.get_channel_binding("tls-unique") if legacy else None
        return ("tls-unique", data) if data else None
    if mode == "tls-server-end-point":
        return server_end_point(tls.getpeercert(True))
    return None
