"""The device's own keys, made once at deploy: one signs its reports, one logs in to the collector.

Two keys for two purposes. The report key's public half is enrolled with the fleet store, which
trusts nothing else for this host's reports; the SSH key's is authorised on the collector's drop
box, which checks nothing but the login. A stolen drop-box login cannot forge reports, and
either key can be replaced without touching the other. Both are made on the device and never
leave it; `init_keys` is idempotent, so deploying again changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from banwatch.core import signing
from banwatch.core.atomic import write_atomic
from banwatch.core.errors import InputError
from banwatch.device.config import AgentConfig

REINIT_FIX = ("remove it and run 'banwatch-agent keys init' again; then enrol the device anew "
              "(playbooks/deploy_agent.yml does both)")


@dataclass(frozen=True)
class DeviceKeys:
    report_key: str
    report_pub: str
    key_id: str
    ship_key: str
    ship_pub: str
    ship_public_key: str  # the authorized_keys line: "ssh-ed25519 AAAA… <host name>"
    created: list[str] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {"report_key": self.report_key, "report_pub": self.report_pub, "key_id": self.key_id,
                "ship_key": self.ship_key, "ship_pub": self.ship_pub, "ship_public_key": self.ship_public_key,
                "created": self.created}


def report_pub_path(config: AgentConfig) -> str:
    return config.device_key[: -len(".key")] + ".pub"


def load_report_key(config: AgentConfig) -> Ed25519PrivateKey:
    if not os.path.exists(config.device_key):
        raise InputError.single(config.device_key, "the device's report signing key is missing",
                                "run 'banwatch-agent keys init' (deploy_agent.yml does it and enrols the key)")
    return signing.load_private_key(config.device_key)


def load_ship_key(path: str) -> Ed25519PrivateKey:
    """The OpenSSH-format login key the shipper uses."""
    try:
        with open(path, "rb") as handle:
            key = serialization.load_ssh_private_key(handle.read(signing.MAX_KEY_BYTES), None)
    except FileNotFoundError:
        raise InputError.single(path, "the device's SSH key for the collector is missing",
                                "run 'banwatch-agent keys init' and authorise the key on the collector "
                                "(playbooks/deploy_collector.yml)") from None
    except (OSError, ValueError) as exc:
        raise InputError.single(path, f"not an unencrypted OpenSSH private key ({exc})", REINIT_FIX) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError.single(path, "not an Ed25519 key", REINIT_FIX)
    return key


def ssh_public_line(key: Ed25519PrivateKey, comment: str) -> bytes:
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return public + b" " + comment.encode() + b"\n"


def _ensure_pair(private: str, public: str, create: Callable[[], object], expected_public: Callable[[], bytes],
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


def _create_ship_key(private: str, public: str, comment: str) -> None:
    os.makedirs(os.path.dirname(private), mode=0o700, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    write_atomic(private, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                            serialization.NoEncryption()), 0o600)
    write_atomic(public, ssh_public_line(key, comment), 0o644)


def init_keys(config: AgentConfig) -> DeviceKeys:
    """Both key pairs, made now where missing (never replaced)."""
    report_pub, ship_pub = report_pub_path(config), config.ship_key + ".pub"
    folder, name = os.path.split(config.device_key[: -len(".key")])
    created = []
    if _ensure_pair(config.device_key, report_pub, lambda: signing.generate(folder, name=name),
                    lambda: signing.public_pem(load_report_key(config).public_key()), bytes.__eq__):
        created.append(config.device_key)
    if _ensure_pair(config.ship_key, ship_pub, lambda: _create_ship_key(config.ship_key, ship_pub, config.host_name),
                    lambda: ssh_public_line(load_ship_key(config.ship_key), config.host_name),
                    lambda found, wanted: found.split()[:2] == wanted.split()[:2]):
        created.append(config.ship_key)
    report_key = load_report_key(config)
    with open(ship_pub, encoding="ascii") as handle:
        ship_line = handle.read().strip()
    return DeviceKeys(config.device_key, report_pub, signing.key_id(report_key.public_key()), config.ship_key,
                      ship_pub, ship_line, created)
