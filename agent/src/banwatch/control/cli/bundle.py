"""`wheelhouse build`: the offline bundle the banwatch_agent role installs on devices."""

from __future__ import annotations

import argparse

from banwatch.control.bundle import build_bundle
from banwatch.core.cli import EXIT_OK, print_json_line


def add_wheelhouse_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("wheelhouse", help="the offline agent bundle for devices")
    commands = parser.add_subparsers(metavar="COMMAND")
    build = commands.add_parser("build", help="build (or reuse) the bundle for an agent source, without network")
    build.add_argument("--source", required=True, metavar="DIR", help="the agent's source (the repository's agent/)")
    build.add_argument("--find-links", required=True, metavar="DIR",
                       help="cached dependency wheels and pip (make setup fills .cache/wheels)")
    build.add_argument("--out", required=True, metavar="DIR", help="where bundles are kept")
    build.set_defaults(handler=run_build)


def run_build(args: argparse.Namespace) -> int:
    """One JSON line: version, digest, archive, python, wheels, built (false when reused)."""
    print_json_line(build_bundle(args.source, args.find_links, args.out).document())
    return EXIT_OK
