"""`banwatch-lab`: the fleet lab, many isolated endpoints on this machine.

The commands' work is in `commands`, imported only when one runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from banwatch.core.cli import EXIT_INPUT, Handler, lazy, run
from banwatch_lab.layout import DEFAULT_NETWORK, STANDIN_OCTET
from banwatch_lab.state import LabError, LabUnsupported

DEFAULT_DIR = ".lab"
DEFAULT_INVENTORY = "inventory/lab/hosts.yml"
DEFAULT_POLICY = "inventory/example/policy"
MANAGED_INVENTORY = "inventory/example/hosts.yml"
EXIT_LAB = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="banwatch-lab",
                                     description="The fleet lab: isolated endpoints on this machine.")
    commands = parser.add_subparsers(metavar="COMMAND")

    def command(name: str, help_text: str, handler: object) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--dir", default=DEFAULT_DIR, help=f"the lab's directory (default {DEFAULT_DIR})")
        sub.set_defaults(handler=handler)
        return sub

    up = command("up", "start the endpoints and the collector (no-op when running)", _lab_command("run_up"))
    up.add_argument("--endpoints", type=int, default=6, metavar="N", help="how many devices (default 6)")
    up.add_argument("--inventory", default=DEFAULT_INVENTORY, help=f"where to write it (default {DEFAULT_INVENTORY})")
    up.add_argument("--network", default=DEFAULT_NETWORK, metavar="127.X.Y",
                    help=f"the loopback network of the endpoints' addresses (default {DEFAULT_NETWORK})")
    up.add_argument("--policy", metavar="DIR", default=DEFAULT_POLICY if os.path.isdir(DEFAULT_POLICY) else None,
                    help=f"policy source the inventory points the roles at (default {DEFAULT_POLICY})")
    up.add_argument("--plain", action="store_true",
                    help="plain sshd instances without namespaces (no isolation), where namespaces are unavailable")
    command("down", "stop everything the lab started", _lab_command("run_down"))
    status = command("status", "list endpoints and whether each answers over SSH", _lab_command("run_status"))
    status.add_argument("--format", choices=("table", "json"), default="table")
    run = command("run", "start a process inside an endpoint and leave it running: run HOST -- CMD…",
                  _lab_command("run_run"))
    run.add_argument("host", metavar="HOST")
    run.add_argument("--as", dest="alias", metavar="NAME", help="run a copy of the program under this file name")
    run.set_defaults(trailing_command=[])
    as_root = command("as-root", "run a command on this machine as the lab's root, who may read what its "
                      "endpoints' users own (the collector's drop box): as-root -- CMD…", _lab_command("run_as_root"))
    as_root.set_defaults(trailing_command=[])
    standins = command("standins", "start, stop or list the local HTTPS stand-ins of the managers' APIs the push "
                       "uses (up is a no-op when running; down also stops them)", _lab_command("run_standins"))
    standins.add_argument("action", choices=("up", "down", "status"))
    standins.add_argument("--network", default=DEFAULT_NETWORK, metavar="127.X.Y",
                          help=f"the loopback network of their address, .{STANDIN_OCTET} (default {DEFAULT_NETWORK})")
    standins.add_argument("--inventory", default=MANAGED_INVENTORY,
                          help=f"the managed devices they know (default {MANAGED_INVENTORY})")
    standins.add_argument("--policy", default=DEFAULT_POLICY, metavar="DIR",
                          help=f"the policy source whose export names the Entra groups they know "
                               f"(default {DEFAULT_POLICY})")
    package = command("install-package", "add a package to an endpoint's dpkg database",
                      _lab_command("run_install_package"))
    package.add_argument("host", metavar="HOST")
    package.add_argument("name", metavar="NAME")
    package.add_argument("version", metavar="VERSION", nargs="?", default="1.0")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv)


def lab_errors(handler: Handler) -> Handler:
    """A lab that cannot do its job says why in one line, exit 3 (2 when it cannot run here at
    all: what it needs is the user's to give), never a traceback."""

    def wrapped(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except LabUnsupported as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_INPUT
        except LabError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_LAB

    return wrapped


def _lab_command(name: str) -> Handler:
    """The command `name` of `lab_run`, its lab errors reported as such."""
    return lab_errors(lazy("banwatch_lab.commands", name))


if __name__ == "__main__":
    sys.exit(main())
