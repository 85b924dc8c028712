"""The agent as a supervised service inside lab endpoints: no exec events reach a PID namespace
other than the initial one, so it polls, says so, and still kills a banned program in enforce
mode; an endpoint in monitor mode only reports."""

from __future__ import annotations

import base64
import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.device import Device, app, unique_tag, wait_for
from tests.integration.conftest import BIN, Lab

pytestmark = pytest.mark.lab
BASE = "/etc/banwatch-service-test"


def put_file(lab: Lab, host: str, path: str, data: bytes) -> None:
    encoded = base64.b64encode(data).decode()
    command = f"mkdir -p {shlex.quote(str(Path(path).parent))} && echo {encoded} | base64 -d > {shlex.quote(path)}"
    result = lab.ssh(host, command)
    assert result.returncode == 0, result.stderr


def agent(lab: Lab, host: str, *args: str) -> Any:
    result = lab.ssh(host, shlex.join([str(BIN / "banwatch-agent"), *args, "--config", f"{BASE}/agent.yml"]))
    return result


def status(lab: Lab, host: str) -> dict[str, Any]:
    result = agent(lab, host, "status", "--json")
    return json.loads(result.stdout) if result.stdout.strip() else {}


def set_up(lab: Lab, host: str, tmp_path: Path, tag: str, mode: str) -> None:
    device = Device(tmp_path / host, host=host, machine_id=lab.endpoint(host)["machine_id"],
                    groups=("general",))
    device.extra.update(mode=mode, detection="auto", poll_interval=1, report_delay=0, package_check_interval=5)
    put_file(lab, host, f"{BASE}/agent.yml", yaml.safe_dump(device.config_document(BASE)).encode())
    put_file(lab, host, f"{BASE}/keys/banwatch-policy.pub", device.public_key.read_bytes())
    apps = [app(tag, process_names=[f"{tag}-app"]), app(f"{tag}-pkg", packages={"dpkg": [f"{tag}-pkg"]})]
    put_file(lab, host, f"{BASE}/policy-1.json", device.signed_policy(apps))
    installed = agent(lab, host, "policy", "install", f"{BASE}/policy-1.json")
    assert json.loads(installed.stdout)["result"] == "installed", installed.stderr
    started = agent(lab, host, "service", "start")
    assert json.loads(started.stdout)["result"] == "started", started.stderr
    wait_for(lambda: status(lab, host).get("last_scan"), timeout=30, what=f"the agent on {host}")


@pytest.mark.parametrize(("host", "mode"), [("lab-ep-03", "enforce"), ("lab-ep-04", "monitor")])
def test_agent_in_an_endpoint_polls_and_acts_per_mode(lab: Lab, tmp_path: Path, host: str, mode: str) -> None:
    tag = unique_tag()
    set_up(lab, host, tmp_path, tag, mode)
    try:
        state = status(lab, host)
        assert state["running"] and state["detection"] == "polling" and state["mode"] == mode
        assert "PID namespace" in state["detection_reason"]
        pid = int(lab.lab("run", host, "--as", f"{tag}-app", "--", "sleep", "600").stdout)
        wait_for(lambda: status(lab, host).get("detections"), timeout=30, what="the detection")
        report = wait_for(lambda: json.loads(lab.ssh(host, f"cat {BASE}/state/last-report.json").stdout or "{}")
                          .get("findings"), timeout=30, what="the report")
        (finding,) = [f for f in report if f["app"] == tag]
        assert (finding["app"], finding["evidence"]["pid"], finding["detection"]) == (tag, pid, {"mode": "polling"})
        alive = lab.ssh(host, f"kill -0 {pid}").returncode == 0
        if mode == "enforce":
            assert (finding["outcome"], alive) == ("killed", False)
        else:
            assert (finding["outcome"], alive) == ("not applied: monitor mode", True)
    finally:
        stopped = agent(lab, host, "service", "stop")
        assert json.loads(stopped.stdout)["result"] == "stopped", stopped.stderr


def test_a_package_installed_while_the_agent_runs_is_found_by_a_package_rescan(lab: Lab, tmp_path: Path) -> None:
    host, tag = "lab-ep-02", unique_tag()
    set_up(lab, host, tmp_path, tag, "monitor")
    try:
        lab.lab("install-package", host, f"{tag}-pkg", "1.0")
        rescan = wait_for(lambda: status(lab, host).get("last_package_scan"), timeout=30, what="the package rescan")
        assert (rescan["trigger"], rescan["sources"], rescan["violation"]) == ("packages_changed", ["dpkg"], 1)
        assert status(lab, host)["scans"] == 1  # a rescan of dpkg alone, not a full scan
    finally:
        agent(lab, host, "service", "stop")
