"""`banwatch-agent ship` (send the spool to the collector once) and `keys init` (the device's
report key and its SSH key for the collector). Their own module, so that only these short-lived
commands ever load the SSH code and its key format, never the running agent."""

from __future__ import annotations

import argparse

from banwatch.core.cli import EXIT_FINDINGS, EXIT_OK, print_json_line
from banwatch.core.errors import InputError
from banwatch.device.config import load_config
from banwatch.device.keys import init_keys
from banwatch.device.report.ship import Shipper
from banwatch.device.report.spool import Spool


def run_ship(args: argparse.Namespace) -> int:
    """Exit 0 when nothing failed, 1 when some report is still to deliver (the line says why)."""
    config = load_config(args.config)
    if config.collector is None:
        raise InputError.single(config.path, "no collector is configured, so there is nowhere to ship to",
                                "set collector_host (and collector_known_hosts), or fetch the spool with "
                                "playbooks/collect.yml")
    init_keys(config)  # made at deploy; made here too, as the agent makes its report key
    result = Shipper(config.collector, Spool.for_config(config, sealing=False)).ship_once()
    print_json_line(result.document())
    return EXIT_FINDINGS if result.failed else EXIT_OK


def run_keys_init(args: argparse.Namespace) -> int:
    print_json_line(init_keys(load_config(args.config)).document())
    return EXIT_OK
