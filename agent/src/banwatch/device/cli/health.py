"""`banwatch-agent status`: what the running agent reports about itself, and the rollout's
health gate (is the expected agent and policy version running, and was the last scan clean)."""

from __future__ import annotations

import argparse
from typing import Any

from banwatch.core.cli import EXIT_FINDINGS, EXIT_OK, print_json
from banwatch.device.config import load_config
from banwatch.device.policy_store import PolicyStore
from banwatch.device.service.status import current_status, health_problems

EXIT_NOT_RUNNING = 3  # as `systemctl status` and LSB init scripts say it


def run_status(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    status = current_status(config, PolicyStore(config).state())
    expecting = args.expect_agent_version is not None or args.expect_policy_version is not None
    if expecting:
        status["problems"] = health_problems(status, agent_version=args.expect_agent_version,
                                             policy_version=args.expect_policy_version)
        status["healthy"] = not status["problems"]
    if args.json:
        print_json(status)
    else:
        print(format_status(status))
    if not status["running"]:
        return EXIT_NOT_RUNNING
    return EXIT_FINDINGS if expecting and status["problems"] else EXIT_OK


def format_status(status: dict[str, Any]) -> str:
    policy = status["policy"]
    lines = [f"agent: {'running' if status['running'] else 'not running'}"
             + (f", pid {status['pid']}, version {status['agent_version']}, since {status['started_at']}, "
                f"{status['mode']} mode, detection {status['detection']}"
                + (f" ({status['detection_reason']})" if status.get("detection_reason") else "")
                if status["running"] else
                f" (installed version {status['installed_agent_version']})"),
             f"policy: installed version {policy['installed_version'] or 'none'}"
             + (f" (at {policy['installed_at']})" if policy.get("installed_at") else "")]
    in_force = policy.get("in_force")
    if in_force:
        lines.append(f"policy in force: version {in_force.get('version')}, {in_force.get('state')}"
                     + (f" ({in_force['reason']})" if in_force.get("reason") else ""))
    if policy.get("last_rejection"):
        rejection = policy["last_rejection"]
        lines.append(f"last rejected policy: {rejection['file']} at {rejection['at']}: {rejection['reason']}")
    scan = status["last_scan"]
    if scan:
        lines.append(f"last scan: {scan['at']}: {scan['verdict']} ({scan['violation']} violations, "
                     f"{scan['exempt']} exempt, {len(scan['errors'])} source errors), policy version "
                     f"{scan['policy_version']}")
    if status["detections"] or status["events_lost"]:
        lines.append(f"detections: {status['detections']}, exec event overruns: {status['events_lost']}")
    lines.append(f"reports pending: {status['pending_reports']}, spool depth: {status['spool_depth']}")
    limits = status.get("self_limits")
    if limits:
        lines.append(f"self-limits: cpu {limits['cpu_percent']}% (limit {limits['limits']['cpu_percent']}%), "
                     f"memory {limits['rss_mb']} MB (limit {limits['limits']['memory_mb']} MB)"
                     + (", backing off" if limits["backing_off"] else ""))
    for part, why in sorted((status.get("faults") or {}).items()):
        lines.append(f"failing: {part.replace('_', ' ')}: {why}")
    if status["last_error"]:
        lines.append(f"last error: {status['last_error']['at']}: {status['last_error']['message']}")
    if "healthy" in status:
        lines.append("healthy" if status["healthy"] else "unhealthy: " + "; ".join(status["problems"]))
    return "\n".join(lines)
