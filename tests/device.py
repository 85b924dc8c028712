"""A real device setup in a temp directory: agent.yml, a trusted key, and signed policies
installed the way `policy install` does it, plus banned programs with names no one else uses.

The agent on this machine sees every process of every user (and of every lab), so the apps
here carry a random tag, and each banned binary is a copy of `sleep` with random bytes
appended: its SHA-256 is its own, never that of the system's `sleep`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from banwatch.control.ansible_inventory import InventoryHost
from banwatch.control.effective import build_payloads
from banwatch.control.policy_source import load_policy_source
from banwatch.core import signing
from banwatch.core.policy.payload import PAYLOAD_TYPE
from banwatch.core.report.schema import VIOLATION
from banwatch.device import identity
from banwatch.device.config import AgentConfig, load_config
from banwatch.device.detect.verdicts import HostIdentity
from banwatch.device.policy_store import INSTALLED, PolicyStore
from banwatch.device.report.build import build_report
from banwatch.device.report.finding import ActionRecord, ReportedFinding, Rule
from banwatch.device.report.model import Report
from banwatch.device.service.daemon import Agent
from banwatch.device.sources.observations import KIND_PROCESS, Observation, SourceResult

HOST = "bw-test-device"


def app(app_id: str, action: str = "kill", **match: list[str]) -> dict[str, Any]:
    return {"id": app_id, "name": app_id, "reason": "test ban", "severity": "high", "action": action,
            "match": match}


def unique_tag() -> str:
    return f"bwt{secrets.token_hex(3)}"


def banned_copy(folder: Path, name: str) -> Path:
    """A runnable copy of `sleep` whose bytes (and so SHA-256) are its own."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    sleep = shutil.which("sleep")
    assert sleep
    shutil.copy2(sleep, target)
    with open(target, "ab") as handle:
        handle.write(secrets.token_bytes(32))
    return target


def wait_exec(proc: subprocess.Popen[bytes], image: str, timeout: float = 5) -> None:
    """Wait until the child's exec has landed (its /proc exe is the new image)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.readlink(f"/proc/{proc.pid}/exe") == image:
                return
        except OSError:
            pass
        time.sleep(0.005)


@dataclass
class Device:
    root: Path
    groups: tuple[str, ...] = ("general",)
    host: str = HOST
    machine_id: str | None = None  # default: this machine's; "": bound to the host name alone
    version: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        keys = signing.generate(str(self.root / "keys"))
        self.key = signing.load_private_key(keys.private)
        self.public_key = Path(keys.public)
        self.write_config()

    @property
    def config_path(self) -> Path:
        return self.root / "agent.yml"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    def config_document(self, base: str) -> dict[str, Any]:
        """agent.yml for a device whose files live under `base` (this directory, or one on a lab endpoint)."""
        return {"host_name": self.host, "trusted_keys": [f"{base}/keys/banwatch-policy.pub"],
                "policy_path": f"{base}/policy.json", "state_dir": f"{base}/state", "run_dir": f"{base}/run",
                "log_file": f"{base}/agent.log", **self.extra}

    def write_config(self, **settings: Any) -> None:
        self.extra.update(settings)
        self.config_path.write_text(yaml.safe_dump(self.config_document(str(self.root))))

    def config(self) -> AgentConfig:
        return load_config(str(self.config_path))

    def signed_policy(self, apps: list[dict[str, Any]], exemptions: list[dict[str, Any]] | None = None) -> bytes:
        """A policy for this device with these apps, signed, at the next version."""
        self.version += 1
        source_dir = self.root / f"source-{self.version}"
        source_dir.mkdir()
        (source_dir / "banlist.yml").write_text(yaml.safe_dump({"schema": 1, "apps": apps}))
        (source_dir / "exemptions.yml").write_text(yaml.safe_dump({"schema": 1, "exemptions": exemptions or []}))
        now = dt.datetime.now(dt.timezone.utc)
        source = load_policy_source(source_dir, now.date())
        host = InventoryHost(self.host, set(self.groups),
                             {"banwatch_machine_id": identity.machine_id() if self.machine_id is None
                              else self.machine_id})
        payload = build_payloads(source, [host], version=self.version, issued_at=now)[self.host]
        return signing.canonical_json(signing.sign(signing.canonical_json(payload), PAYLOAD_TYPE, [self.key]))

    def install(self, apps: list[dict[str, Any]], exemptions: list[dict[str, Any]] | None = None) -> int:
        """Sign a policy with these apps and install it as `policy install` does; its version."""
        signed = self.root / f"policy-{self.version + 1}.json"
        signed.write_bytes(self.signed_policy(apps, exemptions))
        result = PolicyStore(self.config()).install(str(signed))
        assert result.result == INSTALLED, result
        return self.version

    def agent_command(self) -> list[str]:
        return [sys.executable, "-m", "banwatch.device.cli.main", "run", "--config", str(self.config_path)]


class CollectingSink:
    """A ReportSink that keeps the document of each report it is given: what the spool receives
    through the same seam (before the wire's bounds, which the spool's own tests cover)."""

    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []

    def put(self, report: Report) -> None:
        self.reports.append(report.to_document())

    def depth(self) -> int:
        return 0

    def findings(self, app_id: str) -> list[dict[str, Any]]:
        return [f for r in self.reports for f in r["findings"] if f["app"] == app_id]


def reported_finding(verdict: str = VIOLATION, app_id: str = "tiktok", pid: int = 4242) -> ReportedFinding:
    """A finding as a detection makes it: a running process of `app_id`, matched by its name."""
    return ReportedFinding(app=app_id, app_name=app_id.title(), severity="high", verdict=verdict,
                           rule=Rule("process_names", app_id),
                           evidence=Observation("processes", KIND_PROCESS, app_id, pid=pid, exe=f"/opt/{app_id}"),
                           response=ActionRecord("kill" if verdict == VIOLATION else "report"))


def detection_report(findings: Iterable[ReportedFinding] = (), host: str = "lab-ep-01") -> Report:
    """A report as the daemon starts a batch of detections, holding `findings`."""
    report = build_report(HostIdentity(host, frozenset({"general"})), verdicts=[],
                          results=[SourceResult("processes", "ok")], policy={"version": 1, "state": "valid"},
                          generated_at=dt.datetime.now(dt.timezone.utc))
    report.findings.extend(findings)
    report.trigger = "exec"
    return report


def wait_for(condition: Callable[[], Any], timeout: float = 10, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def running(agent: Agent) -> Iterator[Agent]:
    """The agent's loop in a thread, from its first scan until stopped (as SIGTERM would)."""
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            agent.serve()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            failure.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        wait_for(lambda: agent.status["last_scan"] or failure, what="the first scan")
        yield agent
    finally:
        agent.request_stop()
        thread.join(30)
    assert not failure, failure
    assert not thread.is_alive()
