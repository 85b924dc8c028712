"""The device's side of the policy chain: accept only an authentic, current policy meant for it.

`install` verifies a signed policy and atomically replaces the installed one; a rejection
never touches it, and is remembered for the next report. The highest version ever
installed lives in the state directory, so deleting the policy file does not reopen
rollback. `load_installed` re-verifies what is on disk for every scan; a policy past its
`expires_at` keeps its ban list in force but no longer honours its exemptions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

from banwatch import hostinfo, signing
from banwatch.agent_config import AgentConfig
from banwatch.atomic import write_atomic
from banwatch.input_file import STDIN, TooLarge, read_bounded
from banwatch.policy.effective import PAYLOAD_TYPE, POLICY_SCHEMA, policy_from_payload
from banwatch.policy.model import PolicySource
from banwatch.timestamps import isoformat, parse_time

MAX_POLICY_BYTES = 4 * 1024 * 1024
STATE_FILE = "policy-state.json"
INSTALLED, UNCHANGED, REJECTED = "installed", "unchanged", "rejected"


class PolicyRejected(Exception):
    """The policy failed a check; the message says which."""


@dataclass(frozen=True)
class InstallResult:
    result: str
    version: int | None
    reason: str | None = None
    # What was in force before and what is (or, in a dry run, would be) after: see `policy_summary`.
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None

    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"result": self.result, "version": self.version}
        if self.reason:
            document["reason"] = self.reason
        return {**document, "before": self.before, "after": self.after}


def policy_summary(payload: dict[str, Any], digest: str) -> dict[str, Any]:
    """What an operator wants to see change between two policies (Ansible's --diff shows it)."""
    return {"version": payload["version"], "digest": digest, "expires_at": payload["expires_at"],
            "apps": sorted(f"{app['id']} ({app['status']}, {app['action']})" for app in payload["apps"]),
            "exemptions": sorted(f"{e['id']}: {e['app']} until {e['expires']}" for e in payload["exemptions"])}


@dataclass(frozen=True)
class VerifiedPolicy:
    payload: dict[str, Any]
    digest: str  # sha256 of the canonical payload

    @property
    def version(self) -> int:
        return int(self.payload["version"])


def read_policy_file(path: str) -> bytes:
    """The file at `path` (standard input for STDIN), refused past MAX_POLICY_BYTES."""
    try:
        return read_bounded(path, MAX_POLICY_BYTES)
    except OSError as exc:
        raise PolicyRejected(f"cannot read {path}: {exc.strerror}") from None
    except TooLarge as exc:
        raise PolicyRejected(f"oversized: {exc}") from None


def verify_policy(data: bytes, trusted: dict[str, Any], *, machine_id: str | None, host_name: str | None,
                  now: dt.datetime, allow_expired: bool = False) -> VerifiedPolicy:
    """Signature, shape, host binding and expiry; PolicyRejected with the reason otherwise."""
    try:
        payload_bytes = signing.verify(data, PAYLOAD_TYPE, trusted)
    except signing.VerificationError as exc:
        raise PolicyRejected(str(exc)) from None
    try:
        payload = json.loads(payload_bytes)
    except ValueError:
        raise PolicyRejected("malformed: the signed payload is not JSON") from None
    if not isinstance(payload, dict) or payload.get("schema") != POLICY_SCHEMA:
        raise PolicyRejected(f"malformed: not a {POLICY_SCHEMA} payload")
    if signing.canonical_json(payload) != payload_bytes:
        raise PolicyRejected("malformed: the payload is not canonical JSON")
    try:
        version, expires_at = payload["version"], parse_time(payload["expires_at"])
        parse_time(payload["issued_at"])
        bound = payload["host"]
        policy_from_payload(payload, "", "")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PolicyRejected(f"malformed: {exc}") from None
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise PolicyRejected(f"malformed: version {version!r} is not a positive whole number")
    if bound.get("machine_id"):
        if machine_id is not None and bound["machine_id"] != machine_id:
            raise PolicyRejected(f"meant for another device: machine id {bound['machine_id']} "
                                 f"({bound.get('name')}), this device is {machine_id}")
    elif host_name is not None and bound.get("name") != host_name:
        raise PolicyRejected(f"meant for another host: {bound.get('name')}, this device is {host_name}")
    if not allow_expired and now > expires_at:
        raise PolicyRejected(f"expired at {payload['expires_at']}")
    return VerifiedPolicy(payload, "sha256:" + hashlib.sha256(payload_bytes).hexdigest())


class PolicyStore:
    """The installed policy and what the device remembers about policies, for one agent config."""

    def __init__(self, config: AgentConfig, root: str = "/") -> None:
        self.config = config
        self.root = root
        self.state_path = os.path.join(config.state_dir, STATE_FILE)

    def state(self) -> dict[str, Any]:
        try:
            with open(self.state_path, encoding="utf-8") as handle:
                state = json.load(handle)
            return state if isinstance(state, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save_state(self, state: dict[str, Any]) -> None:
        os.makedirs(self.config.state_dir, mode=0o750, exist_ok=True)
        write_atomic(self.state_path, json.dumps(state, indent=2, sort_keys=True).encode(), 0o640)

    def _verify(self, data: bytes, now: dt.datetime, allow_expired: bool = False) -> VerifiedPolicy:
        return verify_policy(data, self.config.trusted_keys, machine_id=hostinfo.machine_id(self.root),
                             host_name=self.config.host_name, now=now, allow_expired=allow_expired)

    def install(self, path: str, now: dt.datetime | None = None, *, dry_run: bool = False) -> InstallResult:
        """Verify `path` and install it atomically. `dry_run` answers what would happen and
        changes nothing, not even the record of a rejection (Ansible's check mode)."""
        now = now or dt.datetime.now(dt.timezone.utc)
        state = self.state()
        installed = self._installed_bytes()  # read once: the "before" of the diff, and the unchanged check
        before = self._summary(installed, now)
        try:
            data = read_policy_file(path)
            policy = self._verify(data, now)
            highest = int(state.get("highest_version", 0))
            if policy.version < highest:
                raise PolicyRejected(f"rollback: version {policy.version} is older than version {highest}, "
                                     "the highest this device has installed")
            same = policy.version == highest
            if same and policy.digest != state.get("installed_digest"):
                raise PolicyRejected(f"version {policy.version} is already installed with different content; "
                                     "issue a new, higher version")
        except PolicyRejected as exc:
            if not dry_run:
                source = "standard input" if path == STDIN else os.path.abspath(path)
                state["last_rejection"] = {"at": isoformat(now), "file": source, "reason": str(exc)}
                self._save_state(state)
            return InstallResult(REJECTED, None, str(exc), before, before)
        after = policy_summary(policy.payload, policy.digest)
        if same and installed == data:
            return InstallResult(UNCHANGED, policy.version, None, before, after)
        if dry_run:
            return InstallResult(INSTALLED, policy.version, None, before, after)
        os.makedirs(os.path.dirname(self.config.policy_path), exist_ok=True)
        write_atomic(self.config.policy_path, data, 0o644)
        state.update(highest_version=policy.version, installed_digest=policy.digest, installed_at=isoformat(now))
        state.pop("last_rejection", None)
        self._save_state(state)
        return InstallResult(INSTALLED, policy.version, None, before, after)

    def _summary(self, installed: bytes | None, now: dt.datetime) -> dict[str, Any] | None:
        """The installed policy's summary; None when there is none (or it no longer verifies)."""
        if installed is None:
            return None
        try:
            policy = self._verify(installed, now, allow_expired=True)
        except PolicyRejected:
            return None
        return policy_summary(policy.payload, policy.digest)

    def _installed_bytes(self) -> bytes | None:
        try:
            return read_policy_file(self.config.policy_path)
        except PolicyRejected:
            return None

    def load(self, now: dt.datetime) -> tuple[PolicySource, dict[str, Any]]:
        """The installed policy for a scan, and what the report says about it."""
        data = read_policy_file(self.config.policy_path)
        policy = self._verify(data, now, allow_expired=True)
        payload = policy.payload
        expired = now > parse_time(payload["expires_at"])
        source = policy_from_payload(payload, self.config.policy_path, policy.digest)
        info: dict[str, Any] = {"version": policy.version, "digest": policy.digest, "issued_at": payload["issued_at"],
                                "expires_at": payload["expires_at"], "state": "expired" if expired else "valid",
                                "exemptions_honoured": not expired, "host_name": payload["host"]["name"],
                                "host_groups": payload["host"]["groups"]}
        if expired:
            source = PolicySource(source.directory, source.apps, (), 0, frozenset(), frozenset(), source.digest)
            info["note"] = (f"policy expired at {payload['expires_at']} without a replacement: the ban list stays "
                            "in force, its exemptions are no longer honoured")
        info["exemptions"] = [exemption.id for exemption in source.exemptions]  # what the fleet view calls applied
        rejection = self.state().get("last_rejection")
        if rejection:
            info["last_rejection"] = rejection
        return source, info
