"""The banwatch_policy_install Ansible module, run as Ansible runs it, against the real agent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLE_POLICY, REPO

MODULE = REPO / "roles" / "banwatch_policy" / "library" / "banwatch_policy_install.py"
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
        subprocess.run([sys.executable, "-m", "banwatch.cli.main", *args], check=True, capture_output=True)
    return folder


@pytest.fixture
def device(tmp_path: Path, policies: Path) -> dict[str, str]:
    """A device's agent configuration and paths, all under tmp_path."""
    config = tmp_path / "agent.yml"
    config.write_text(f"host_name: {PRESS_HOST}\ntrusted_keys: [{policies / 'keys' / 'banwatch-policy.pub'}]\n"
                      f"policy_path: {tmp_path / 'etc' / 'policy.json'}\nstate_dir: {tmp_path / 'state'}\n")
    return {"agent": AGENT, "config": str(config), "incoming": str(tmp_path / "incoming" / "policy.json"),
            "fact": str(tmp_path / "facts.d" / "banwatch.fact"), "release_link": str(tmp_path / "current")}


def run_module(tmp_path: Path, args: dict[str, Any], check: bool = False) -> dict[str, Any]:
    arguments = tmp_path / "args.json"
    arguments.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {**args, "_ansible_check_mode": check,
                                                             "_ansible_diff": True}}))
    result = subprocess.run([sys.executable, str(MODULE), str(arguments)], capture_output=True, text=True,
                            timeout=60, check=False)
    return json.loads(result.stdout)


def policy_of(policies: Path, host: str) -> str:
    return (policies / "out" / f"{host}.policy.json").read_text()


def test_check_mode_says_what_would_be_installed_and_writes_nothing(tmp_path, policies, device):
    result = run_module(tmp_path, {**device, "policy": policy_of(policies, PRESS_HOST)}, check=True)
    assert result["changed"] and result["result"] == "installed" and result["before"] is None
    assert "exemption: EX-2026-014: tiktok until" in result["diff"]["after"]
    assert not any(Path(device[key]).exists() for key in ("incoming", "fact"))
    assert not (tmp_path / "etc").exists()


def test_install_then_nothing_to_change(tmp_path, policies, device):
    first = run_module(tmp_path, {**device, "policy": policy_of(policies, PRESS_HOST)})
    assert first["changed"] and first["result"] == "installed"
    assert first["ansible_facts"] == {"banwatch_policy_installed_version": 1}
    assert first["diff"]["before"] == "(no policy installed)\n" and "version: 1" in first["diff"]["after"]
    assert json.loads(Path(device["fact"]).read_text())["policy_version"] == 1
    again = run_module(tmp_path, {**device, "policy": policy_of(policies, PRESS_HOST)})
    assert not again["changed"] and again["result"] == "unchanged"


def test_a_policy_for_another_host_fails_with_the_agents_reason(tmp_path, policies, device):
    run_module(tmp_path, {**device, "policy": policy_of(policies, PRESS_HOST)})
    installed = (tmp_path / "etc" / "policy.json").read_bytes()
    result = run_module(tmp_path, {**device, "policy": policy_of(policies, "ws-fin-014.corp.example.gov")})
    assert result["failed"] and "meant for another host" in result["msg"]
    assert (tmp_path / "etc" / "policy.json").read_bytes() == installed  # the last good policy stays


def test_no_agent_fails_with_the_fix_but_check_mode_only_warns(tmp_path, policies, device):
    missing = {**device, "agent": str(tmp_path / "missing" / "banwatch-agent"),
               "policy": policy_of(policies, PRESS_HOST)}
    assert "deploy it first" in run_module(tmp_path, missing)["msg"]
    checked = run_module(tmp_path, missing, check=True)
    assert checked["changed"] and "not installed yet" in checked["msg"]
