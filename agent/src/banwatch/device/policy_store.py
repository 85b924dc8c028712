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
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from banwatch.core.atomic import write_atomic
from banwatch.core.input_file import STDIN
from banwatch.core.policy.verify import PolicyRejected, VerifiedPolicy, read_policy_file, verify_policy
from banwatch.core.timestamps import isoformat, parse_time
from banwatch.device import identity
from banwatch.device.config import AgentConfig

STATE_FILE = "policy-state.json"
STATE_LOCK = "policy-state.lock"
KEPT_FILE = "policy-last-good.json"  # the last policy that passed `admit`, whole, in the state directory
INSTALLED, UNCHANGED, REJECTED = "installed", "unchanged", "rejected"


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
        return verify_policy(data, self.config.trusted_keys, machine_id=identity.machine_id(self.root),
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

    def load(self, now: dt.datetime) -> tuple[VerifiedPolicy, dict[str, Any]]:
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
            in_force, info = self._in_force(kept, now)
            info.update(rejected=record, last_rejection=record)
            return in_force, info
        if policy.version != state.get("highest_version") or self._kept_bytes() != data:
            self._record(lambda current: self._adopt(current, policy, data, now))
        return self._in_force(policy, now)

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

    def _in_force(self, policy: VerifiedPolicy, now: dt.datetime) -> tuple[VerifiedPolicy, dict[str, Any]]:
        """The policy to enforce (an expired one without its exemptions) and what reports say of it."""
        payload = policy.payload
        expired = now > parse_time(payload["expires_at"])
        in_force = replace(policy, exemptions=()) if expired else policy
        info: dict[str, Any] = {"version": policy.version, "digest": policy.digest, "issued_at": payload["issued_at"],
                                "expires_at": payload["expires_at"], "state": "expired" if expired else "valid",
                                "exemptions_honoured": not expired, "host_name": payload["host"]["name"],
                                "host_groups": payload["host"]["groups"]}
        if expired:
            info["note"] = (f"policy expired at {payload['expires_at']} without a replacement: the ban list stays "
                            "in force, its exemptions are no longer honoured")
        info["exemptions"] = [exemption.id for exemption in in_force.exemptions]  # what the fleet view calls applied
        rejection = self.state().get("last_rejection")
        if rejection:
            info["last_rejection"] = rejection
        return in_force, info
