"""The Ansible roles and playbooks for real, against the fleet lab's endpoints, in the order an
operator uses them: check mode, deploy and push, re-run, a ban-list change, a broken rollout
stopped at the canary, a good rollout in waves, rollbacks, and remediation of a package."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.integration.conftest import Lab, device_root, recap

pytestmark = pytest.mark.lab

ENDPOINTS = ["lab-ep-01", "lab-ep-02", "lab-ep-03", "lab-ep-04"]  # general x2, press_office, classified
CANARY, PRESS, CLASSIFIED = "lab-ep-01", "lab-ep-03", "lab-ep-04"
AGENT = "/opt/banwatch/current/bin/banwatch-agent"
# Everything the roles may write on a device.
DEVICE_PATHS = ["opt/banwatch", "etc/banwatch", "var/lib/banwatch", "var/cache/banwatch", "etc/ansible",
                "run/banwatch", "var/log/banwatch"]
FAST_GATE = ["-e", "banwatch_gate_retries=10", "-e", "banwatch_gate_delay=1"]


def snapshot(lab: Lab, host: str) -> dict[str, tuple[int, int, int]]:
    """(mode, size, mtime) of every file and directory the roles could touch on the device."""
    root = device_root(lab, host)
    seen = {}
    for relative in DEVICE_PATHS:
        for folder, dirs, files in os.walk(root / relative):
            for name in [*dirs, *files]:
                info = os.lstat(os.path.join(folder, name))
                seen[os.path.relpath(os.path.join(folder, name), root)] = (info.st_mode, info.st_size,
                                                                           info.st_mtime_ns)
    return seen


def agent_status(lab: Lab, host: str) -> dict[str, Any]:
    result = lab.ssh(host, f"{AGENT} status --json --config /etc/banwatch/agent.yml")
    assert result.returncode in (0, 3), result.stderr
    return json.loads(result.stdout)


def installed_payload(lab: Lab, host: str) -> dict[str, Any]:
    envelope = json.loads((device_root(lab, host) / "etc/banwatch/policy.json").read_text())
    return json.loads(base64.b64decode(envelope["payload"]))


def run_ok(lab: Lab, playbook: str, *args: str) -> str:
    result = lab.playbook(playbook, *args)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout


def agent_source(tmp_path: Path, version: str, *, broken: bool = False) -> Path:
    """A copy of the agent's source as a new version; `broken` makes `banwatch-agent run` fail at start."""
    source = tmp_path / f"agent-{version}"
    shutil.copytree(REPO / "agent", source, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", "build"))
    init = source / "src" / "banwatch" / "__init__.py"
    init.write_text(re.sub(r'__version__ = "[^"]+"', f'__version__ = "{version}"', init.read_text()))
    if broken:  # the agent installs and answers --version, but its service dies at once
        with open(source / "src" / "banwatch" / "device" / "service" / "daemon.py", "a", encoding="utf-8") as daemon:
            daemon.write("\n\ndef _broken_run(self: Agent) -> int:\n"
                         "    raise SystemExit('deliberately broken build')\n\n\nAgent.run = _broken_run\n")
    return source


@pytest.fixture(scope="module")
def deployed(fresh_lab: Lab) -> Lab:
    """Check mode first (on fresh endpoints it must change nothing), then a real site.yml."""
    lab = fresh_lab
    before = {host: snapshot(lab, host) for host in ENDPOINTS}
    checked = lab.playbook("playbooks/site.yml", "--check", "--diff")
    assert checked.returncode == 0, checked.stdout[-4000:]
    assert "would install agent release" in checked.stdout
    assert {host: snapshot(lab, host) for host in ENDPOINTS} == before
    run_ok(lab, "playbooks/site.yml")
    return lab


def test_deploy_and_push_reach_every_endpoint_and_a_rerun_changes_nothing(deployed: Lab):
    versions = set()
    for host in ENDPOINTS:
        status = agent_status(deployed, host)
        assert status["running"] and status["agent_version"] == status["installed_agent_version"]
        versions.add(status["policy"]["installed_version"])
        fact = json.loads((device_root(deployed, host) / "etc/ansible/facts.d/banwatch.fact").read_text())
        assert fact["policy_version"] == status["policy"]["installed_version"]
        assert fact["agent_release"].endswith(f"/releases/{status['agent_version']}")
    assert len(versions) == 1 and None not in versions
    again = recap(run_ok(deployed, "playbooks/site.yml"))  # the collector too
    assert {host: counters["changed"] for host, counters in again.items()} == dict.fromkeys(
        [*ENDPOINTS, "lab-collector"], 0)


def test_only_the_exempt_group_gets_its_exemption(deployed: Lab):
    exemptions = {host: [e["id"] for e in installed_payload(deployed, host)["exemptions"]] for host in ENDPOINTS}
    assert exemptions == {"lab-ep-01": [], "lab-ep-02": [], PRESS: ["EX-2026-014"], CLASSIFIED: []}
    for host in (PRESS, CLASSIFIED):
        deployed.lab("run", host, "--as", "TikTok", "--", "sleep", "600")
    verdicts = {}
    for host in (PRESS, CLASSIFIED):
        scan = deployed.ssh(host, f"{AGENT} scan --config /etc/banwatch/agent.yml --format json")
        report = json.loads(scan.stdout)
        verdicts[host] = {(f["verdict"], f["exemption"]) for f in report["findings"] if f["app"] == "tiktok"}
    assert verdicts == {PRESS: {("exempt", "EX-2026-014")}, CLASSIFIED: {("violation", None)}}


def test_a_ban_list_change_reaches_every_endpoint_as_a_new_version(deployed: Lab, tmp_path: Path):
    old = agent_status(deployed, CANARY)["policy"]["installed_version"]
    source = tmp_path / "policy"
    shutil.copytree(REPO / "inventory" / "example" / "policy", source)
    banlist = yaml.safe_load((source / "banlist.yml").read_text())
    banlist["apps"][-1]["reason"] = "Under review (amended by the integration test)."
    (source / "banlist.yml").write_text(yaml.safe_dump(banlist, sort_keys=False))
    pushed = recap(run_ok(deployed, "playbooks/push_policy.yml", "-e", f"banwatch_policy_source_dir={source}"))
    assert all(pushed[host]["changed"] >= 1 for host in ENDPOINTS)
    for host in ENDPOINTS:
        assert agent_status(deployed, host)["policy"]["installed_version"] == old + 1
        assert installed_payload(deployed, host)["apps"][-1]["reason"].endswith("integration test).")


def test_a_broken_build_stops_at_the_canary_and_rollback_restores_it(deployed: Lab, tmp_path: Path):
    old = agent_status(deployed, CANARY)["agent_version"]
    broken = agent_source(tmp_path, "0.2.0rc1", broken=True)
    rollout = deployed.playbook("playbooks/rollout.yml", "-e", f"banwatch_agent_source_dir={broken}", *FAST_GATE)
    assert rollout.returncode != 0
    assert f"HEALTH GATE FAILED on {CANARY}" in rollout.stdout
    assert "the agent is not running" in rollout.stdout
    for host in ENDPOINTS[1:]:  # later waves were never touched
        assert agent_status(deployed, host)["agent_version"] == old
        assert os.readlink(device_root(deployed, host) / "opt/banwatch/current").endswith(f"/{old}")
    run_ok(deployed, "playbooks/rollback.yml", "--limit", CANARY, *FAST_GATE)
    status = agent_status(deployed, CANARY)
    assert status["running"] and status["agent_version"] == old


def test_a_good_rollout_goes_through_every_wave_and_rolls_back(deployed: Lab, tmp_path: Path):
    old = agent_status(deployed, CANARY)["agent_version"]
    new = agent_source(tmp_path, "0.2.0")
    output = run_ok(deployed, "playbooks/rollout.yml", "-e", f"banwatch_agent_source_dir={new}", *FAST_GATE)
    batches = re.findall(r"^PLAY \[Rollout \| Update in waves", output, re.MULTILINE)
    assert len(batches) == 3  # 4 hosts in waves of 1, 10% (1), 50% (2): the last wave has none left
    assert {agent_status(deployed, host)["agent_version"] for host in ENDPOINTS} == {"0.2.0"}
    run_ok(deployed, "playbooks/rollback.yml", *FAST_GATE)
    assert {agent_status(deployed, host)["agent_version"] for host in ENDPOINTS} == {old}


def test_remediate_removes_a_banned_package_only_where_it_is_not_exempt(deployed: Lab):
    for host in ("lab-ep-02", PRESS):
        deployed.lab("install-package", host, "tiktok-desktop", "2.1.0")
    checked = run_ok(deployed, "playbooks/remediate.yml", "--check")
    assert "lab-ep-02: would remove dpkg: tiktok-desktop" in checked
    assert f"{PRESS}: would remove" not in checked
    installed = "dpkg-query -W -f='${Status}' tiktok-desktop"
    assert "ok installed" in deployed.ssh("lab-ep-02", installed).stdout  # check mode touched nothing
    removed = recap(run_ok(deployed, "playbooks/remediate.yml"))
    assert removed["lab-ep-02"]["changed"] >= 1 and removed[PRESS]["changed"] == 0
    assert "ok installed" not in deployed.ssh("lab-ep-02", installed).stdout
    assert "ok installed" in deployed.ssh(PRESS, installed).stdout
