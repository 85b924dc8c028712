"""`banwatch lab`: the fleet lab, many isolated endpoints on this machine."""

from __future__ import annotations

import argparse
import os
import sys

from banwatch import render
from banwatch.cli.common import EXIT_OK, Handler, print_json
from banwatch.lab import control
from banwatch.lab.layout import DEFAULT_NETWORK, LabPaths

DEFAULT_DIR = ".lab"
DEFAULT_INVENTORY = "inventory/lab/hosts.yml"
DEFAULT_POLICY = "inventory/example/policy"
EXIT_LAB = 3


def add_lab_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("lab", help="the fleet lab: isolated endpoints on this machine")
    commands = parser.add_subparsers(metavar="COMMAND")

    def command(name: str, help_text: str, handler: object) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--dir", default=DEFAULT_DIR, help=f"the lab's directory (default {DEFAULT_DIR})")
        sub.set_defaults(handler=handler)
        return sub

    up = command("up", "start the endpoints and the collector (no-op when running)", run_up)
    up.add_argument("--endpoints", type=int, default=6, metavar="N", help="how many devices (default 6)")
    up.add_argument("--inventory", default=DEFAULT_INVENTORY, help=f"where to write it (default {DEFAULT_INVENTORY})")
    up.add_argument("--network", default=DEFAULT_NETWORK, metavar="127.X.Y",
                    help=f"the loopback network of the endpoints' addresses (default {DEFAULT_NETWORK})")
    up.add_argument("--policy", metavar="DIR", default=DEFAULT_POLICY if os.path.isdir(DEFAULT_POLICY) else None,
                    help=f"policy source the inventory points the roles at (default {DEFAULT_POLICY})")
    up.add_argument("--plain", action="store_true",
                    help="plain sshd instances without namespaces, as without root (no isolation)")
    command("down", "stop everything the lab started", run_down)
    status = command("status", "list endpoints and whether each answers over SSH", run_status)
    status.add_argument("--format", choices=("table", "json"), default="table")
    run = command("run", "start a process inside an endpoint and leave it running: run HOST -- CMD…", run_run)
    run.add_argument("host", metavar="HOST")
    run.add_argument("--as", dest="alias", metavar="NAME", help="run a copy of the program under this file name")
    run.set_defaults(trailing_command=[])
    package = command("install-package", "add a package to an endpoint's dpkg database", run_install_package)
    package.add_argument("host", metavar="HOST")
    package.add_argument("name", metavar="NAME")
    package.add_argument("version", metavar="VERSION", nargs="?", default="1.0")


def lab_errors(handler: Handler) -> Handler:
    """A lab that cannot do its job says why in one line, exit 3, never a traceback."""

    def wrapped(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except control.LabError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_LAB

    return wrapped


@lab_errors
def run_up(args: argparse.Namespace) -> int:
    state, started = control.up(args.dir, args.endpoints, args.inventory, network=args.network, plain=args.plain,
                                policy_source=args.policy)
    if not started:
        print(f"lab already up in {LabPaths(args.dir).root} ({len(state.endpoints)} hosts); nothing to do")
        return EXIT_OK
    print(render.table(("host", "groups", "address"),
                       [(e.name, ",".join(e.groups), f"{e.address}:{e.port}") for e in state.endpoints]))
    print(f"\nlab up: {len(state.endpoints) - 1} endpoints and a collector ({state.mode}); "
          f"inventory {state.inventory}")
    if state.mode == control.PLAIN:
        why = "--plain was asked for" if os.geteuid() == 0 else "not running as root"
        print(f"warning: {why}, so endpoints are plain sshd instances without namespaces.\n"
              f"Not isolated (shared with this machine): {'; '.join(control.NOT_ISOLATED)}.", file=sys.stderr)
    return EXIT_OK


@lab_errors
def run_down(args: argparse.Namespace) -> int:
    stopped = control.down(args.dir)
    if stopped is None:
        print(f"no lab running in {LabPaths(args.dir).root}; nothing to stop")
    else:
        print(f"lab down: stopped {stopped} processes")
    return EXIT_OK


@lab_errors
def run_status(args: argparse.Namespace) -> int:
    state, rows = control.status(args.dir)
    if state is None:
        print(f"no lab in {LabPaths(args.dir).root}; start one with 'banwatch lab up'")
        return EXIT_OK
    if args.format == "json":
        print_json([{"host": e.name, "groups": e.groups, "address": e.address, "port": e.port,
                     "mode": state.mode, "running": alive, "ssh": ssh} for e, alive, ssh in rows])
    else:
        print(render.table(("host", "groups", "address", "pid", "ssh"),
                           [(e.name, ",".join(e.groups), f"{e.address}:{e.port}",
                             e.init_pid or e.launcher_pid, ssh) for e, _, ssh in rows]))
    return EXIT_OK if all(ssh.startswith("ok") for _, _, ssh in rows) else EXIT_LAB


@lab_errors
def run_run(args: argparse.Namespace) -> int:
    pid = control.run_in(args.dir, args.host, args.trailing_command, args.alias)
    print(pid)
    return EXIT_OK


@lab_errors
def run_install_package(args: argparse.Namespace) -> int:
    control.install_package(args.dir, args.host, args.name, args.version)
    print(f"installed {args.name} {args.version} on {args.host}")
    return EXIT_OK

