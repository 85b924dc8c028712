"""`scan` (one full scan against the signed policy in force) and `software` (what the sources
see): their arguments.

Only the arguments live here, so building `banwatch-agent`'s parser costs nothing; the commands
themselves (device/cli/scan.py) are imported when they run.
"""

from __future__ import annotations

import argparse

from banwatch.core.cli import lazy
from banwatch.device.config import DEFAULT_CONFIG


def add_scan_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("scan", help="scan this device once against its signed policy")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"agent configuration (default {DEFAULT_CONFIG})")
    parser.add_argument("--spool", action="store_true",
                        help="also sign the report and spool it for the collector (as the agent does)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(handler=lazy("banwatch.device.cli.scan", "run_scan"))


def add_software_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("software", help="list what each source sees on this device, without a policy")
    parser.add_argument("--source", action="append", metavar="NAME",
                        help="a source, e.g. processes or dpkg (repeat for several; default: all)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(handler=lazy("banwatch.device.cli.scan", "run_software"))
