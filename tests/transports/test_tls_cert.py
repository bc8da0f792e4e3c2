"""transports._tls: the certificate reader behind ``tls-server-end-point`` channel binding.

``signature_hash_name`` reads peer bytes (the server's DER certificate), so it gets
properties over arbitrary and structured input, plus real certificates from trustme.
"""

from __future__ import annotations

import hashlib
import ssl

import pytest
import trustme
from cubeproto.transports._tls import (
    TLS_SERVER_END_POINT,
    server_end_point,
    signature_hash_name,
)
from hypothesis import example, given
from hypothesis import strategies as st

HASHES = {None, "sha224", "sha256", "sha384", "sha512"}
OID = {  # signature algorithm OID content bytes -> the hash RFC 5929 prescribes
    "2a864886f70d010104": "sha256",  # md5WithRSAEncryption -> sha256
    "2a864886f70d010105": "sha256",  # sha1WithRSAEncryption -> sha256
    "2a864886f70d01010b": "sha256",
    "2a864886f70d01010c": "sha384",
    "2a864886f70d01010d": "sha512",
    "2a8648ce3d040302": "sha256",  # ecdsa-with-SHA256
    "2a8648ce3d040303": "sha384",
    "2a8648ce3d040304": "sha512",
    "2a8648ce3d040301": "sha224",
    "2a8648ce3d0401": "sha256",  # ecdsa-with-SHA1 -> sha256
    "2a864886f70d01010e": "sha224",
    "2a8648ce380403": "sha256",  # dsa-with-sha1 -> sha256
    "608648016503040302": "sha256",  # dsa-with-sha256
    "2b6570": None,  # Ed25519: not covered by RFC 5929
    "2a864886f70d01010a": None,  # RSASSA-PSS: parameters decide the hash
}


def der(tag: int, content: bytes, *, long_form: bool = False) -> bytes:
    """One DER element (short or long length form)."""
    n = len(content)
    if n < 0x80 and not long_form:
        return bytes([tag, n]) + content
    size = n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def certificate(oid: bytes, tbs: bytes = b"\x02\x01\x01", *, long_form: bool = False) -> bytes:
    """Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }."""
    algorithm = der(0x30, der(0x06, oid) + b"\x05\x00", long_form=long_form)
    return der(
        0x30,
        der(0x30, tbs, long_form=long_form) + algorithm + der(0x03, b"\x00sig"),
        long_form=long_form,
    )


def real_der(key_type: trustme.KeyType) -> bytes:
    ca = trustme.CA(key_type=key_type)
    leaf = ca.issue_cert("chat.example")
    return ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())


@given(st.binary(max_size=512))
@example(b"")
@example(b"\x30\x84\xff\xff\xff\xff")  # a 4-byte length far beyond the data
@example(b"\x30\x80")  # indefinite length (BER, not DER)
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    assert signature_hash_name(data) in HASHES
    binding = server_end_point(data)
    assert binding is None or binding[0] == TLS_SERVER_END_POINT


@given(
    oid=st.sampled_from(sorted(OID)),
    tbs=st.binary(max_size=300),
    long_form=st.booleans(),
)
def test_structured_certificates_map_their_algorithm(oid: str, tbs: bytes, long_form: bool) -> None:
    data = certificate(bytes.fromhex(oid), tbs, long_form=long_form)
    assert signature_hash_name(data) == OID[oid]


@given(oid=st.sampled_from(sorted(OID)), cut=st.integers(min_value=1))
def test_every_truncation_is_rejected(oid: str, cut: int) -> None:
    data = certificate(bytes.fromhex(oid), b"\x02\x01\x01" * 40)
    prefix = data[: cut % len(data)]
    assert signature_hash_name(prefix) is None


@given(oid=st.binary(min_size=1, max_size=20))
def test_unknown_algorithms_give_no_binding(oid: bytes) -> None:
    name = signature_hash_name(certificate(oid))
    assert name == OID.get(oid.hex())
    if name is None:
        assert server_end_point(certificate(oid)) is None


@pytest.mark.parametrize("key_type", [trustme.KeyType.RSA, trustme.KeyType.ECDSA])
def test_real_certificates(key_type: trustme.KeyType) -> None:
    data = real_der(key_type)
    assert signature_hash_name(data) == "sha256"  # trustme signs with SHA-256
    assert server_end_point(data) == (TLS_SERVER_END_POINT, hashlib.sha256(data).digest())


def test_nothing_to_bind_without_a_certificate() -> None:
    assert server_end_point(None) is None
    assert server_end_point(b"") is None
