"""`banwatch-agent`: the device-side tool."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from banwatch.core.cli import Handler, lazy, run
from banwatch.device.cli.scan_args import add_scan_parser, add_software_parser
from banwatch.device.config import DEFAULT_CONFIG
from banwatch.device.local_fact import DEFAULT_FACT_FILE, DEFAULT_RELEASE_LINK

# Each command's work is imported when it runs: the agent itself (cli/service.py), the quick
# local commands Ansible calls on every device (cli/local.py), the status (cli/health.py), whose
# process checks need psutil, and the SSH side, shipping and the keys (cli/ship.py).
SERVICE = "banwatch.device.cli.service"
LOCAL = "banwatch.device.cli.local"
HEALTH = "banwatch.device.cli.health"
BACKGROUND_NICENESS = 10


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
    add_scan_parser(commands)
    add_software_parser(commands)

    policy = commands.add_parser("policy", help="the signed policy this device enforces")
    policy_commands = policy.add_subparsers(metavar="COMMAND")
    install = _command(policy_commands, "install",
                       "verify a signed policy and install it atomically (FILE '-': from standard input)",
                       lazy(LOCAL, "run_install"), argument="file")
    install.add_argument("--check", action="store_true",
                         help="only say what installing would do (installed / unchanged / rejected); change nothing")
    _fact_options(install, "also refresh the Ansible local fact at PATH")

    fact = commands.add_parser("fact", help="the Ansible local fact about banwatch on this device")
    fact_commands = fact.add_subparsers(metavar="COMMAND")
    write = _command(fact_commands, "write", "rewrite the local fact when it differs (prints changed)",
                     lazy(LOCAL, "run_fact_write"))
    _fact_options(write, f"the fact file (default {DEFAULT_FACT_FILE})", default=DEFAULT_FACT_FILE)

    config = commands.add_parser("config", help="the agent's configuration")
    config_commands = config.add_subparsers(metavar="COMMAND")
    check = config_commands.add_parser("check", help="validate a configuration file (keys included)")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(handler=lazy(LOCAL, "run_config_check"))

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
    status.set_defaults(handler=lazy(HEALTH, "run_status"))

    keys = commands.add_parser("keys", help="this device's own keys (report signing, collector login)")
    keys_commands = keys.add_subparsers(metavar="COMMAND")
    _command(keys_commands, "init", "make the device's keys once (idempotent); one JSON line",
             lazy("banwatch.device.cli.ship", "run_keys_init"))
    ship = _command(commands, "ship", "send the spooled reports to the collector once; one JSON line", _ship)
    ship.add_argument("--background", action="store_true",
                      help=f"at lower CPU priority (nice {BACKGROUND_NICENESS}), as the running agent ships")

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


def _ship(args: argparse.Namespace) -> int:
    """Shipping is never urgent (the spool keeps every report): in the background it yields the
    CPU to whatever the device's user (or an Ansible run) is doing, from before its SSH code loads."""
    if args.background:
        os.nice(BACKGROUND_NICENESS)
    return lazy("banwatch.device.cli.ship", "run_ship")(args)


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
