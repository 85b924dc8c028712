"""The collection as others use it, against fresh lab endpoints.

Two endpoints laid out elsewhere (every banwatch_agent directory variable moved, set once in the
inventory as host variables): a rollout passes its health gate, the agent runs from there, a
re-run changes nothing, and every other playbook finds the agent where the role put it.

The other two endpoints and the collector from the collection's built tarball, installed into a
project directory outside the repository: `ansible-playbook banwatch.deploy.site` with the
project's own inventory, whose control-node files land beside it by default."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import EXAMPLE_POLICY, REPO
from tests.integration.conftest import Lab, device_root, recap
from tests.repo_vars import ROLE_VARS

pytestmark = pytest.mark.lab

BIN = Path(sys.executable).parent
COLLECTION = REPO / "ansible_collections" / "banwatch" / "deploy"
FAST_GATE = ["-e", "banwatch_gate_retries=15", "-e", "banwatch_gate_delay=1"]

# lab-ep-01 and lab-ep-02: a device layout other than the roles' defaults, and no collector.
MOVED_HOSTS = ["lab-ep-01", "lab-ep-02"]
MOVED = {
    "banwatch_agent_base_dir": "/opt/custom/banwatch",
    "banwatch_agent_config_dir": "/etc/custom-banwatch",
    "banwatch_agent_state_dir": "/var/lib/custom-banwatch",
    "banwatch_agent_cache_dir": "/var/cache/custom-banwatch",
    "banwatch_agent_run_dir": "/run/custom-banwatch",
    "banwatch_agent_log_dir": "/var/log/custom-banwatch",
    "banwatch_agent_collector_host": "",
}
AGENT = "/opt/custom/banwatch/current/bin/banwatch-agent"
CONFIG = "/etc/custom-banwatch/agent.yml"
DEFAULT_PATHS = ["opt/banwatch", "etc/banwatch", "var/lib/banwatch", "var/cache/banwatch", "run/banwatch",
                 "var/log/banwatch"]
# lab-ep-03, lab-ep-04 and the collector: from the built collection, in a project of their own.
PROJECT_HOSTS = ["lab-ep-03", "lab-ep-04"]


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    return result.stdout


def agent_status(lab: Lab, host: str, agent: str, config: str) -> dict[str, Any]:
    result = lab.ssh(host, f"{agent} status --json --config {config}")
    assert result.returncode in (0, 3), result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def moved_layout(fresh_lab: Lab):
    """MOVED for MOVED_HOSTS, as host variables in the lab's inventory directory; removed after."""
    folder = fresh_lab.inventory.parent / "host_vars"
    folder.mkdir(exist_ok=True)
    for host in MOVED_HOSTS:
        (folder / f"{host}.yml").write_text(yaml.safe_dump(MOVED))
    yield fresh_lab
    shutil.rmtree(folder)


def test_a_device_laid_out_elsewhere_rolls_out_through_the_health_gate(moved_layout: Lab, tmp_path: Path):
    lab, limit = moved_layout, ["--limit", ",".join(MOVED_HOSTS)]
    checked = ok(lab.playbook("banwatch.deploy.rollout", "--check", "--diff", *limit))
    assert "would install agent release" in checked and "into /opt/custom/banwatch/releases/" in checked

    output = ok(lab.playbook("banwatch.deploy.rollout", *limit, *FAST_GATE))
    for host in MOVED_HOSTS:  # each wave's gate ran, and passed
        assert re.search(r"TASK \[Health gate \| Wait for the agent[^\n]*\n(?:FAILED - RETRYING[^\n]*\n)*"
                         rf"ok: \[{host}\]", output), output[-5000:]
    for host in MOVED_HOSTS:
        root = device_root(lab, host)
        status = agent_status(lab, host, AGENT, CONFIG)
        assert status["running"] and status["policy"]["installed_version"] is not None
        release = os.readlink(root / "opt/custom/banwatch/current")
        assert release.startswith("/opt/custom/banwatch/releases/")
        command = lab.ssh(host, f"tr '\\0' ' ' < /proc/{status['pid']}/cmdline").stdout
        assert command.startswith(f"{release}/bin/python ") and f" run --config {CONFIG}" in command, command
        assert (root / "etc/custom-banwatch/policy.json").is_file()
        assert (root / "var/lib/custom-banwatch/keys/device.key").is_file()
        assert (root / "var/cache/custom-banwatch").is_dir() and (root / "var/log/custom-banwatch/agent.log").is_file()
        # Nothing in the default places (the lab makes some of them, empty, on every endpoint).
        assert [path for path in DEFAULT_PATHS if (root / path).exists() and any((root / path).iterdir())] == []
        fact = json.loads((root / "etc/ansible/facts.d/banwatch.fact").read_text())
        assert fact["agent_release"].startswith("/opt/custom/banwatch/releases/")

    again = recap(ok(lab.playbook("banwatch.deploy.rollout", *limit, *FAST_GATE)))
    assert {host: again[host]["changed"] for host in MOVED_HOSTS} == dict.fromkeys(MOVED_HOSTS, 0)

    # Every other operator job finds the agent, its configuration and its spool where the role put them.
    reported = ok(lab.playbook("banwatch.deploy.report_now", *limit))
    assert "spooled (no collector" in reported
    collected = ok(lab.playbook("banwatch.deploy.collect", "--check", *limit))
    for host in MOVED_HOSTS:  # from the spool under the moved state directory
        assert re.search(rf'\[{host}\] => {{\s*"msg": "would fetch [1-9]', collected), collected[-3000:]
    ok(lab.playbook("banwatch.deploy.remediate", "--check", *limit))
    reports = tmp_path / "reports"
    ok(lab.playbook("banwatch.deploy.scan", "-e", f"banwatch_scan_report_dir={reports}", *limit))
    assert sorted(path.stem for path in reports.glob("*.json")) == MOVED_HOSTS


@pytest.fixture(scope="module")
def installed_collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The collection built from the repository and installed from its tarball into a temp path
    (run from there: the repository's ansible.cfg would show ansible-galaxy the source as installed)."""
    folder = tmp_path_factory.mktemp("collection")
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    built = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", str(COLLECTION),
                            "--output-path", str(folder / "dist")], capture_output=True, text=True, check=False,
                           cwd=folder, env=env)
    assert built.returncode == 0, built.stdout + built.stderr
    [tarball] = (folder / "dist").glob("banwatch-deploy-*.tar.gz")
    installed = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--offline", str(tarball),
                                "-p", str(folder / "collections")], capture_output=True, text=True, check=False,
                               cwd=folder, env=env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (folder / "collections" / "ansible_collections" / "banwatch" / "deploy" / "MANIFEST.json").is_file()
    return folder / "collections"


def project(tmp_path: Path, lab: Lab, collections: Path) -> tuple[Path, dict[str, str]]:
    """A project directory outside the repository: its ansible.cfg, and its inventory (the lab's
    hosts and connection) with the policy source beside it. It sets what only it can know (where
    the agent's source and wheels are); its control-node files default to the inventory's directory."""
    folder = tmp_path / "project"
    inventory = folder / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    document = yaml.safe_load(lab.inventory.read_text())
    for name in ("banwatch_policy_build_dir", "banwatch_policy_source_dir", "banwatch_agent_enrol_dir",
                 "banwatch_collector_enrol_dir", "banwatch_collect_dir"):
        document["all"]["vars"].pop(name, None)
    (inventory / "hosts.yml").write_text(yaml.safe_dump(document, sort_keys=False))
    (inventory / "group_vars" / "all.yml").write_text(yaml.safe_dump({
        "banwatch_agent_source_dir": ROLE_VARS["banwatch_agent_source_dir"],
        "banwatch_agent_wheel_cache": ROLE_VARS["banwatch_agent_wheel_cache"]}))
    shutil.copytree(EXAMPLE_POLICY, inventory / "policy")
    (folder / "ansible.cfg").write_text(f"[defaults]\ninventory = inventory/hosts.yml\n"
                                        f"collections_path = {collections}\nhost_key_checking = True\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    return folder, {**env, "ANSIBLE_CONFIG": str(folder / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}


def test_the_built_collection_runs_site_from_a_project_outside_the_repository(
        fresh_lab: Lab, installed_collection: Path, tmp_path: Path):
    folder, env = project(tmp_path, fresh_lab, installed_collection)
    assert not folder.resolve().is_relative_to(REPO)

    def run(*command: str) -> str:
        return ok(subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=folder, env=env,
                                 check=False))

    listed = run(str(BIN / "ansible-galaxy"), "collection", "list", "banwatch.deploy")
    assert str(installed_collection) in listed and str(REPO) not in listed  # the tarball's copy, not the source
    limit = ["--limit", ",".join([*PROJECT_HOSTS, "lab-collector"])]
    run(str(BIN / "ansible-playbook"), "banwatch.deploy.site", *limit)
    inventory = folder / "inventory"
    for host in PROJECT_HOSTS:
        status = agent_status(fresh_lab, host, "/opt/banwatch/current/bin/banwatch-agent", "/etc/banwatch/agent.yml")
        assert status["running"] and status["policy"]["installed_version"] is not None
        assert (inventory / "enrolled" / "devices" / f"{host}.pub").is_file()  # beside the inventory
        assert (inventory / "policies" / f"{host}.policy.json").is_file()
    assert list((inventory / "bundles").glob("*.tar*"))

    again = recap(run(str(BIN / "ansible-playbook"), "banwatch.deploy.site", *limit))
    assert {host: counters["changed"] for host, counters in again.items()} == dict.fromkeys(
        [*PROJECT_HOSTS, "lab-collector"], 0)
    reported = run(str(BIN / "ansible-playbook"), "banwatch.deploy.report_now", "--limit", ",".join(PROJECT_HOSTS))
    assert reported.count("shipped to the collector") == len(PROJECT_HOSTS)
