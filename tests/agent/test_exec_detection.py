"""Exec-time detection and actions, with the real agent loop, real processes and real exec events."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import selectors
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from banwatch.device.service.daemon import Agent
from tests.agent.conftest import needs_exec_events
from tests.device import CollectingSink, Device, app, banned_copy, running, wait_exec, wait_for

pytestmark = pytest.mark.usefixtures("_exec_events")


@pytest.fixture
def _exec_events() -> None:
    needs_exec_events()


def start_banned(kind: str, root: Path, tag: str) -> tuple[dict, subprocess.Popen[bytes]]:
    """The app rule and a running process for each way a banned program can be started."""
    if kind == "own name":
        binary = banned_copy(root / "bin", f"{tag}-app")
        rule = app(tag, process_names=[f"{tag}-app"])
        argv = [str(binary), "60"]
    elif kind == "other name (hash rule)":
        binary = banned_copy(root / "bin", "notes-helper")
        rule = app(tag, executable_sha256=[hashlib.sha256(binary.read_bytes()).hexdigest()])
        argv = [str(binary), "60"]
    elif kind == "symlink":
        binary = banned_copy(root / "opt", f"{tag}-app")
        link = root / "bin" / "harmless"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(binary)
        rule = app(tag, process_names=[f"{tag}-app"])
        argv = [str(link), "60"]
    else:  # interpreted script: the interpreter is innocent, the script is not
        script = root / "opt" / f"{tag}-app.py"
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text("import time\ntime.sleep(60)\n")
        rule = app(tag, command_line=[f"*/{tag}-app.py"])
        argv = [sys.executable, str(script)]
    return rule, argv  # type: ignore[return-value]


KINDS = ["own name", "other name (hash rule)", "symlink", "interpreted script"]


@pytest.mark.parametrize("kind", KINDS)
def test_enforce_kills_a_banned_program_at_exec(device: Device, tag: str, kind: str) -> None:
    rule, argv = start_banned(kind, device.root, tag)
    device.install([rule])
    device.write_config(mode="enforce", report_delay=0)
    sink = CollectingSink()
    with running(Agent(device.config(), sink)) as agent:
        assert agent.status["detection"] == "events"
        proc = subprocess.Popen(argv)
        assert proc.wait(10) == -signal.SIGTERM
        (finding,) = wait_for(lambda: sink.findings(tag), what="the detection report")
    assert finding["verdict"] == "violation"
    assert finding["evidence"]["pid"] == proc.pid
    assert (finding["action_taken"], finding["outcome"]) == ("kill", "killed")
    assert finding["detection"]["mode"] == "events"
    assert finding["detection"]["exec_to_detection_ms"] >= 0


def detected_and_left_running(device: Device, tag: str, argv: list[str]) -> dict:
    """Run the agent, start the program, and check it still runs once its finding is reported."""
    sink = CollectingSink()
    with running(Agent(device.config(), sink)):
        proc = subprocess.Popen(argv)
        try:
            (finding,) = wait_for(lambda: sink.findings(tag), what="the detection report")
            assert proc.poll() is None
        finally:
            proc.kill()
            proc.wait()
    return finding


@pytest.mark.parametrize("kind", ["own name", "interpreted script"])
def test_monitor_mode_reports_and_leaves_it_running(device: Device, tag: str, kind: str) -> None:
    rule, argv = start_banned(kind, device.root, tag)
    device.install([rule])
    device.write_config(mode="monitor", report_delay=0)
    finding = detected_and_left_running(device, tag, argv)
    assert finding["verdict"] == "violation"
    assert finding["action"] == "kill" and finding["action_taken"] == "none"
    assert finding["outcome"] == "not applied: monitor mode"


def test_exempt_host_is_never_killed(device: Device, tag: str) -> None:
    rule, argv = start_banned("own name", device.root, tag)
    exemption = {"id": "EX-1", "app": tag, "groups": ["general"], "reason": "needed for work",
                 "approved_by": "CISO", "ticket": "SEC-1", "expires": dt.date.today() + dt.timedelta(days=30)}
    device.install([rule], [exemption])
    device.write_config(mode="enforce", report_delay=0)
    finding = detected_and_left_running(device, tag, argv)
    assert (finding["verdict"], finding["exemption"], finding["action_taken"]) == ("exempt", "EX-1", "none")


def test_full_scan_on_start_kills_what_already_runs(device: Device, tag: str) -> None:
    rule, argv = start_banned("own name", device.root, tag)
    device.install([rule])
    device.write_config(mode="enforce")
    proc = subprocess.Popen(argv)
    wait_exec(proc, argv[0])
    sink = CollectingSink()
    with running(Agent(device.config(), sink)):
        assert proc.wait(10) == -signal.SIGTERM
        start = wait_for(lambda: [r for r in sink.reports if r["trigger"] == "start"], what="the start report")
    (finding,) = start[0]["findings"]
    assert (finding["app"], finding["outcome"]) == (tag, "killed")


def test_quarantine_and_restore_round_trip_byte_exact_with_owner_and_mode(device: Device, tag: str) -> None:
    binary = banned_copy(device.root / "opt" / "vendor", f"{tag}-app")
    os.chown(binary, 4321, 4322)
    os.chmod(binary, 0o751)  # noqa: S103 - an unusual mode, to see it restored exactly
    original = binary.read_bytes()
    mtime_ns = binary.stat().st_mtime_ns
    device.install([app(tag, action="quarantine", process_names=[f"{tag}-app"])])
    device.write_config(mode="enforce", report_delay=0)
    sink = CollectingSink()
    with running(Agent(device.config(), sink)):
        proc = subprocess.Popen([str(binary), "60"])
        assert proc.wait(10) == -signal.SIGTERM
        (finding,) = wait_for(lambda: sink.findings(tag), what="the quarantine report")
    assert finding["action_taken"] == "quarantine" and finding["outcome"] == "killed"
    quarantine_id = finding["quarantine"]["id"]
    assert not binary.exists()
    agent_cli = [sys.executable, "-m", "banwatch.device.cli.main"]
    listed = subprocess.run([*agent_cli, "quarantine", "list", "--json", "--config", str(device.config_path)],
                            capture_output=True, text=True, check=True)
    assert f'"{quarantine_id}"' in listed.stdout and str(binary) in listed.stdout
    restored = subprocess.run([*agent_cli, "quarantine", "restore", quarantine_id, "--config",
                               str(device.config_path)], capture_output=True, text=True, check=False)
    assert restored.returncode == 0, restored.stderr
    info = binary.stat()
    assert binary.read_bytes() == original
    assert (info.st_uid, info.st_gid, info.st_mode & 0o7777, info.st_mtime_ns) == (4321, 4322, 0o751, mtime_ns)
    again = subprocess.run([*agent_cli, "quarantine", "restore", quarantine_id, "--config",
                            str(device.config_path)], capture_output=True, text=True, check=False)
    assert again.returncode == 2 and "already restored" in again.stderr and "Traceback" not in again.stderr


def test_quarantine_never_takes_an_innocent_executable_named_like_a_banned_app(device: Device, tag: str) -> None:
    device.install([app(tag, action="quarantine", process_names=[tag])])
    device.write_config(mode="enforce", report_delay=0)
    sleep = banned_copy(device.root / "bin", "innocent")
    sink = CollectingSink()
    with running(Agent(device.config(), sink)):
        proc = subprocess.Popen([tag, "60"], executable=str(sleep))  # argv[0] only carries the banned name
        assert proc.wait(10) == -signal.SIGTERM
        (finding,) = wait_for(lambda: sink.findings(tag), what="the report")
    assert finding["outcome"] == "killed"
    assert "only killed" in finding["quarantine"]["error"]
    assert sleep.exists()


def test_event_loss_triggers_a_full_scan_and_is_reported(device: Device, tag: str) -> None:
    rule, argv = start_banned("own name", device.root, tag)
    device.install([rule])
    sink = CollectingSink()
    agent = Agent(device.config(), sink)
    with running(agent):
        events = agent.events
        assert events is not None
        agent.selector.unregister(events)  # the loop stops reading ...
        events.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)  # ... and a few events fill the buffer
        for _ in range(50):
            subprocess.run(["true"], check=True)
        proc = subprocess.Popen(argv)  # started while the agent was deaf: only the rescan can see it
        wait_exec(proc, argv[0])
        agent.selector.register(events, selectors.EVENT_READ, agent._on_events)
        subprocess.run(["true"], check=True)
        lost = wait_for(lambda: [r for r in sink.reports if r["trigger"] == "events_lost" and r["findings"]],
                        what="the rescan")
        proc.kill()
        proc.wait()
    assert lost[0]["agent"]["events_lost"] >= 1
    assert [f["app"] for f in lost[0]["findings"]] == [tag]
    assert agent.status["events_lost"] >= 1
