"""`scan` (one full scan against a policy) and `inventory` (what the sources see): their arguments.

Only the arguments live here, so building `banwatch-agent`'s parser costs nothing; the commands
themselves (cli/scan_run.py) are imported when they run.
"""

from __future__ import annotations

import argparse

from banwatch.agent_config import DEFAULT_CONFIG
from banwatch.cli.common import lazy


def add_scan_parser(subparsers: argparse._SubParsersAction, *, device: bool = False) -> None:
    """`scan`; on a device (`banwatch-agent scan`) the policy defaults to the installed, signed one."""
    parser = subparsers.add_parser("scan", help="scan this device once against a policy")
    parser.add_argument("--policy", required=not device, metavar="DIR",
                        help="policy source (banlist.yml, exemptions.yml)"
                        + ("; default: the installed signed policy" if device else ""))
    if device:
        parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"agent configuration (default {DEFAULT_CONFIG})")
        parser.add_argument("--spool", action="store_true",
                            help="also sign the report and spool it for the collector (as the agent does)")
    parser.add_argument("--host", metavar="NAME", help="evaluate as this inventory host (default: hostname)")
    parser.add_argument("--host-groups", metavar="G1,G2", default="", help="the host's inventory groups")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(handler=lazy("banwatch.cli.scan_run", "run_scan"))


def add_inventory_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("inventory", help="list what each source sees, without a policy")
    parser.add_argument("--source", action="append", metavar="NAME",
                        help="a source, e.g. processes or dpkg (repeat for several; default: all)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(handler=lazy("banwatch.cli.scan_run", "run_inventory"))


