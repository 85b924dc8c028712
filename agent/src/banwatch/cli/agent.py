"""`banwatch-agent`: the device-side tool."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from banwatch.agent_config import DEFAULT_CONFIG, load_config
from banwatch.agent_status import current_status, health_problems
from banwatch.cli.common import EXIT_FINDINGS, EXIT_INPUT, EXIT_OK, Handler, lazy, print_json, print_json_line, run
from banwatch.cli.scan import add_scan_parser
from banwatch.device_policy import REJECTED, PolicyStore
from banwatch.local_fact import DEFAULT_FACT_FILE, DEFAULT_RELEASE_LINK, fact_document, write_fact

# The commands that run the agent itself, imported when they run (cli/agent_service.py).
SERVICE = "banwatch.cli.agent_service"
EXIT_NOT_RUNNING = 3  # as `systemctl status` and LSB init scripts say it


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"agent configuration (default {DEFAULT_CONFIG})")


def _fact_options(parser: argparse.ArgumentParser, text: str, default: str | None = None) -> None:
    parser.add_argument("--fact", metavar="PATH", default=default, help=text)
    parser.add_argument("--release-link", metavar="LINK", default=DEFAULT_RELEASE_LINK,
                        help=f"the link to the release in use (default {DEFAULT_RELEASE_LINK})")


def _command(commands: Any, name: str, text: str, handler: Handler, argument: str | None = None
             ) -> argparse.ArgumentParser:
    """A subcommand taking --config (and one positional `argument`, when named)."""
    command: argparse.ArgumentParser = commands.add_parser(name, help=text)
    if argument:
        command.add_argument(argument, metavar=argument.upper())
    _config_option(command)
    command.set_defaults(handler=handler)
    return command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="banwatch-agent", description="The banwatch agent on a device.")
    commands = parser.add_subparsers(metavar="COMMAND")
    add_scan_parser(commands, device=True)

    policy = commands.add_parser("policy", help="the signed policy this device enforces")
    policy_commands = policy.add_subparsers(metavar="COMMAND")
    install = _command(policy_commands, "install", "verify a signed policy and install it atomically", run_install,
                       argument="file")
    install.add_argument("--check", action="store_true",
                         help="only say what installing would do (installed / unchanged / rejected); change nothing")
    _fact_options(install, "also refresh the Ansible local fact at PATH")

    fact = commands.add_parser("fact", help="the Ansible local fact about banwatch on this device")
    fact_commands = fact.add_subparsers(metavar="COMMAND")
    write = _command(fact_commands, "write", "rewrite the local fact when it differs (prints changed)", run_fact_write)
    _fact_options(write, f"the fact file (default {DEFAULT_FACT_FILE})", default=DEFAULT_FACT_FILE)

    config = commands.add_parser("config", help="the agent's configuration")
    config_commands = config.add_subparsers(metavar="COMMAND")
    check = config_commands.add_parser("check", help="validate a configuration file (keys included)")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(handler=run_config_check)

    daemon = commands.add_parser("run", help="run the agent in the foreground (what the service runs)")
    _config_option(daemon)
    daemon.set_defaults(handler=lazy(SERVICE, "run_daemon"))

    status = commands.add_parser("status", help="what the running agent reports about itself")
    _config_option(status)
    status.add_argument("--json", action="store_true", help="one JSON document (what the rollout gate reads)")
    status.add_argument("--expect-agent-version", metavar="V",
                        help="healthy only when the running agent is this version (exit 1 otherwise)")
    status.add_argument("--expect-policy-version", type=int, metavar="N",
                        help="healthy only when the last complete scan used this policy version (exit 1 otherwise)")
    status.set_defaults(handler=run_status)

    keys = commands.add_parser("keys", help="this device's own keys (report signing, collector login)")
    keys_commands = keys.add_subparsers(metavar="COMMAND")
    _command(keys_commands, "init", "make the device's keys once (idempotent); one JSON line",
             lazy(SERVICE, "run_keys_init"))
    _command(commands, "ship", "send the spooled reports to the collector once; one JSON line",
             lazy("banwatch.cli.agent_ship", "run_ship"))

    quarantine = commands.add_parser("quarantine", help="executables the agent moved out of reach")
    quarantine_commands = quarantine.add_subparsers(metavar="COMMAND")
    listing = _command(quarantine_commands, "list", "every quarantined file, with its manifest",
                       lazy(SERVICE, "run_quarantine_list"))
    listing.add_argument("--json", action="store_true", help="the manifests as one JSON document")
    _command(quarantine_commands, "restore", "put a quarantined file back exactly (bytes, owner, mode)",
             lazy(SERVICE, "run_quarantine_restore"), argument="id")

    service = commands.add_parser("service", help="supervised mode, for hosts without systemd")
    service_commands = service.add_subparsers(metavar="COMMAND")
    for action, text in (("start", "start the supervised agent unless it runs"),
                         ("stop", "stop the supervised agent"),
                         ("restart", "stop, then start (e.g. after a new release)")):
        command = service_commands.add_parser(action, help=text)
        _config_option(command)
        command.set_defaults(handler=lazy(SERVICE, "run_service"), action=action)
    return parser


def run_install(args: argparse.Namespace) -> int:
    """One JSON line: installed / unchanged (exit 0) or rejected with the reason (exit 2), with
    the policy before and after; with --check, what would happen."""
    store = PolicyStore(load_config(args.config))
    result = store.install(args.file, dry_run=args.check)
    document = result.document()
    if args.fact and not args.check:
        document["fact_changed"] = write_fact(args.fact, fact_document(store.state(), args.release_link))
    print_json_line(document)
    return EXIT_INPUT if result.result == REJECTED else EXIT_OK


def run_fact_write(args: argparse.Namespace) -> int:
    """One JSON line: whether the fact changed, and what it says."""
    document = fact_document(PolicyStore(load_config(args.config)).state(), args.release_link)
    print_json_line({"changed": write_fact(args.fact, document), "fact": document})
    return EXIT_OK


def run_config_check(args: argparse.Namespace) -> int:
    config = load_config(args.file)
    print(f"{args.file}: valid; host {config.host_name}, trusts {', '.join(sorted(config.trusted_keys))}, "
          f"scans every {config.scan_interval}s, {config.mode} mode, detection {config.detection}")
    return EXIT_OK


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
    if status["last_error"]:
        lines.append(f"last error: {status['last_error']['at']}: {status['last_error']['message']}")
    if "healthy" in status:
        lines.append("healthy" if status["healthy"] else "unhealthy: " + "; ".join(status["problems"]))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
