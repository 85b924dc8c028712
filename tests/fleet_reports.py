"""Real signed reports for fleet-store tests: real device keys, the real scan pipeline from
observations to report (matcher, exemption check, `build_report`), sealed as devices seal them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from banwatch.control.policy_source import PolicySource
from banwatch.core import signing
from banwatch.core.report.envelope import report_file_name, seal_report
from banwatch.core.timestamps import isoformat
from banwatch.device.detect.matcher import Matcher
from banwatch.device.detect.verdicts import HostIdentity, decide
from banwatch.device.report.build import build_report
from banwatch.device.sources.observations import Observation, SourceResult
from tests.policies import device_policy

POLICY_VERSION = 7


def tiktok_process(pid: int = 4242, name: str = "TikTok") -> Observation:
    return Observation(source="processes", kind="process", name=name, pid=pid, exe=f"/opt/tiktok/{name}")


def tiktok_package() -> Observation:
    return Observation(source="dpkg", kind="package", name="tiktok-desktop", version="2.1.0")


class Fleet:
    """Devices with their own keys, enrolled in `enrolled/`, uploading into `dropbox/`."""

    def __init__(self, root: Path, source: PolicySource, hosts: dict[str, Sequence[str]]) -> None:
        self.root = root
        self.source = source
        self.groups = {name: frozenset(groups) for name, groups in hosts.items()}
        self.keys = {name: Ed25519PrivateKey.generate() for name in hosts}
        self.enrolled = root / "enrolled"
        self.dropbox = root / "dropbox"
        self.enrolled.mkdir(parents=True, exist_ok=True)
        self.dropbox.mkdir(parents=True, exist_ok=True)
        for name, key in self.keys.items():
            (self.enrolled / f"{name}.pub").write_bytes(signing.public_pem(key.public_key()))

    def inventory_text(self) -> str:
        by_group: dict[str, list[str]] = {}
        for name, groups in self.groups.items():
            for group in groups:
                by_group.setdefault(group, []).append(name)
        lines = ["all:", "  children:", "    endpoints:", "      children:"]
        for group, names in sorted(by_group.items()):
            lines += [f"        {group}:", "          hosts:"] + [f"            {n}:" for n in sorted(names)]
        return "\n".join(lines) + "\n"

    def report(self, host: str, generated_at: dt.datetime, observations: Sequence[Observation] = (),
               *, policy_version: int = POLICY_VERSION, agent_version: str = "0.1.0",
               rejection: str | None = None, failed_source: str | None = None, dropped: int = 0,
               detection: str | None = None) -> dict[str, Any]:
        """What the agent on `host` reports after a scan that saw `observations`."""
        identity = HostIdentity(host, self.groups[host])
        policy = device_policy(self.source, host, self.groups[host], version=policy_version,
                               issued_at=generated_at - dt.timedelta(hours=1))
        payload, digest = policy.payload, policy.digest
        findings = Matcher(policy.apps).match_all(observations)
        verdicts = decide(findings, policy.exemptions, identity, generated_at.date())
        results = [SourceResult("processes", "ok", [o for o in observations if o.source == "processes"]),
                   SourceResult("dpkg", "error" if failed_source == "dpkg" else "ok",
                                [o for o in observations if o.source == "dpkg"],
                                error="dpkg database unreadable" if failed_source == "dpkg" else None)]
        info: dict[str, Any] = {"version": policy_version, "digest": digest, "issued_at": payload["issued_at"],
                                "expires_at": payload["expires_at"], "state": "valid",
                                "exemptions": [e.id for e in policy.exemptions]}
        if rejection:
            info["last_rejection"] = {"at": isoformat(generated_at), "file": "/tmp/policy.json", "reason": rejection}
        built = build_report(identity, verdicts=verdicts, results=results, policy=info, generated_at=generated_at)
        built.agent = dataclasses.replace(built.agent, version=agent_version, detection=detection)  # the daemon's
        report = built.to_document()
        if dropped:
            report["delivery"] = {"dropped": dropped}  # what a full spool adds
        return report

    def drop(self, report: dict[str, Any], *, signer: str | None = None, name: str | None = None) -> Path:
        """Seal with the device's key (or another device's, to forge) and upload to the drop box."""
        path = self.dropbox / (name or report_file_name(report))
        path.write_bytes(seal_report(report, self.keys[signer or report["host"]["name"]]))
        return path


# The demo fleet: the lab's six endpoints as `make demo` plants them, plus one host per other state.
DEMO_HOSTS: dict[str, Sequence[str]] = {
    "lab-ep-01": ["general"], "lab-ep-02": ["general"], "lab-ep-03": ["general"], "lab-ep-04": ["general"],
    "lab-ep-05": ["press_office"], "lab-ep-06": ["classified"], "lab-ep-07": ["general"], "lab-ep-08": ["general"],
    "lab-ep-09": ["general"],
}
DEMO_STATES = {
    "lab-ep-01": "violation",   # TikTok running
    "lab-ep-02": "compliant",
    "lab-ep-03": "violation",   # the tiktok-desktop package installed
    "lab-ep-04": "stale",       # last heard from two days ago
    "lab-ep-05": "exempt",      # TikTok running, press office, EX-2026-014
    "lab-ep-06": "violation",   # TikTok LIVE Studio on a classified host: never exemptable
    "lab-ep-07": "error",       # rejected a policy
    "lab-ep-08": "error",       # its dpkg source failed
    "lab-ep-09": "unreported",  # in the inventory, never heard from
}


def demo_fleet(root: Path, source: PolicySource, now: dt.datetime) -> Fleet:
    """Every demo host's reports in the drop box (lab-ep-01 twice: an older clean scan first)."""
    fleet = Fleet(root, source, DEMO_HOSTS)
    earlier = now - dt.timedelta(minutes=10)
    fleet.drop(fleet.report("lab-ep-01", earlier))
    fleet.drop(fleet.report("lab-ep-01", now, [tiktok_process()]))
    fleet.drop(fleet.report("lab-ep-02", now))
    fleet.drop(fleet.report("lab-ep-03", now, [tiktok_package()]))
    fleet.drop(fleet.report("lab-ep-04", now - dt.timedelta(days=2)))
    fleet.drop(fleet.report("lab-ep-05", now, [tiktok_process()]))
    fleet.drop(fleet.report("lab-ep-06", now, [tiktok_process(name="TikTok LIVE Studio")]))
    fleet.drop(fleet.report("lab-ep-07", now, rejection="rollback: version 6 is older than version 7, the highest "
                                                         "this device has installed"))
    fleet.drop(fleet.report("lab-ep-08", now, failed_source="dpkg"))
    return fleet
