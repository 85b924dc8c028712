"""`banwatch-agent`: the device-side tool."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from banwatch.cli.common import run
from banwatch.cli.scan import add_scan_parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="banwatch-agent", description="The banwatch agent on a device.")
    commands = parser.add_subparsers(metavar="COMMAND")
    add_scan_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
