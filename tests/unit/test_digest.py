"""SHA-256 through cryptography: the same digests as hashlib, and the agent never maps hashlib's libcrypto."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from banwatch.core.digest import Sha256, sha256_hex


def test_the_digests_are_sha256():
    assert sha256_hex(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    digest = Sha256()
    for block in (b"", b"x" * 1_000_000, b"tail"):
        digest.update(block)
    assert digest.hexdigest() == hashlib.sha256(b"x" * 1_000_000 + b"tail").hexdigest()


def test_the_running_agent_never_loads_hashlib():
    """hashlib (and secrets, through hmac) would map the system's libcrypto beside cryptography's own."""
    probe = "import sys, banwatch.device.cli.service; print('_hashlib' in sys.modules)"  # what `run` imports
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
