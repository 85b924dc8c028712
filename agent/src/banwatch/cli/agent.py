"""`banwatch-agent`: the device-side tool."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from banwatch.agent_config import DEFAULT_CONFIG, load_config
from banwatch.cli.common import EXIT_INPUT, EXIT_OK, print_json_line, run
from banwatch.cli.scan import add_scan_parser
from banwatch.device_policy import REJECTED, PolicyStore


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="banwatch-agent", description="The banwatch agent on a device.")
    commands = parser.add_subparsers(metavar="COMMAND")
    add_scan_parser(commands, device=True)
    policy = commands.add_parser("policy", help="the signed policy this device enforces")
    policy_commands = policy.add_subparsers(metavar="COMMAND")
    install = policy_commands.add_parser("install", help="verify a signed policy and install it atomically")
    install.add_argument("file", metavar="FILE")
    install.add_argument("--config", default=DEFAULT_CONFIG, help=f"agent configuration (default {DEFAULT_CONFIG})")
    install.set_defaults(handler=run_install)
    return parser


def run_install(args: argparse.Namespace) -> int:
    """One JSON line: installed / unchanged (exit 0) or rejected with the reason (exit 2)."""
    result = PolicyStore(load_config(args.config)).install(args.file)
    print_json_line(result.document())
    return EXIT_INPUT if result.result == REJECTED else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
