"""The device's side of the policy chain: accept only an authentic, current policy meant for it.

One rule decides whether this device takes a policy, `PolicyStore.admit`, and both doors use
it: `install` (what Ansible pushes) and `load` (what the running agent and `scan` read from the
policy path, whoever put the file there). The rule: signed by a trusted key, well formed (the
same checks as the policy source), meant for this device (a policy bound to a machine id is
refused when the device cannot read its own), not expired (`load` keeps an expired policy's ban
list in force but no longer honours its exemptions), never older than the highest version
installed, and never that version with other content. The highest version lives in the state
directory, so deleting the policy file does not reopen rollback.

A rejection never touches what is in force: `install` leaves the installed file alone, and
`load` falls back to the last good policy, which the device keeps in its state directory, so
an older or forged file at the policy path does not switch enforcement off even across a
restart. Either way the rejection is remembered (`last_rejection`) for `status` and the reports
until a good policy is installed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from banwatch import hostinfo, signing, strict_json
from banwatch.agent_config import AgentConfig
from banwatch.atomic import write_atomic
from banwatch.errors import InputError
from banwatch.input_file import STDIN, TooLarge, read_bounded
from banwatch.policy.effective import PAYLOAD_TYPE, POLICY_SCHEMA
from banwatch.policy.model import App, Exemption, PolicySource
from banwatch.policy.source import read_compiled
from banwatch.timestamps import isoformat, parse_time

MAX_POLICY_BYTES = 4 * 1024 * 1024
STATE_FILE = "policy-state.json"
STATE_LOCK = "policy-state.lock"
KEPT_FILE = "policy-last-good.json"  # the last policy that passed `admit`, whole, in the state directory
INSTALLED, UNCHANGED, REJECTED = "installed", "unchanged", "rejected"


class PolicyRejected(Exception):
    """The policy failed a check; the message says which. `record`, when `load` raises it: the
    rejection as status and reports carry it, `{at, file, reason}`."""

    def __init__(self, reason: str, record: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.record = record


def rejection_record(path: str, reason: str, now: dt.datetime) -> dict[str, str]:
    """A rejection as `last_rejection` (state, status, reports) and a report's `policy.rejected` hold it."""
    return {"at": isoformat(now), "file": "standard input" if path == STDIN else os.path.abspath(path),
            "reason": reason}


@dataclass(frozen=True)
class InstallResult:
    result: str
    version: int | None
    reason: str | None = None
    # What was in force before and what is (or, in a dry run, would be) after: see `VerifiedPolicy.summary`.
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None

    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"result": self.result, "version": self.version}
        if self.reason:
            document["reason"] = self.reason
        return {**document, "before": self.before, "after": self.after}


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
                                 f"cannot read its own machine id ({' or '.join(hostinfo.MACHINE_ID_FILES)})")
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
    return VerifiedPolicy(payload, "sha256:" + hashlib.sha256(payload_bytes).hexdigest(), apps, exemptions)


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


def highest_version(state: dict[str, Any], state_path: str) -> int:
    """The highest version this device has installed (0: none); a damaged record refuses every
    policy rather than reopen rollback."""
    highest = state.get("highest_version", 0)
    if not isinstance(highest, int) or isinstance(highest, bool) or highest < 0:
        raise PolicyRejected(f"the device's policy state {state_path} is damaged (highest_version {highest!r}); "
                             "repair it or remove it (removing it allows any version again)")
    return highest


class PolicyStore:
    """The installed policy and what the device remembers about policies, for one agent config.
    `root`: where the device's own files (its machine id) are read."""

    def __init__(self, config: AgentConfig, root: str = "/") -> None:
        self.config = config
        self.root = root
        self.state_path = os.path.join(config.state_dir, STATE_FILE)
        self.kept_path = os.path.join(config.state_dir, KEPT_FILE)

    def state(self) -> dict[str, Any]:
        try:
            with open(self.state_path, encoding="utf-8") as handle:
                state = json.load(handle)
            return state if isinstance(state, dict) else {}
        except (OSError, ValueError, RecursionError):
            return {}

    @contextlib.contextmanager
    def _updating_state(self) -> Iterator[dict[str, Any]]:
        """The state, read and (when the block changed it) rewritten under a lock, so `install`
        and a running agent's `load` never write back each other's stale copy."""
        os.makedirs(self.config.state_dir, mode=0o750, exist_ok=True)
        fd = os.open(os.path.join(self.config.state_dir, STATE_LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            state = self.state()
            before = json.dumps(state, sort_keys=True)
            yield state
            if json.dumps(state, sort_keys=True) != before:
                write_atomic(self.state_path, json.dumps(state, indent=2, sort_keys=True).encode(), 0o640)
        finally:
            os.close(fd)

    def _verify(self, data: bytes, now: dt.datetime, allow_expired: bool = False) -> VerifiedPolicy:
        return verify_policy(data, self.config.trusted_keys, machine_id=hostinfo.machine_id(self.root),
                             host_name=self.config.host_name, now=now, allow_expired=allow_expired, on_device=True)

    def admit(self, data: bytes, now: dt.datetime, state: dict[str, Any], *,
              allow_expired: bool = False) -> VerifiedPolicy:
        """The one rule for a policy on this device, for `install` and the running agent alike:
        authentic and meant for this device (`verify_policy`), never older than the highest
        version installed, and never that version with other content. PolicyRejected otherwise."""
        policy = self._verify(data, now, allow_expired)
        highest = highest_version(state, self.state_path)
        if policy.version < highest:
            raise PolicyRejected(f"rollback: version {policy.version} is older than version {highest}, "
                                 "the highest this device has installed")
        if policy.version == highest and policy.digest != state.get("installed_digest"):
            raise PolicyRejected(f"version {policy.version} is already installed with different content; "
                                 "issue a new, higher version")
        return policy

    def install(self, path: str, now: dt.datetime | None = None, *, dry_run: bool = False) -> InstallResult:
        """Verify `path` and install it atomically. `dry_run` answers what would happen and
        changes nothing, not even the record of a rejection (Ansible's check mode)."""
        now = now or dt.datetime.now(dt.timezone.utc)
        if dry_run:
            return self._install(path, now, self.state(), dry_run=True)
        with self._updating_state() as state:
            return self._install(path, now, state, dry_run=False)

    def _install(self, path: str, now: dt.datetime, state: dict[str, Any], *, dry_run: bool) -> InstallResult:
        installed = self._installed_bytes()  # read once: the "before" of the diff, and the unchanged check
        before = self._summary(installed, now)
        try:
            data = read_policy_file(path)
            policy = self.admit(data, now, state)
        except PolicyRejected as exc:
            if not dry_run:
                state["last_rejection"] = rejection_record(path, str(exc), now)
            return InstallResult(REJECTED, None, str(exc), before, before)
        after = policy.summary()
        unchanged = policy.version == state.get("highest_version") and installed == data
        if dry_run:
            return InstallResult(UNCHANGED if unchanged else INSTALLED, policy.version, None, before, after)
        if not unchanged:
            os.makedirs(os.path.dirname(self.config.policy_path), exist_ok=True)
            write_atomic(self.config.policy_path, data, 0o644)
            state.pop("last_rejection", None)
        self._adopt(state, policy, data, now)
        return InstallResult(UNCHANGED if unchanged else INSTALLED, policy.version, None, before, after)

    def _adopt(self, state: dict[str, Any], policy: VerifiedPolicy, data: bytes, now: dt.datetime) -> None:
        """Remember `policy` as the one in force: the highest version, and the copy `load` falls back to
        (never a lower version than `state` holds: another process may have installed a newer one)."""
        highest = state.get("highest_version")
        if isinstance(highest, int) and policy.version < highest:
            return
        if self._kept_bytes() != data:
            write_atomic(self.kept_path, data, 0o640)
        if policy.version != state.get("highest_version") or policy.digest != state.get("installed_digest"):
            state.update(highest_version=policy.version, installed_digest=policy.digest, installed_at=isoformat(now))
            state.pop("last_rejection", None)

    def _summary(self, installed: bytes | None, now: dt.datetime) -> dict[str, Any] | None:
        """The installed policy's summary; None when there is none (or it no longer verifies)."""
        if installed is None:
            return None
        try:
            policy = self._verify(installed, now, allow_expired=True)
        except PolicyRejected:
            return None
        return policy.summary()

    def _installed_bytes(self) -> bytes | None:
        try:
            return read_policy_file(self.config.policy_path)
        except PolicyRejected:
            return None

    def _kept_bytes(self) -> bytes | None:
        try:
            return read_policy_file(self.kept_path)
        except PolicyRejected:
            return None

    def load(self, now: dt.datetime) -> tuple[PolicySource, dict[str, Any]]:
        """The policy to enforce, and what the report says about it: the file at the policy path
        when `admit` takes it (a newer one put there directly is adopted as if installed); when it
        does not, the last good policy the device kept, with `rejected` saying why. PolicyRejected
        (with its `record`) when there is no good policy at all."""
        path = self.config.policy_path
        state = self.state()
        try:
            data = read_policy_file(path)
            policy = self.admit(data, now, state, allow_expired=True)
        except PolicyRejected as exc:
            record = rejection_record(path, str(exc), now)
            if os.path.lexists(path) or state.get("highest_version"):  # a file refused, or the policy gone
                self._record(lambda current: current.__setitem__("last_rejection", record))
            kept = self._kept_policy(now)
            if kept is None:
                raise PolicyRejected(str(exc), record) from None
            source, info = self._in_force(kept, self.kept_path, now)
            info.update(rejected=record, last_rejection=record)
            return source, info
        if policy.version != state.get("highest_version") or self._kept_bytes() != data:
            self._record(lambda current: self._adopt(current, policy, data, now))
        return self._in_force(policy, path, now)

    def _record(self, change: Callable[[dict[str, Any]], None]) -> None:
        """`change` the state; best effort, so a reader without write access (a scan run by hand,
        not as root) still gets its answer. The agent and `install` run as root and keep it."""
        with contextlib.suppress(OSError), self._updating_state() as state:
            change(state)

    def _kept_policy(self, now: dt.datetime) -> VerifiedPolicy | None:
        """The last good policy, if it is still good by the same rule (it may have expired)."""
        data = self._kept_bytes()
        if data is None:
            return None
        try:
            return self.admit(data, now, self.state(), allow_expired=True)
        except PolicyRejected:
            return None

    def _in_force(self, policy: VerifiedPolicy, where: str, now: dt.datetime) -> tuple[PolicySource, dict[str, Any]]:
        payload = policy.payload
        expired = now > parse_time(payload["expires_at"])
        exemptions = () if expired else policy.exemptions
        source = PolicySource(where, policy.apps, exemptions, 0, frozenset(), frozenset(), policy.digest)
        info: dict[str, Any] = {"version": policy.version, "digest": policy.digest, "issued_at": payload["issued_at"],
                                "expires_at": payload["expires_at"], "state": "expired" if expired else "valid",
                                "exemptions_honoured": not expired, "host_name": payload["host"]["name"],
                                "host_groups": payload["host"]["groups"]}
        if expired:
            info["note"] = (f"policy expired at {payload['expires_at']} without a replacement: the ban list stays "
                            "in force, its exemptions are no longer honoured")
        info["exemptions"] = [exemption.id for exemption in source.exemptions]  # what the fleet view calls applied
        rejection = self.state().get("last_rejection")
        if rejection:
            info["last_rejection"] = rejection
        return source, info
