"""The device's own keys, made once at deploy: one signs its reports (report_key.py), one logs in
to the collector.

Two keys for two purposes. The report key's public half is enrolled with the fleet store, which
trusts nothing else for this host's reports; the SSH key's is authorised on the collector's drop
box, which checks nothing but the login. A stolen drop-box login cannot forge reports, and
either key can be replaced without touching the other. Both are made on the device and never
leave it; `init_keys` is idempotent, so deploying again changes nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from banwatch.core import signing
from banwatch.core.atomic import write_atomic
from banwatch.core.errors import InputError
from banwatch.device.config import AgentConfig
from banwatch.device.report_key import REINIT_FIX, ensure_pair, ensure_report_key, load_report_key, report_pub_path


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


def _create_ship_key(private: str, public: str, comment: str) -> None:
    os.makedirs(os.path.dirname(private), mode=0o700, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    write_atomic(private, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                            serialization.NoEncryption()), 0o600)
    write_atomic(public, ssh_public_line(key, comment), 0o644)


def init_keys(config: AgentConfig) -> DeviceKeys:
    """Both key pairs, made now where missing (never replaced)."""
    report_pub, ship_pub = report_pub_path(config), config.ship_key + ".pub"
    created = []
    if ensure_report_key(config):
        created.append(config.device_key)
    if ensure_pair(config.ship_key, ship_pub, lambda: _create_ship_key(config.ship_key, ship_pub, config.host_name),
                   lambda: ssh_public_line(load_ship_key(config.ship_key), config.host_name),
                   lambda found, wanted: found.split()[:2] == wanted.split()[:2]):
        created.append(config.ship_key)
    report_key = load_report_key(config)
    with open(ship_pub, encoding="ascii") as handle:
        ship_line = handle.read().strip()
    return DeviceKeys(config.device_key, report_pub, signing.key_id(report_key.public_key()), config.ship_key,
                      ship_pub, ship_line, created)
