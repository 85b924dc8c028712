"""Whether a signed policy is authentic and meant for a device: the one check `banwatch-agent`
applies before it enforces a policy, and `banwatch policy verify` applies on the control node
(the device's `banwatch.device.policy_store` adds its memory: rollback, the last good policy)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from banwatch.core import signing, strict_json
from banwatch.core.digest import sha256_hex
from banwatch.core.errors import InputError
from banwatch.core.input_file import TooLarge, read_bounded
from banwatch.core.policy.model import App, Exemption
from banwatch.core.policy.payload import PAYLOAD_TYPE, POLICY_SCHEMA, read_compiled
from banwatch.core.timestamps import parse_time

# Where a device reads the machine id a policy may be bound to (relative to its root).

MACHINE_ID_FILES = ("etc/machine-id", "var/lib/dbus/machine-id")

MAX_POLICY_BYTES = 4 * 1024 * 1024


class PolicyRejected(Exception):
    """The policy failed a check; the message says which. `record`, when `load` raises it: the
    rejection as status and reports carry it, `{at, file, reason}`."""

    def __init__(self, reason: str, record: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.record = record


@dataclass(frozen=True)
class VerifiedPolicy:
    payload: dict[str, Any]
    digest: str  # sha256 of the canonical payload
    apps: tuple[App, ...]
    exemptions: tuple[Exemption, ...]

    @property
    def version(self) -> int:
        return int(self.payload["version"])

    def summary(self) -> dict[str, Any]:
        """What an operator wants to see change between two policies (Ansible's --diff shows it),
        from the checked apps and exemptions, not the raw payload."""
        return {"version": self.version, "digest": self.digest, "expires_at": self.payload["expires_at"],
                "apps": sorted(f"{app.id} ({app.status}, {app.action})" for app in self.apps),
                "exemptions": sorted(f"{e.id}: {e.app} until {e.expires.isoformat()}" for e in self.exemptions)}


def read_policy_file(path: str) -> bytes:
    """The file at `path` (standard input for STDIN), refused past MAX_POLICY_BYTES."""
    try:
        return read_bounded(path, MAX_POLICY_BYTES)
    except OSError as exc:
        raise PolicyRejected(f"cannot read {path}: {exc.strerror}") from None
    except TooLarge as exc:
        raise PolicyRejected(f"oversized: {exc}") from None


def verify_policy(data: bytes, trusted: dict[str, Any], *, machine_id: str | None, host_name: str | None,
                  now: dt.datetime, allow_expired: bool = False, on_device: bool = False) -> VerifiedPolicy:
    """Signature, shape, host binding and expiry; PolicyRejected with the reason otherwise.

    `machine_id` None skips the machine-id check (the control node's `policy verify` without
    --machine-id), unless `on_device`: then it is the device's own as read, None meaning it could
    not be read, and a policy bound to a machine id is refused (it cannot be shown to be ours)."""
    try:
        payload_bytes = signing.verify(data, PAYLOAD_TYPE, trusted)
        payload = strict_json.loads(payload_bytes)
        canonical = isinstance(payload, dict) and signing.canonical_json(payload) == payload_bytes
    except signing.VerificationError as exc:
        raise PolicyRejected(str(exc)) from None
    except ValueError as exc:  # not JSON, nested too deeply, or a lone surrogate (strict_json)
        raise PolicyRejected(f"malformed: the signed payload: {exc}") from None
    if not isinstance(payload, dict) or payload.get("schema") != POLICY_SCHEMA:
        raise PolicyRejected(f"malformed: not a {POLICY_SCHEMA} payload")
    if not canonical:
        raise PolicyRejected("malformed: the payload is not canonical JSON")
    expires_at, bound = _checked_fields(payload)
    if bound["machine_id"]:
        if on_device and machine_id is None:
            raise PolicyRejected(f"bound to machine id {bound['machine_id']} ({bound['name']}), but this device "
                                 f"cannot read its own machine id ({' or '.join(MACHINE_ID_FILES)})")
        if machine_id is not None and bound["machine_id"] != machine_id:
            raise PolicyRejected(f"meant for another device: machine id {bound['machine_id']} "
                                 f"({bound['name']}), this device is {machine_id}")
    elif host_name is not None and bound["name"] != host_name:
        raise PolicyRejected(f"meant for another host: {bound['name']}, this device is {host_name}")
    if not allow_expired and now > expires_at:
        raise PolicyRejected(f"expired at {payload['expires_at']}")
    try:
        apps, exemptions = read_compiled(payload["apps"], payload["exemptions"], "the signed payload")
    except InputError as exc:
        raise PolicyRejected(f"malformed: {exc.problems[0]}") from None
    return VerifiedPolicy(payload, "sha256:" + sha256_hex(payload_bytes), apps, exemptions)


def _checked_fields(payload: dict[str, Any]) -> tuple[dt.datetime, dict[str, Any]]:
    """A payload's expiry and host binding, once its version and times have the types they must have."""
    missing = [key for key in ("version", "issued_at", "expires_at", "host", "apps", "exemptions")
               if key not in payload]
    if missing:
        raise PolicyRejected(f"malformed: '{missing[0]}' is missing")
    version = payload["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise PolicyRejected(f"malformed: version {version!r} is not a positive whole number")
    moments = [_moment(payload, key) for key in ("issued_at", "expires_at")]
    bound = payload["host"]
    if not (isinstance(bound, dict) and isinstance(bound.get("name"), str) and bound["name"]
            and (bound.get("machine_id") is None or isinstance(bound["machine_id"], str))
            and isinstance(bound.get("groups"), list) and all(isinstance(g, str) for g in bound["groups"])):
        raise PolicyRejected("malformed: 'host' must hold a name, a machine id (or null) and a list of groups")
    return moments[1], {"name": bound["name"], "machine_id": bound.get("machine_id"), "groups": bound["groups"]}


def _moment(payload: dict[str, Any], key: str) -> dt.datetime:
    value = payload[key]
    try:
        moment = parse_time(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise PolicyRejected(f"malformed: '{key}' {value!r} is not a time with a zone (YYYY-MM-DDTHH:MM:SSZ)")
    return moment
