"""`banwatch`: the control-node and admin tool."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from banwatch.cli.common import run
from banwatch.cli.fleet import add_fleet_parser
from banwatch.cli.keys import add_keys_parser
from banwatch.cli.lab import add_lab_parser
from banwatch.cli.policy import add_policy_parser
from banwatch.cli.reports import add_reports_parser
from banwatch.cli.scan import add_inventory_parser, add_scan_parser
from banwatch.cli.wheelhouse import add_wheelhouse_parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="banwatch", description="Keep banned applications off managed devices.")
    commands = parser.add_subparsers(metavar="COMMAND")
    add_scan_parser(commands)
    add_inventory_parser(commands)
    add_policy_parser(commands)
    add_keys_parser(commands)
    add_lab_parser(commands)
    add_reports_parser(commands)
    add_wheelhouse_parser(commands)
    add_fleet_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
