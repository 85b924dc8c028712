"""The running agent takes a policy under the same rule as `policy install` (PolicyStore.admit):
a file at the policy path that `install` would refuse is refused by the agent too, the last
good policy stays in force (across a restart as well), and `status` and the next report say so.
These drive the real agent loop in polling mode, so they need no root."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from banwatch.device.policy_store import REJECTED, PolicyStore
from banwatch.device.service.daemon import Agent
from tests.device import CollectingSink, Device, app, banned_copy, running, unique_tag, wait_for

linux_only = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")


def place(device: Device, data: bytes) -> None:
    """Put a file at the policy path the way a person (or an attacker with root) would, bypassing install."""
    temp = device.root / "placed.tmp"
    temp.write_bytes(data)
    os.replace(temp, device.root / "policy.json")


def cli_status(device: Device) -> tuple[int, dict[str, Any], str]:
    """`banwatch-agent status` as a user runs it: exit code, the JSON document, the text form."""
    command = [sys.executable, "-m", "banwatch.device.cli.main", "status", "--config", str(device.config_path)]
    as_json = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=60, check=False)
    text = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    return as_json.returncode, json.loads(as_json.stdout), text.stdout


def rejected_reports(sink: CollectingSink) -> list[dict[str, Any]]:
    return [report for report in sink.reports if report["policy"].get("rejected")]


@linux_only
def test_an_older_signed_policy_is_rejected_and_the_last_good_stays_in_force(tmp_path: Path) -> None:
    tag = unique_tag()
    device = Device(tmp_path)
    device.write_config(detection="polling", poll_interval=1, report_delay=0, mode="enforce")
    device.install([app(f"{tag}-old", process_names=[f"{tag}-old"])])
    older = (tmp_path / "policy-1.json").read_bytes()
    device.install([app(tag, process_names=[f"{tag}-app"])])
    sink = CollectingSink()
    with running(Agent(device.config(), sink)) as agent:
        assert agent.status["policy"]["version"] == 2
        place(device, older)
        wait_for(lambda: agent.status["policy"].get("rejected"), what="the rejection")
        assert agent.status["policy"]["version"] == 2
        assert "rollback: version 1 is older than version 2" in agent.status["policy"]["rejected"]["reason"]
        report = wait_for(lambda: rejected_reports(sink), what="a report saying so")[0]
        assert report["policy"]["version"] == 2 and report["trigger"] == "policy"
        assert report["policy"]["rejected"]["file"] == str(device.root / "policy.json")
        assert "rollback" in report["policy"]["last_rejection"]["reason"]
        # Version 2's rules are still the ones enforced: its app is caught and killed.
        proc = subprocess.Popen([str(banned_copy(tmp_path / "bin", f"{tag}-app")), "60"])
        try:
            assert proc.wait(15) == -signal.SIGTERM
        finally:
            proc.kill()
        code, status, text = cli_status(device)
        assert code == 0 and status["policy"]["in_force"]["version"] == 2
        assert "rollback" in status["policy"]["in_force"]["rejected"]["reason"]
        assert "rollback" in status["policy"]["last_rejection"]["reason"]
        assert "last rejected policy:" in text and "kept in force" in text
    # A restart with the older file still in place: the device's kept copy of version 2 is enforced.
    sink = CollectingSink()
    with running(Agent(device.config(), sink)) as agent:
        assert agent.status["policy"]["version"] == 2 and agent.status["policy"]["rejected"]
        # The start report reaches the sink through the outbox's writer thread, after the first scan.
        start = wait_for(lambda: [r for r in sink.reports if r["trigger"] == "start"], what="the start report")[0]
        assert start["policy"]["version"] == 2 and "rollback" in start["policy"]["rejected"]["reason"]
        # A good policy installed ends the rejection, in status and in the reports.
        device.install([app(tag, process_names=[f"{tag}-app"])])
        wait_for(lambda: agent.status["policy"]["version"] == 3, what="version 3")
        assert "rejected" not in agent.status["policy"]
        newest = wait_for(lambda: [r for r in sink.reports if r["policy"]["version"] == 3], what="its report")[0]
        assert "rejected" not in newest["policy"] and "last_rejection" not in newest["policy"]
    assert "last_rejection" not in cli_status(device)[1]["policy"]


@linux_only
def test_a_machine_bound_policy_is_refused_where_the_machine_id_cannot_be_read(tmp_path: Path) -> None:
    """Refused by `policy install` and by the running agent alike: never skipped for want of an id."""
    tag = unique_tag()
    no_machine_id = tmp_path / "root"  # a tree without etc/machine-id or var/lib/dbus/machine-id
    no_machine_id.mkdir()
    device = Device(tmp_path, machine_id="")  # version 1: bound to the host name alone
    device.write_config(detection="polling", poll_interval=1, report_delay=0)
    device.install([app(tag, process_names=[f"{tag}-app"])])
    device.machine_id = "0123456789abcdef0123456789abcdef"
    bound = tmp_path / "bound.json"
    bound.write_bytes(device.signed_policy([app(tag, process_names=[f"{tag}-app"])]))
    store = PolicyStore(device.config(), root=str(no_machine_id))
    installed = store.install(str(bound))
    assert installed.result == REJECTED and "cannot read its own machine id" in installed.reason
    sink = CollectingSink()
    agent = Agent(device.config(), sink)
    agent.store = store  # the agent reads the device's own files under this root
    with running(agent):
        assert agent.status["policy"]["version"] == 1
        place(device, bound.read_bytes())
        wait_for(lambda: agent.status["policy"].get("rejected"), what="the rejection")
        assert "cannot read its own machine id" in agent.status["policy"]["rejected"]["reason"]
        assert agent.status["policy"]["version"] == 1
        report = wait_for(lambda: rejected_reports(sink), what="a report saying so")[0]
        assert report["policy"]["version"] == 1
