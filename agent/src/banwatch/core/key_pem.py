"""Ed25519 keys as PEM (RFC 8410), read and written without cryptography's `serialization`.

That package loads its SSH and cipher code and bcrypt with it: 3.1 MB of the agent's 32 MB
budget (bench_agent's peak RSS), for two fixed forms. An Ed25519 SubjectPublicKeyInfo has
exactly one DER encoding, and so has an unencrypted PKCS#8 v1 private key: a fixed prefix and
the 32 raw bytes. The bytes written here are those `serialization` writes (the tests compare
them); any other form (an encrypted key, a PKCS#8 v2 key) is `None` here, for the caller to
hand to `serialization`.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PUBLIC_LABEL, PRIVATE_LABEL = b"PUBLIC KEY", b"PRIVATE KEY"
# RFC 8410: SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING { key } }
PUBLIC_DER_PREFIX = bytes.fromhex("302a300506032b6570032100")
# RFC 8410: SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING { key } } }
PRIVATE_DER_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
RAW_KEY_BYTES = 32


def _armour(label: bytes, der: bytes) -> bytes:
    return b"-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, base64.b64encode(der), label)


def _unarmour(label: bytes, data: bytes, prefix: bytes) -> bytes | None:
    """The raw key of a one-block PEM of this label and DER prefix, or None for any other form."""
    lines = data.strip().splitlines()
    if len(lines) < 3 or lines[0].strip() != b"-----BEGIN %s-----" % label \
            or lines[-1].strip() != b"-----END %s-----" % label:
        return None
    try:
        der = base64.b64decode(b"".join(line.strip() for line in lines[1:-1]), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(der) != len(prefix) + RAW_KEY_BYTES or not der.startswith(prefix):
        return None
    return der[len(prefix):]


def public_pem(key: Ed25519PublicKey) -> bytes:
    return _armour(PUBLIC_LABEL, PUBLIC_DER_PREFIX + key.public_bytes_raw())


def private_pem(key: Ed25519PrivateKey) -> bytes:
    """The unencrypted PKCS#8 form: for keys that never leave their device (mode 0600)."""
    return _armour(PRIVATE_LABEL, PRIVATE_DER_PREFIX + key.private_bytes_raw())


def parse_public_pem(data: bytes) -> Ed25519PublicKey | None:
    raw = _unarmour(PUBLIC_LABEL, data, PUBLIC_DER_PREFIX)
    return None if raw is None else Ed25519PublicKey.from_public_bytes(raw)


def parse_private_pem(data: bytes) -> Ed25519PrivateKey | None:
    raw = _unarmour(PRIVATE_LABEL, data, PRIVATE_DER_PREFIX)
    return None if raw is None else Ed25519PrivateKey.from_private_bytes(raw)
