"""`banwatch`: the control node's and the fleet admin's tool (`banwatch-agent` is the device's)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from banwatch.core.cli import run

# Each command's module and the function that adds its parser. Only the module of the command
# being run is imported (all of them for help or a mistyped command), so `fleet status`, run
# from cron against 100,000 hosts, never pays for the policy code. The device's own commands are `banwatch-agent`'s.
COMMANDS: dict[str, tuple[str, str]] = {
    "policy": ("banwatch.control.cli.policy", "add_policy_parser"),
    "keys": ("banwatch.control.cli.keys", "add_keys_parser"),
    "export": ("banwatch.control.cli.export", "add_export_parser"),
    "reports": ("banwatch.control.cli.reports", "add_reports_parser"),
    "wheelhouse": ("banwatch.control.cli.bundle", "add_wheelhouse_parser"),
    "fleet": ("banwatch.fleet.cli.main", "add_fleet_parser"),
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
