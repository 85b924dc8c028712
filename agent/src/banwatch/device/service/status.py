"""What the running agent tells the world: the status file it rewrites after every scan.

`banwatch-agent status` (and so the rollout's health gate) reads it, checks that the process
which wrote it is still alive, and adds what the device's policy state says was installed.
"""

from __future__ import annotations

import json
import os
from typing import Any

import psutil

from banwatch import __version__
from banwatch.core.atomic import write_atomic
from banwatch.device.config import AgentConfig

STATUS_SCHEMA = "banwatch.status/1"
STATUS_FILE = "status.json"


def status_path(config: AgentConfig) -> str:
    return os.path.join(config.state_dir, STATUS_FILE)


def write_status(config: AgentConfig, document: dict[str, Any]) -> None:
    """Rewritten after every scan; not fsynced (the next scan rewrites it) but never half-written."""
    os.makedirs(config.state_dir, mode=0o750, exist_ok=True)
    write_atomic(status_path(config), json.dumps({"schema": STATUS_SCHEMA, **document}, indent=2).encode(),
                 0o644, durable=False)


def read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def process_alive(pid: object, started: object) -> bool:
    """True when `pid` runs and is the same process (its start time matches), not a reused pid."""
    if not isinstance(pid, int) or not isinstance(started, (int, float)):
        return False
    try:
        return abs(psutil.Process(pid).create_time() - started) < 1.0
    except psutil.Error:
        return False


def current_status(config: AgentConfig, policy_state: dict[str, Any]) -> dict[str, Any]:
    """The running agent's own account, whether it is alive, and the device's installed policy."""
    reported = read_json(status_path(config)) or {}
    running = process_alive(reported.get("pid"), reported.get("process_started"))
    installed = {key: policy_state[key] for key in ("installed_digest", "installed_at", "last_rejection")
                 if key in policy_state}
    return {
        "running": running,
        "pid": reported.get("pid") if running else None,
        "agent_version": reported.get("agent_version") if running else None,
        "installed_agent_version": __version__,
        "started_at": reported.get("started_at") if running else None,
        "detection": reported.get("detection") if running else None,
        "detection_reason": reported.get("detection_reason") if running else None,
        "mode": reported.get("mode"),
        "scan_interval": reported.get("scan_interval"),
        "poll_interval": reported.get("poll_interval"),
        "policy": {"installed_version": policy_state.get("highest_version"), **installed,
                   "in_force": reported.get("policy")},
        "last_scan": reported.get("last_scan"),
        "scans": reported.get("scans", 0),
        "last_package_scan": reported.get("last_package_scan"),
        "detections": reported.get("detections", 0),
        "last_detection": reported.get("last_detection"),
        "events_lost": reported.get("events_lost", 0),
        "spool_depth": reported.get("spool_depth", 0),
        "last_shipment": reported.get("last_shipment"),
        "pending_reports": reported.get("pending_reports", 0),
        "self_limits": reported.get("self_limits"),
        "last_error": reported.get("last_error"),
        "faults": (reported.get("faults") or {}) if running else {},
        "updated_at": reported.get("updated_at"),
    }


def health_problems(status: dict[str, Any], *, agent_version: str | None, policy_version: int | None) -> list[str]:
    """Why the agent is not (yet) what a rollout expects: running the wanted release, having
    scanned with the wanted policy, that scan complete, and no part of it failing now (a report
    writer or shipper that keeps raising, a loop that met an error since the last scan).
    Empty when healthy."""
    if not status["running"]:
        error = status.get("last_error") or {}
        return ["the agent is not running" + (f" (last error: {error['message']})" if error.get("message") else "")]
    problems = [f"the agent's {part.replace('_', ' ')} is failing: {why}" for part, why in
                sorted((status.get("faults") or {}).items())]
    if agent_version is not None and status["agent_version"] != agent_version:
        problems.append(f"the running agent is version {status['agent_version']}, not {agent_version}")
    scan = status.get("last_scan")
    rejection = status["policy"].get("last_rejection")
    if policy_version is not None and status["policy"].get("installed_version") != policy_version and rejection:
        problems.append(f"policy version {policy_version} was rejected: {rejection.get('reason')}")
    if not scan:
        error = status.get("last_error") or {}
        problems.append("no scan yet" + (f" ({error['message']})" if error.get("message") else ""))
    else:
        if policy_version is not None and scan.get("policy_version") != policy_version:
            problems.append(f"the last scan used policy version {scan.get('policy_version')}, not {policy_version}")
        if scan.get("at", "") < (status.get("started_at") or ""):
            problems.append("no scan since the agent started")
        problems += [f"source {error['source']} failed: {error['error']}" for error in scan.get("errors", [])]
    return problems
