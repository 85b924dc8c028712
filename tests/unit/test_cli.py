"""The command line as a user meets it: exit codes, JSON shape, and no tracebacks."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import uuid

import pytest

from banwatch.cli import COMMANDS, build_parser
from tests.conftest import example_documents
from tests.device import HOST, Device, app

linux_only = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")


def banwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "banwatch.cli", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "banwatch.device.cli.main", *args],
                          capture_output=True, text=True, timeout=60, check=False)


@linux_only
def test_scan_json_and_exit_codes(spawn_named, tmp_path):
    """`banwatch-agent scan` judges the device as its signed policy names it: host, groups, exemptions."""
    banned_name = f"TikTok-{uuid.uuid4().hex[:8]}"  # nothing else on the machine can carry it
    device = Device(tmp_path, groups=("general", "press_office"))
    device.install([app("tiktok", action="report", process_names=[banned_name])])
    clean = agent("scan", "--config", str(device.config_path), "--format", "json")
    assert clean.returncode == 0, clean.stderr
    assert json.loads(clean.stdout)["summary"]["verdict"] == "compliant"
    proc = spawn_named(banned_name)
    dirty = agent("scan", "--config", str(device.config_path), "--format", "json")
    assert dirty.returncode == 1
    report = json.loads(dirty.stdout)
    assert report["schema"] == "banwatch.report/1" and report["host"]["name"] == HOST
    assert report["host"]["groups"] == ["general", "press_office"] and report["policy"]["version"] == 1
    finding = next(f for f in report["findings"] if f["evidence"].get("pid") == proc.pid)
    assert {"app", "source", "verdict", "exemption", "evidence"} <= finding.keys()
    assert {"pid", "exe", "cmdline"} <= finding["evidence"].keys()
    device.install([app("tiktok", action="report", process_names=[banned_name])],
                   [{"id": "EX-T-1", "app": "tiktok", "groups": ["press_office"], "reason": "press work",
                     "approved_by": "ciso", "ticket": "SEC-1",
                     "expires": (dt.date.today() + dt.timedelta(days=30)).isoformat()}])
    exempt = agent("scan", "--config", str(device.config_path))
    assert exempt.returncode == 0, exempt.stderr
    assert "exempt" in exempt.stdout and "EX-T-1" in exempt.stdout


def test_a_scan_without_a_usable_policy_is_exit_2_with_the_fix(tmp_path):
    device = Device(tmp_path)  # nothing installed
    result = agent("scan", "--config", str(device.config_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and "banwatch-agent policy install" in result.stderr


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
    result = banwatch("policy", "check", str(folder))
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


def test_software_json_lists_observations():
    result = agent("software", "--source", "dpkg", "--source", "processes", "--format", "json")
    assert result.returncode == 0, result.stderr
    observations = json.loads(result.stdout)
    assert {o["source"] for o in observations} <= {"dpkg", "processes"}
    assert all("name" in o for o in observations)
    assert any(o["source"] == "processes" and o.get("pid") == os.getpid() for o in observations)
    dpkg = [o for o in observations if o["source"] == "dpkg"]
    assert all("version" in o for o in dpkg)
    assert agent("software", "--source", "nope").returncode == 2


def test_each_command_is_built_from_its_own_module_alone():
    def names(parser: argparse.ArgumentParser) -> set[str]:
        (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return set(commands.choices)

    assert names(build_parser([])) == set(COMMANDS) == names(build_parser(["no-such-command"]))
    for name in COMMANDS:
        assert names(build_parser(["--version", name, "--help"])) == {name}


def test_fleet_status_loads_no_other_command():
    """Nor, without an inventory, a YAML parser; nor the policy source, the device or the HTML page."""
    probe = ("import sys; from banwatch.cli import main; main(['fleet', 'status', '--store', '/nonexistent']); "
             "print(sorted(m for m in sys.modules if m.startswith(('banwatch.cli', 'banwatch.core.cli', "
             "'banwatch.fleet.cli', 'banwatch_lab', 'banwatch.device', 'banwatch.control', "
             "'banwatch.fleet.ingest', 'multiprocessing', 'paramiko', 'yaml', 'banwatch.fleet.html'))))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert loaded.stdout.split("\n")[-2] == str(["banwatch.cli", "banwatch.core.cli", "banwatch.fleet.cli",
                                                "banwatch.fleet.cli.main", "banwatch.fleet.cli.views"])
