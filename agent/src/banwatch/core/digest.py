"""SHA-256 through `cryptography`, which the agent loads anyway to sign and verify.

hashlib would map the system's libcrypto beside cryptography's own OpenSSL: 3.3 MB more resident
in the agent (smaps of a running `banwatch-agent run`), for the same digest.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes


class Sha256:
    """hashlib's `update`/`hexdigest` for SHA-256, so a digest reads the same at every call site."""

    def __init__(self, data: bytes = b"") -> None:
        self._hash = hashes.Hash(hashes.SHA256())
        self._hash.update(data)

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def hexdigest(self) -> str:
        """Once per digest: the hash is finished by it."""
        return self._hash.finalize().hex()


def sha256_hex(data: bytes) -> str:
    return Sha256(data).hexdigest()
