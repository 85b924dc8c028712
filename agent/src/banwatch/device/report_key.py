"""The device's report signing key: made once, on the device, and loaded by the running agent.

Kept apart from the SSH key (keys.py), whose OpenSSH format needs cryptography's `serialization`:
the running agent signs with this key alone, and so never loads that (core/key_pem.py says why).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from banwatch.core import signing
from banwatch.core.atomic import write_atomic
from banwatch.core.errors import InputError
from banwatch.device.config import AgentConfig

REINIT_FIX = ("remove it and run 'banwatch-agent keys init' again; then enrol the device anew "
              "(playbooks/deploy_agent.yml does both)")


def report_pub_path(config: AgentConfig) -> str:
    return config.device_key[: -len(".key")] + ".pub"


def load_report_key(config: AgentConfig) -> Ed25519PrivateKey:
    if not os.path.exists(config.device_key):
        raise InputError.single(config.device_key, "the device's report signing key is missing",
                                "run 'banwatch-agent keys init' (deploy_agent.yml does it and enrols the key)")
    return signing.load_private_key(config.device_key)


def ensure_pair(private: str, public: str, create: Callable[[], object], expected_public: Callable[[], bytes],
                same: Callable[[bytes, bytes], bool]) -> bool:
    """Make the pair unless it is there; True when made now. A run cut short between the private
    and the public file is completed; a public key that is not the private key's is an error."""
    if os.path.exists(public) and not os.path.exists(private):
        raise InputError.single(public, "a public key without its private key beside it", REINIT_FIX)
    if not os.path.exists(private):
        create()
        return True
    expected = expected_public()
    if not os.path.exists(public):
        write_atomic(public, expected, 0o644)
        return False
    with open(public, "rb") as handle:
        if not same(handle.read(signing.MAX_KEY_BYTES), expected):
            raise InputError.single(public, "does not belong to the private key beside it", REINIT_FIX)
    return False


def ensure_report_key(config: AgentConfig) -> bool:
    """The report key pair, made now where missing (never replaced); True when made now."""
    folder, name = os.path.split(config.device_key[: -len(".key")])
    return ensure_pair(config.device_key, report_pub_path(config), lambda: signing.generate(folder, name=name),
                       lambda: signing.public_pem(load_report_key(config).public_key()), bytes.__eq__)
