"""`banwatch`: the control-node and admin tool."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from banwatch.cli.common import run

# Each command's module and the function that adds its parser. Only the module of the command
# being run is imported (all of them for help or a mistyped command), so `fleet status`, run
# from cron against 100,000 hosts, never pays for the policy or lab code.
COMMANDS: dict[str, tuple[str, str]] = {
    "scan": ("banwatch.cli.scan", "add_scan_parser"),
    "inventory": ("banwatch.cli.scan", "add_inventory_parser"),
    "policy": ("banwatch.cli.policy", "add_policy_parser"),
    "keys": ("banwatch.cli.keys", "add_keys_parser"),
    "lab": ("banwatch.cli.lab", "add_lab_parser"),
    "reports": ("banwatch.cli.reports", "add_reports_parser"),
    "wheelhouse": ("banwatch.cli.wheelhouse", "add_wheelhouse_parser"),
    "fleet": ("banwatch.cli.fleet", "add_fleet_parser"),
}


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser, with every command, or only the one `argv` names."""
    parser = argparse.ArgumentParser(prog="banwatch", description="Keep banned applications off managed devices.")
    commands = parser.add_subparsers(metavar="COMMAND")
    named = next((word for word in argv if not word.startswith("-")), None)
    for name in [named] if named in COMMANDS else list(COMMANDS):
        module, adder = COMMANDS[name]
        getattr(importlib.import_module(module), adder)(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    return run(build_parser(arguments), arguments)


if __name__ == "__main__":
    sys.exit(main())
