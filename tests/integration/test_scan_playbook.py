"""The demo's job for real: plant TikTok on endpoints, scan every endpoint through Ansible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import Lab

pytestmark = pytest.mark.lab


def test_scan_playbook_gives_each_host_its_verdict(lab: Lab, tmp_path: Path):
    """Each device scans against its own signed policy, so the agent and the policies go first."""
    for playbook in ("playbooks/deploy_agent.yml", "playbooks/push_policy.yml"):
        done = lab.playbook(playbook)
        assert done.returncode == 0, done.stdout[-3000:]
    for host in ("lab-ep-01", "lab-ep-03", "lab-ep-04"):  # general, press_office, classified
        lab.lab("run", host, "--as", "TikTok", "--", "sleep", "600")
    reports = tmp_path / "reports"
    run = lab.playbook("playbooks/scan.yml", "-e", f"banwatch_scan_report_dir={reports}")
    assert run.returncode == 0, run.stdout[-3000:]
    verdicts = {}
    for path in sorted(reports.glob("*.json")):
        report = json.loads(path.read_text())
        assert report["host"]["hostname"] == path.stem  # each report came from its own endpoint
        tiktok = [f for f in report["findings"] if f["app"] == "tiktok" and f["evidence"].get("name") == "TikTok"]
        verdicts[path.stem] = [(f["verdict"], f["exemption"]) for f in tiktok]
    assert verdicts == {
        "lab-ep-01": [("violation", None)],
        "lab-ep-02": [],
        "lab-ep-03": [("exempt", "EX-2026-014")],
        "lab-ep-04": [("violation", None)],
    }
