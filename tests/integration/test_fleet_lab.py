"""The whole reporting chain on fresh lab devices, as `make demo` runs it: agents deployed by
Ansible scan, sign and ship through the collector's OpenSSH drop box; the fleet store ingests;
the fleet view shows the exact state of every host."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

from banwatch.core.report.envelope import REPORT_FILE_SUFFIX, claimed_host
from banwatch.fleet.defaults import fleet_defaults
from tests.integration.conftest import Lab, banwatch

pytestmark = pytest.mark.lab


def fleet(lab: Lab, command: str, *args: str) -> tuple[int, Any]:
    """`banwatch fleet COMMAND --format json` with the lab's store, inventory and keys; (exit code, JSON)."""
    paths = fleet_defaults(str(lab.directory / "fleet.yml"))
    options = ["--store", paths.store, "--inventory", str(lab.inventory)]
    if command == "exemptions":
        options += ["--policy", str(paths.policy or "inventory/example/policy")]
    result = banwatch("fleet", command, *options, *args, "--format", "json", check=False)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def wait_for_reports_from(dropbox: str, hosts: set[str], *, seconds: float) -> bool:
    """True once the drop box holds a report from every one of `hosts` (by the host each claims)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        senders = set()
        for name in os.listdir(dropbox):
            if name.endswith(REPORT_FILE_SUFFIX) and not name.startswith("."):
                with open(os.path.join(dropbox, name), "rb") as handle:
                    senders.add(claimed_host(handle.read()))
        if hosts <= senders:
            return True
        time.sleep(1)
    return False


def test_reports_travel_through_the_collector_and_the_fleet_view_is_exact(fresh_lab: Lab):
    lab = fresh_lab
    for host, name in (("lab-ep-01", "TikTok"), ("lab-ep-03", "TikTok"), ("lab-ep-04", "TikTok LIVE Studio")):
        lab.lab("run", host, "--as", name, "--", "sleep", "600")
    lab.lab("install-package", "lab-ep-02", "tiktok-desktop", "2.1.0")
    site = lab.playbook("playbooks/site.yml")
    assert site.returncode == 0, site.stdout[-4000:]
    paths = fleet_defaults(str(lab.directory / "fleet.yml"))
    assert paths.dropbox is not None
    # The running agents report on their own: each scans with its new policy, signs the report
    # into its spool, and its shipper delivers it to the collector.
    assert wait_for_reports_from(paths.dropbox, {f"lab-ep-0{n}" for n in range(1, 5)}, seconds=90)
    report_now = lab.playbook("playbooks/report_now.yml")
    assert report_now.returncode == 0, report_now.stdout[-4000:]
    ingest = banwatch("fleet", "ingest", "--store", paths.store, "--from", paths.dropbox,
                      "--enrolled", str(paths.enrolled), check=False)
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr  # nothing refused

    code, rows = fleet(lab, "status")
    assert code == 1  # hosts in violation
    states = {row["host"]: row["state"] for row in rows}
    assert states == {"lab-ep-01": "violation", "lab-ep-02": "violation", "lab-ep-03": "exempt",
                      "lab-ep-04": "violation"}

    _, view = fleet(lab, "exemptions")
    press = next(row for row in view["exemptions"] if row["id"] == "EX-2026-014")
    assert [(h["host"], h["cover"], h["app_present"]) for h in press["hosts"]] == [("lab-ep-03", "applied", True)]
    assert {(u["app"], u["host"]) for u in view["present_without_cover"]} == {
        ("tiktok", "lab-ep-01"), ("tiktok", "lab-ep-02"), ("tiktok", "lab-ep-04")}

    installed = json.loads(lab.ssh("lab-ep-01", "cat /etc/ansible/facts.d/banwatch.fact").stdout)
    code, rollout = fleet(lab, "rollout", "--policy-version", str(installed["policy_version"]))
    assert code == 0, rollout
