"""The lab commands' work: start, stop, inspect and act inside the fleet lab's endpoints."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from banwatch.core import render
from banwatch.core.cli import EXIT_OK, print_json
from banwatch_lab import control
from banwatch_lab.cli import EXIT_LAB
from banwatch_lab.layout import LabPaths
from banwatch_lab.state import PLAIN


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
    if state.mode == PLAIN:
        print("warning: --plain was asked for, so endpoints are plain sshd instances without namespaces.\n"
              f"Not isolated (shared with this machine): {'; '.join(control.NOT_ISOLATED)}.", file=sys.stderr)
    return EXIT_OK


def run_down(args: argparse.Namespace) -> int:
    stopped = control.down(args.dir)
    from banwatch_lab.standins import control as standins  # noqa: PLC0415 - their modules only when asked for

    if standins.down(args.dir):
        print("stand-ins down")
    if stopped is None:
        print(f"no lab running in {LabPaths(args.dir).root}; nothing to stop")
    else:
        print(f"lab down: stopped {stopped} processes")
    return EXIT_OK


def run_status(args: argparse.Namespace) -> int:
    state, rows = control.status(args.dir)
    if state is None:
        print(f"no lab in {LabPaths(args.dir).root}; start one with 'banwatch-lab up'")
        return EXIT_OK
    if args.format == "json":
        print_json([{"host": e.name, "groups": e.groups, "address": e.address, "port": e.port,
                     "mode": state.mode, "running": alive, "ssh": ssh} for e, alive, ssh in rows])
    else:
        print(render.table(("host", "groups", "address", "pid", "ssh"),
                           [(e.name, ",".join(e.groups), f"{e.address}:{e.port}",
                             e.init_pid or e.launcher_pid, ssh) for e, _, ssh in rows]))
    return EXIT_OK if all(ssh.startswith("ok") for _, _, ssh in rows) else EXIT_LAB


def run_run(args: argparse.Namespace) -> int:
    pid = control.run_in(args.dir, args.host, args.trailing_command, args.alias)
    print(pid)
    return EXIT_OK


def run_standins(args: argparse.Namespace) -> int:
    from banwatch_lab.standins import control as standins  # noqa: PLC0415 - their modules only when asked for

    paths = standins.StandinPaths.of(args.dir)
    if args.action == "down":
        print("stand-ins down" if standins.down(args.dir) else f"no stand-ins running in {paths.root}; nothing to stop")
        return EXIT_OK
    if args.action == "up":
        state, started = standins.up(args.dir, args.network, args.inventory, args.policy)
        print(f"stand-ins {'up' if started else 'already up'}: Android Management API {state['android_api_url']}, "
              f"Microsoft Graph {state['graph_url']}; push variables {state['push_vars']} "
              f"(vault password file {state['vault_password_file']})")
        return EXIT_OK
    state = standins.running(paths)
    print(f"stand-ins up (pid {state['pid']}): Android Management API {state['android_api_url']}, "
          f"Microsoft Graph {state['graph_url']}" if state
          else f"no stand-ins running in {paths.root}")
    return EXIT_OK if state else EXIT_LAB


def run_install_package(args: argparse.Namespace) -> int:
    control.install_package(args.dir, args.host, args.name, args.version)
    print(f"installed {args.name} {args.version} on {args.host}")
    return EXIT_OK



def run_as_root(args: argparse.Namespace) -> NoReturn:
    """Becomes the command: its exit code is the lab command's."""
    control.as_lab_root(args.dir, args.trailing_command)
