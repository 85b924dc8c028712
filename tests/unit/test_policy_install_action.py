"""The banwatch_policy_install action plugin, run by ansible-playbook (local connection) against the
real agent: the policy goes over standard input, the agent's answer becomes the task result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLE_POLICY, REPO

PLUGINS = REPO / "ansible_collections" / "banwatch" / "deploy" / "plugins" / "action"
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Install
      banwatch_policy_install: "{{ install_args }}"
      register: install
      ignore_errors: true
    - name: Keep the result for the test
      ansible.builtin.copy:
        content: "{{ install | to_json }}"
        dest: "{{ result_file }}"
        mode: "0600"
      check_mode: false
"""
AGENT = str(Path(sys.executable).parent / "banwatch-agent")
PRESS_HOST = "ws-press-01.corp.example.gov"


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Signed policies for the example inventory's hosts, and the key that trusts them."""
    folder = tmp_path_factory.mktemp("policies")
    for args in (["keys", "generate", "--out", str(folder / "keys")],
                 ["policy", "build", "--source", str(EXAMPLE_POLICY), "--inventory",
                  str(REPO / "inventory" / "example" / "hosts.yml"), "--key",
                  str(folder / "keys" / "banwatch-policy.key"), "--out", str(folder / "out")]):
        subprocess.run([sys.executable, "-m", "banwatch.cli", *args], check=True, capture_output=True)
    return folder


@pytest.fixture
def device(tmp_path: Path, policies: Path) -> dict[str, str]:
    """A device's agent configuration and paths, all under tmp_path."""
    config = tmp_path / "agent.yml"
    config.write_text(f"host_name: {PRESS_HOST}\ntrusted_keys: [{policies / 'keys' / 'banwatch-policy.pub'}]\n"
                      f"policy_path: {tmp_path / 'etc' / 'policy.json'}\nstate_dir: {tmp_path / 'state'}\n")
    return {"agent": AGENT, "config": str(config),
            "fact": str(tmp_path / "facts.d" / "banwatch.fact"), "release_link": str(tmp_path / "current")}


def run_action(tmp_path: Path, args: dict[str, Any], check: bool = False) -> dict[str, Any]:
    """The registered task result of one install, with --diff (and --check)."""
    playbook, variables, result = tmp_path / "install.yml", tmp_path / "vars.json", tmp_path / "result.json"
    playbook.write_text(PLAYBOOK)
    variables.write_text(json.dumps({"install_args": args, "result_file": str(result)}))
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-c", "local", "-i", "localhost,",
               str(playbook), "-e", f"@{variables}", "--diff", *(["--check"] if check else [])]
    env = {**os.environ, "ANSIBLE_ACTION_PLUGINS": str(PLUGINS), "ANSIBLE_PYTHON_INTERPRETER": sys.executable}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(result.read_text())


def policy_of(policies: Path, host: str) -> str:
    return str(policies / "out" / f"{host}.policy.json")


def test_check_mode_says_what_would_be_installed_and_writes_nothing(tmp_path, policies, device):
    result = run_action(tmp_path, {**device, "src": policy_of(policies, PRESS_HOST)}, check=True)
    assert result["changed"] and result["result"] == "installed" and result["before"] is None
    assert "exemption: EX-2026-014: tiktok until" in result["diff"]["after"]
    assert not Path(device["fact"]).exists()
    assert not (tmp_path / "etc").exists()


def test_install_then_nothing_to_change(tmp_path, policies, device):
    first = run_action(tmp_path, {**device, "src": policy_of(policies, PRESS_HOST)})
    assert first["changed"] and first["result"] == "installed"
    assert first["ansible_facts"] == {"banwatch_policy_installed_version": 1}
    assert first["diff"]["before"] == "(no policy installed)\n" and "version: 1" in first["diff"]["after"]
    assert json.loads(Path(device["fact"]).read_text())["policy_version"] == 1
    again = run_action(tmp_path, {**device, "src": policy_of(policies, PRESS_HOST)})
    assert not again["changed"] and again["result"] == "unchanged"


def test_a_policy_for_another_host_fails_with_the_agents_reason(tmp_path, policies, device):
    run_action(tmp_path, {**device, "src": policy_of(policies, PRESS_HOST)})
    installed = (tmp_path / "etc" / "policy.json").read_bytes()
    result = run_action(tmp_path, {**device, "src": policy_of(policies, "ws-fin-014.corp.example.gov")})
    assert result["failed"] and "meant for another host" in result["msg"] and result["result"] == "rejected"
    assert (tmp_path / "etc" / "policy.json").read_bytes() == installed  # the last good policy stays
    rejection = json.loads((tmp_path / "state" / "policy-state.json").read_text())["last_rejection"]
    assert rejection["file"] == "standard input" and "meant for another host" in rejection["reason"]


def test_no_agent_fails_with_the_fix_but_check_mode_only_warns(tmp_path, policies, device):
    missing = {**device, "agent": str(tmp_path / "missing" / "banwatch-agent"),
               "src": policy_of(policies, PRESS_HOST)}
    assert "deploy it first" in run_action(tmp_path, missing)["msg"]
    checked = run_action(tmp_path, missing, check=True)
    assert checked["changed"] and "not installed yet" in checked["msg"]


def test_a_missing_policy_file_fails_on_the_control_node(tmp_path, device):
    result = run_action(tmp_path, {**device, "src": str(tmp_path / "absent.policy.json")})
    assert result["failed"] and "cannot read the policy" in result["msg"]


def test_a_device_path_that_cannot_be_written_fails_with_the_fix_not_a_traceback(tmp_path, policies, device):
    config = Path(device["config"])
    config.write_text(config.read_text().replace(f"policy_path: {tmp_path / 'etc' / 'policy.json'}",
                                                 "policy_path: /proc/banwatch-test/policy.json"))
    result = run_action(tmp_path, {**device, "src": policy_of(policies, PRESS_HOST)})
    assert result["failed"] and "cannot write" in result["msg"] and "become: true" in result["msg"]
    assert "Traceback" not in result["msg"]
