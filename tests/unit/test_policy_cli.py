"""`keys generate`, `policy build | verify` and `banwatch-agent policy install` as a user meets them."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLE_POLICY, REPO

# Issued yesterday, so the policies are valid whenever the tests run (they are installed for real).
ISSUED = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).strftime("%Y-%m-%dT09:00:00Z")


def run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=60,
                          check=False)


def banwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return run("banwatch.cli", *args)


def test_build_verify_install_and_scan(tmp_path: Path):
    keys, out = tmp_path / "keys", tmp_path / "out"
    assert banwatch("keys", "generate", "--out", str(keys)).returncode == 0
    build = ("policy", "build", "--source", str(EXAMPLE_POLICY), "--inventory",
             str(REPO / "inventory" / "example" / "hosts.yml"), "--key", str(keys / "banwatch-policy.key"),
             "--out", str(out), "--issued-at", ISSUED)
    first = banwatch(*build)
    assert first.returncode == 0, first.stderr
    assert "version 1 for 10 hosts" in first.stdout
    assert "version 2" in banwatch(*build).stdout  # the next build is one higher
    press = out / "ws-press-01.corp.example.gov.policy.json"
    verified = banwatch("policy", "verify", str(press), "--key", str(keys / "banwatch-policy.pub"))
    assert verified.returncode == 0 and "EX-2026-014" in verified.stdout
    other_key = tmp_path / "other"
    banwatch("keys", "generate", "--out", str(other_key))
    refused = banwatch("policy", "verify", str(press), "--key", str(other_key / "banwatch-policy.pub"))
    assert refused.returncode == 2 and "unknown key" in refused.stderr

    config = tmp_path / "agent.yml"
    config.write_text(f"host_name: ws-press-01.corp.example.gov\ntrusted_keys: [{keys / 'banwatch-policy.pub'}]\n"
                      f"policy_path: {tmp_path / 'device' / 'policy.json'}\nstate_dir: {tmp_path / 'device'}\n")
    dry = run("banwatch.device.cli.main", "policy", "install", str(press), "--config", str(config), "--check")
    assert json.loads(dry.stdout)["result"] == "installed" and not (tmp_path / "device" / "policy.json").exists()
    fact = tmp_path / "facts.d" / "banwatch.fact"
    install = run("banwatch.device.cli.main", "policy", "install", str(press), "--config", str(config),
                  "--fact", str(fact), "--release-link", str(tmp_path / "no-release"))
    installed = json.loads(install.stdout)
    assert install.returncode == 0 and (installed["result"], installed["version"]) == ("installed", 2)
    assert installed["before"] is None and installed["after"]["version"] == 2
    assert any(e.startswith("EX-2026-014: tiktok until") for e in installed["after"]["exemptions"])
    assert installed["fact_changed"] and json.loads(fact.read_text())["policy_version"] == 2
    again = run("banwatch.device.cli.main", "policy", "install", str(press), "--config", str(config),
                "--fact", str(fact), "--release-link", str(tmp_path / "no-release"))
    assert json.loads(again.stdout)["result"] == "unchanged" and not json.loads(again.stdout)["fact_changed"]
    other = str(out / "ws-fin-014.corp.example.gov.policy.json")
    dry_wrong = run("banwatch.device.cli.main", "policy", "install", other, "--config", str(config), "--check")
    assert dry_wrong.returncode == 2 and "last_rejection" not in json.loads((tmp_path / "device" /
                                                                              "policy-state.json").read_text())
    wrong = run("banwatch.device.cli.main", "policy", "install", other, "--config", str(config))
    assert wrong.returncode == 2 and json.loads(wrong.stdout)["result"] == "rejected"
    scan = run("banwatch.device.cli.main", "scan", "--config", str(config), "--format", "json")
    report = json.loads(scan.stdout)
    assert report["policy"]["version"] == 2 and report["host"]["name"] == "ws-press-01.corp.example.gov"
    assert "meant for another host" in report["policy"]["last_rejection"]["reason"]


def test_bad_inputs_are_clear_errors(tmp_path: Path):
    cases = [
        banwatch("policy", "build", "--source", str(EXAMPLE_POLICY), "--inventory", str(tmp_path / "none.yml"),
                 "--key", str(tmp_path / "none.key"), "--out", str(tmp_path / "out")),
        banwatch("policy", "build", "--source", str(EXAMPLE_POLICY), "--inventory", str(tmp_path),
                 "--key", "k", "--out", "o", "--issued-at", "yesterday"),
        banwatch("policy", "verify", str(tmp_path / "missing.json"), "--key", str(tmp_path / "none.pub")),
        run("banwatch.device.cli.main", "policy", "install", "x.json", "--config", str(tmp_path / "agent.yml")),
    ]
    for result in cases:
        assert result.returncode == 2, result
        assert "Traceback" not in result.stderr and result.stderr.startswith("error: ")
    assert not (tmp_path / "out").exists()
