"""`banwatch-agent ship`: send the spool to the collector once. Its own module, so that only
this short-lived command ever loads the SSH code, never the running agent."""

from __future__ import annotations

import argparse

from banwatch.core.cli import EXIT_FINDINGS, EXIT_OK, print_json_line
from banwatch.core.errors import InputError
from banwatch.device.config import load_config
from banwatch.device.report.ship import Shipper
from banwatch.device.report.spool import Spool


def run_ship(args: argparse.Namespace) -> int:
    """Exit 0 when nothing failed, 1 when some report is still to deliver (the line says why)."""
    config = load_config(args.config)
    if config.collector is None:
        raise InputError.single(config.path, "no collector is configured, so there is nowhere to ship to",
                                "set collector_host (and collector_known_hosts), or fetch the spool with "
                                "playbooks/collect.yml")
    result = Shipper(config.collector, Spool.for_config(config, sealing=False)).ship_once()
    print_json_line(result.document())
    return EXIT_FINDINGS if result.failed else EXIT_OK
