"""The command line as a user meets it: exit codes, JSON shape, and no tracebacks."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import uuid

import pytest

from banwatch.cli.main import COMMANDS, build_parser
from tests.conftest import example_documents

linux_only = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")


def banwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "banwatch.cli.main", *args],
                          capture_output=True, text=True, timeout=60, check=False)


@linux_only
def test_scan_json_and_exit_codes(spawn_named, write_policy):
    banned_name = f"TikTok-{uuid.uuid4().hex[:8]}"  # nothing else on the machine can carry it
    banlist, register = example_documents()
    banlist["apps"][0]["match"]["process_names"] = [banned_name]
    policy = str(write_policy(banlist, register))
    clean = banwatch("scan", "--policy", policy, "--format", "json")
    assert clean.returncode == 0, clean.stderr
    assert json.loads(clean.stdout)["summary"]["verdict"] == "compliant"
    proc = spawn_named(banned_name)
    dirty = banwatch("scan", "--policy", policy, "--host", "ws-1", "--format", "json")
    assert dirty.returncode == 1
    report = json.loads(dirty.stdout)
    assert report["schema"] == "banwatch.report/1" and report["host"]["name"] == "ws-1"
    finding = next(f for f in report["findings"] if f["evidence"].get("pid") == proc.pid)
    assert {"app", "source", "verdict", "exemption", "evidence"} <= finding.keys()
    assert {"pid", "exe", "cmdline"} <= finding["evidence"].keys()
    exempt = banwatch("scan", "--policy", policy, "--host-groups", "general,press_office")
    assert exempt.returncode == 0
    assert "exempt" in exempt.stdout and "EX-2026-014" in exempt.stdout


@pytest.mark.parametrize("breakage", ["missing_dir", "bad_yaml", "bad_entry", "binary"])
def test_bad_policy_gives_clear_error_and_exit_2(tmp_path, write_policy, breakage):
    if breakage == "missing_dir":
        folder = tmp_path / "nope"
    elif breakage == "bad_yaml":
        folder = write_policy(banlist="schema: 1\napps: [\n")
    elif breakage == "binary":
        folder = write_policy(banlist="schema: 1\n")
        (folder / "banlist.yml").write_bytes(b"\xff\xfe\x00garbage")
    else:
        banlist, register = example_documents()
        del register["exemptions"][0]["expires"]
        folder = write_policy(banlist, register)
    for args in (("policy", "check", str(folder)), ("scan", "--policy", str(folder))):
        result = banwatch(*args)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith("error: ")
        assert "Fix:" in result.stderr


def test_policy_check_lists_expired_exemptions(example_policy_dir):
    result = banwatch("policy", "check", str(example_policy_dir), "--as-of", "2026-11-24")
    assert result.returncode == 0
    expired = result.stdout.split("expired exemptions")[1]
    assert "EX-2025-031" in expired and "EX-2026-014" not in expired
    assert banwatch("policy", "check", str(example_policy_dir), "--as-of", "someday").returncode == 2


def test_inventory_json_lists_observations():
    result = banwatch("inventory", "--source", "dpkg", "--source", "processes", "--format", "json")
    assert result.returncode == 0, result.stderr
    observations = json.loads(result.stdout)
    assert {o["source"] for o in observations} <= {"dpkg", "processes"}
    assert all("name" in o for o in observations)
    assert any(o["source"] == "processes" and o.get("pid") == os.getpid() for o in observations)
    dpkg = [o for o in observations if o["source"] == "dpkg"]
    assert all("version" in o for o in dpkg)
    assert banwatch("inventory", "--source", "nope").returncode == 2


def test_agent_entry_point_scans_too(example_policy_dir):
    result = subprocess.run([sys.executable, "-m", "banwatch.cli.agent", "scan", "--policy",
                             str(example_policy_dir), "--format", "json"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode in (0, 1)
    assert json.loads(result.stdout)["schema"] == "banwatch.report/1"


def test_each_command_is_built_from_its_own_module_alone():
    def names(parser: argparse.ArgumentParser) -> set[str]:
        (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return set(commands.choices)

    assert names(build_parser([])) == set(COMMANDS) == names(build_parser(["no-such-command"]))
    for name in COMMANDS:
        assert names(build_parser(["--version", name, "--help"])) == {name}


def test_fleet_status_loads_no_other_command():
    """Nor, without an inventory, a YAML parser; nor the policy source or the HTML page."""
    probe = ("import sys; from banwatch.cli.main import main; main(['fleet', 'status', '--store', '/nonexistent']); "
             "print(sorted(m for m in sys.modules if m.startswith(('banwatch.cli.', 'banwatch.lab.control', "
             "'banwatch.fleet.ingest', 'multiprocessing', 'paramiko', 'yaml', 'banwatch.policy', "
             "'banwatch.fleet.html'))))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert loaded.stdout.split("\n")[-2] == str(["banwatch.cli.common", "banwatch.cli.fleet",
                                                "banwatch.cli.fleet_views", "banwatch.cli.main"])
