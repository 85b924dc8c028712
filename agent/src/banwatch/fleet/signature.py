"""Ed25519 verification by libsodium (PyNaCl, which paramiko already brings) for the ingest.

2.3x faster per signature than cryptography's `verify` (83 vs 190 us); bench_fleet's ingest takes
2.7x its floor with it, 3.7x with cryptography's (5,000 reports, median of 3). Only the fleet
uses it: a device verifies one policy now and then, and the agent's memory is better spent.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError


def sodium_signature_valid(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        crypto_sign_open(signature + message, key.public_bytes_raw())
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True
