"""The operator's scan for real: agents deployed and their signed policies pushed on fresh lab
endpoints, TikTok planted on some, then banwatch.deploy.scan has every agent scan with the policy
installed on its device and brings each report home for `banwatch reports`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import Lab, banwatch

pytestmark = pytest.mark.lab

ENDPOINTS = ["lab-ep-01", "lab-ep-02", "lab-ep-03", "lab-ep-04"]  # general x2, press_office, classified


def installed_policy_version(lab: Lab, host: str) -> int:
    fact = lab.ssh(host, "cat /etc/ansible/facts.d/banwatch.fact")
    assert fact.returncode == 0, fact.stderr
    return json.loads(fact.stdout)["policy_version"]


def test_scan_gives_each_host_the_verdict_of_its_installed_policy(fresh_lab: Lab, tmp_path: Path):
    lab = fresh_lab
    deployed = lab.playbook("banwatch.deploy.site")
    assert deployed.returncode == 0, deployed.stdout[-4000:]
    for host in ("lab-ep-01", "lab-ep-03", "lab-ep-04"):  # general, press_office, classified
        lab.lab("run", host, "--as", "TikTok", "--", "sleep", "600")

    checked = lab.playbook("banwatch.deploy.scan", "--check")  # the scan reads only: it runs, nothing lands
    assert checked.returncode == 0, checked.stdout[-3000:]
    reports = lab.directory / "reports"  # the default: reports/ in the inventory's directory
    assert not reports.exists()
    run = lab.playbook("banwatch.deploy.scan")
    assert run.returncode == 0, run.stdout[-3000:]
    assert "lab-ep-01: violation (1 violation(s), 0 exempt)" in run.stdout
    assert "lab-ep-03: compliant (0 violation(s), 1 exempt)" in run.stdout

    verdicts = {}
    for path in sorted(reports.glob("*.json")):
        report = json.loads(path.read_text())
        assert report["host"]["hostname"] == path.stem  # each report came from its own endpoint
        assert report["policy"]["version"] == installed_policy_version(lab, path.stem)  # its signed policy
        tiktok = [f for f in report["findings"] if f["app"] == "tiktok" and f["evidence"].get("name") == "TikTok"]
        verdicts[path.stem] = [(f["verdict"], f["exemption"]) for f in tiktok]
    assert verdicts == {
        "lab-ep-01": [("violation", None)],
        "lab-ep-02": [],
        "lab-ep-03": [("exempt", "EX-2026-014")],
        "lab-ep-04": [("violation", None)],
    }
    for host in ENDPOINTS:  # no policy source was sent to any device
        assert lab.ssh(host, "test ! -e /etc/banwatch/source").returncode == 0

    table = banwatch("reports", str(reports), check=False)
    assert table.returncode == 1, table.stderr  # hosts in violation
    assert all(host in table.stdout for host in ENDPOINTS)

    elsewhere = tmp_path / "scans"
    again = lab.playbook("banwatch.deploy.scan", "-e", f"banwatch_scan_report_dir={elsewhere}", "--limit", "lab-ep-02")
    assert again.returncode == 0, again.stdout[-3000:]
    assert [path.name for path in elsewhere.iterdir()] == ["lab-ep-02.json"]


def test_a_scan_the_agent_cannot_make_fails_that_host_with_the_agents_reason(fresh_lab: Lab, tmp_path: Path):
    """Exit 2 (an input error: here a configuration that is not there) is a failure, not a report."""
    reports = tmp_path / "reports"
    run = fresh_lab.playbook("banwatch.deploy.scan", "--limit", "lab-ep-02",
                             "-e", f"banwatch_scan_report_dir={reports}",
                             "-e", "banwatch_agent_config_dir=/nonexistent/banwatch")
    assert run.returncode != 0
    assert "fatal: [lab-ep-02]" in run.stdout and "/nonexistent/banwatch/agent.yml" in run.stdout, run.stdout[-3000:]
    assert not list(reports.glob("*.json"))
