"""The agent where exec events are unavailable (configured here; in lab endpoints by the kernel):
it polls, says so, and still catches and kills a banned program. Needs no root."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from banwatch.device.service.daemon import Agent
from tests.device import CollectingSink, Device, app, banned_copy, running, unique_tag, wait_for

linux_only = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")


@linux_only
def test_polling_finds_kills_and_reports_the_mode_in_force(tmp_path: Path) -> None:
    tag = unique_tag()
    device = Device(tmp_path)
    device.install([app(tag, process_names=[f"{tag}-app"]),
                    app(f"{tag}-r", action="report", process_names=[f"{tag}-watch"]),
                    app(f"{tag}-p", action="report", process_names=[f"{tag}-probe"])])
    device.write_config(detection="polling", poll_interval=1, mode="enforce", report_delay=0)
    sink = CollectingSink()
    with running(Agent(device.config(), sink)) as agent:
        assert (agent.status["detection"], agent.status["detection_reason"]) == (
            "polling", "configured (detection: polling)")
        killed = subprocess.Popen([str(banned_copy(tmp_path / "bin", f"{tag}-app")), "60"])
        watched = subprocess.Popen([str(banned_copy(tmp_path / "bin", f"{tag}-watch")), "60"])
        started = [watched]
        try:
            assert killed.wait(10) == -signal.SIGTERM
            wait_for(lambda: sink.findings(f"{tag}-r"), what="the report-only finding")
            assert watched.poll() is None  # action `report`: found, never killed
            # A later poll finds the probe; that poll saw the watched process again, and must not
            # have reported it again.
            started.append(subprocess.Popen([str(banned_copy(tmp_path / "bin", f"{tag}-probe")), "60"]))
            wait_for(lambda: sink.findings(f"{tag}-p"), what="the probe's finding, a later poll")
        finally:
            for process in started:
                process.kill()
                process.wait()
    (finding,) = sink.findings(tag)
    assert (finding["detection"], finding["outcome"]) == ({"mode": "polling"}, "killed")
    report = next(r for r in sink.reports if finding in r["findings"])
    assert (report["trigger"], report["agent"]["detection"], report["agent"]["mode"]) == ("poll", "polling", "enforce")
    assert len(sink.findings(f"{tag}-r")) == 1  # reported once, not at every poll
