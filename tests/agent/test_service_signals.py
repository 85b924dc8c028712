"""The agent as a service process: SIGHUP reloads, SIGTERM sends every pending report, one instance.

These run `banwatch-agent run` as a real process in polling mode, so they need no root.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.device import Device, app, banned_copy, wait_for


def status(device: Device) -> dict[str, Any]:
    try:
        return json.loads((device.state_dir / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def last_report(device: Device) -> dict[str, Any]:
    return json.loads((device.state_dir / "last-report.json").read_text())


@pytest.fixture
def agent_process(device: Device) -> Iterator[subprocess.Popen[bytes]]:
    device.write_config(detection="polling", poll_interval=1, report_delay=300)
    proc = subprocess.Popen(device.agent_command(), stderr=subprocess.PIPE)
    try:
        wait_for(lambda: status(device).get("scans"), what="the first scan")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


@pytest.fixture
def banned(device: Device, tag: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    device.install([app(tag, process_names=[f"{tag}-app"])])
    yield started
    for proc in started:
        proc.kill()
        proc.wait()


def test_sigterm_sends_the_pending_report_before_exiting(device: Device, tag: str, banned, agent_process) -> None:
    binary = banned_copy(device.root / "bin", f"{tag}-app")
    banned.append(subprocess.Popen([str(binary), "60"]))
    wait_for(lambda: status(device).get("detections"), what="the detection")
    assert status(device)["pending_reports"] == 1  # held back by report_delay: 300
    assert last_report(device)["trigger"] == "start"
    agent_process.send_signal(signal.SIGTERM)
    assert agent_process.wait(30) == 0
    report = last_report(device)
    assert report["trigger"] == "poll"
    assert [(f["app"], f["evidence"]["pid"]) for f in report["findings"]] == [(tag, banned[0].pid)]
    assert report["agent"]["detection"] == "polling" and report["agent"]["detection_reason"]
    assert status(device)["pending_reports"] == 0


def test_sighup_reloads_configuration_and_policy(device: Device, tag: str, banned, agent_process) -> None:
    assert status(device)["mode"] == "monitor"
    version = device.install([app(f"{tag}2", process_names=[f"{tag}2-app"])])
    device.write_config(mode="enforce")
    agent_process.send_signal(signal.SIGHUP)
    wait_for(lambda: status(device).get("mode") == "enforce", what="the reload")
    wait_for(lambda: (status(device).get("last_scan") or {}).get("policy_version") == version, what="the new policy")
    proc = subprocess.Popen([str(banned_copy(device.root / "bin", f"{tag}2-app")), "60"])
    banned.append(proc)
    assert proc.wait(15) == -signal.SIGTERM

    device.config_path.write_text(device.config_path.read_text().replace("mode: enforce", "mode: lockdown"))
    agent_process.send_signal(signal.SIGHUP)
    error = wait_for(lambda: status(device).get("last_error"), what="the rejected reload")
    assert "configuration not reloaded" in error["message"] and "'mode'" in error["message"]
    assert status(device)["mode"] == "enforce"
    assert agent_process.poll() is None


def test_a_second_agent_is_refused_with_the_first_ones_pid(device: Device, banned, agent_process) -> None:
    second = subprocess.run(device.agent_command(), capture_output=True, text=True, timeout=30, check=False)
    assert second.returncode == 2
    assert f"another banwatch-agent is running (pid {agent_process.pid})" in second.stderr
    assert "Traceback" not in second.stderr
