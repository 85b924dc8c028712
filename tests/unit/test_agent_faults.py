"""No long-lived part of the running agent may die silently: an exception injected into the
report writer, the scan thread and the loop is logged, kept in `status` (so the health gate
fails while it lasts), and the report still arrives in the real spool. The shipper's own case
is in test_shipper.py, beside its collector."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from banwatch.core.report.envelope import open_report
from banwatch.device.detect.detector import Detector
from banwatch.device.report.spool import Spool
from banwatch.device.report_key import load_report_key
from banwatch.device.service import daemon
from banwatch.device.service.daemon import Agent
from tests.device import Device, app, banned_copy, running, unique_tag, wait_for

BIN = Path(sys.executable).parent
linux_only = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")


class Injected(Exception):
    """The exception the tests plant: nothing in the agent expects it."""


def failing_until(released: threading.Event, real: Callable[..., Any]) -> Callable[..., Any]:
    """`real`, raising Injected on every call until `released` is set."""

    def call(*args: Any, **kwargs: Any) -> Any:
        if not released.is_set():
            raise Injected("planted by the test")
        return real(*args, **kwargs)

    return call


def failing_once(real: Callable[..., Any]) -> Callable[..., Any]:
    done = threading.Event()

    def call(*args: Any, **kwargs: Any) -> Any:
        if not done.is_set():
            done.set()
            raise Injected("planted by the test")
        return real(*args, **kwargs)

    return call


def spooled_findings(device: Device, app_id: str) -> list[dict[str, Any]]:
    config = device.config()
    spool = Spool.for_config(config)
    key = {device.host: load_report_key(config).public_key()}
    return [f for name in spool.pending() for f in open_report(spool.read(name), key)["findings"]
            if f["app"] == app_id]


def health(device: Device) -> tuple[int, dict[str, Any]]:
    """The rollout's health gate, as the playbook runs it."""
    done = subprocess.run([str(BIN / "banwatch-agent"), "status", "--json", "--config", str(device.config_path),
                           "--expect-policy-version", str(device.version)], capture_output=True, text=True,
                          timeout=60, check=False)
    return done.returncode, json.loads(done.stdout)


def banned_device(tmp_path: Path) -> tuple[Device, str]:
    tag = unique_tag()
    device = Device(tmp_path)
    device.install([app(tag, action="report", process_names=[f"{tag}-app"])])
    device.write_config(detection="polling", poll_interval=1, report_delay=0)
    return device, tag


@linux_only
def test_a_report_writer_that_raises_keeps_the_report_and_fails_the_health_gate(tmp_path, monkeypatch):
    device, tag = banned_device(tmp_path)
    released = threading.Event()
    monkeypatch.setattr(Spool, "put", failing_until(released, Spool.put))
    with running(Agent(device.config())) as agent:
        proc = subprocess.Popen([str(banned_copy(tmp_path / "bin", f"{tag}-app")), "60"])
        try:
            wait_for(lambda: "report_writer" in agent.status["faults"] and agent.status["last_error"],
                     what="the writer's fault in status")
            code, status = health(device)
            assert code == 1 and any("report writer is failing: Injected: planted by the test" in p
                                     for p in status["problems"]), status
            assert "Injected" in status["last_error"]["message"] and agent.outbox.writer.is_alive()
            released.set()
            wait_for(lambda: spooled_findings(device, tag), what="the report in the spool")
            wait_for(lambda: not agent.status["faults"], what="the fault cleared")
            assert health(device)[0] == 0
        finally:
            proc.kill()
            proc.wait()


@linux_only
def test_a_scan_that_raises_is_tried_again_and_its_report_arrives(tmp_path, monkeypatch, caplog):
    device, tag = banned_device(tmp_path)
    proc = subprocess.Popen([str(banned_copy(tmp_path / "bin", f"{tag}-app")), "60"])
    monkeypatch.setattr(daemon, "SCAN_RETRY_SECONDS", 1.0)
    monkeypatch.setattr(Detector, "scan", failing_once(Detector.scan))
    try:
        with running(Agent(device.config())) as agent:  # the first scan raised; `running` waits for the retry
            assert agent.status["last_scan"]["violation"] == 1 and not agent.status["faults"]
            wait_for(lambda: spooled_findings(device, tag), what="the retried scan's report")
    finally:
        proc.kill()
        proc.wait()
    assert "scan failed: Injected: planted by the test; tried again in 1 s" in caplog.messages


@linux_only
def test_an_exception_in_the_loop_is_survived_and_the_detection_still_reported(tmp_path, monkeypatch, caplog):
    device, tag = banned_device(tmp_path)
    monkeypatch.setattr(daemon, "LOOP_RESCAN_SECONDS", 4.0)
    agent = Agent(device.config())
    with running(agent):
        monkeypatch.setattr(agent, "_due_poll", failing_once(agent._due_poll))
        wait_for(lambda: "loop" in agent.status["faults"], what="the loop's fault")
        code, status = health(device)
        assert code == 1 and any("loop is failing: Injected" in p for p in status["problems"]), status
        proc = subprocess.Popen([str(banned_copy(tmp_path / "bin", f"{tag}-app")), "60"])
        try:
            wait_for(lambda: spooled_findings(device, tag), what="the detection after the error")
            wait_for(lambda: not agent.status["faults"], what="the fault cleared by the next full scan")
        finally:
            proc.kill()
            proc.wait()
    [error] = [r for r in caplog.records if r.getMessage().startswith("the agent's loop met an unexpected error;")]
    assert error.exc_info and isinstance(error.exc_info[1], Injected)  # the traceback is in the log
