"""`banwatch-agent` commands that run the agent or reach beyond the device's policy: the daemon,
the supervised service and quarantine. Imported only when one of
them runs, so the quick commands (policy install, status, fact) stay quick."""

from __future__ import annotations

import argparse

from banwatch.core.cli import EXIT_OK, print_json, print_json_line
from banwatch.device.act.quarantine import QuarantineStore
from banwatch.device.config import load_config
from banwatch.device.service import supervisor
from banwatch.device.service.daemon import Agent


def run_daemon(args: argparse.Namespace) -> int:
    return Agent(load_config(args.config)).run()


def run_quarantine_list(args: argparse.Namespace) -> int:
    entries = QuarantineStore(load_config(args.config).state_dir).entries()
    if args.json:
        print_json(entries)
        return EXIT_OK
    if not entries:
        print("nothing in quarantine")
    for entry in entries:
        state = f"restored {entry['restored_at']}" if entry.get("restored_at") else "quarantined"
        print(f"{entry['id']}  {entry['app']}  {entry['original_path']}  uid {entry['uid']} gid {entry['gid']} "
              f"mode {entry['mode']:04o}  sha256 {entry['sha256'][:16]}…  {entry['quarantined_at']}  {state}")
    return EXIT_OK


def run_quarantine_restore(args: argparse.Namespace) -> int:
    """One JSON line: restored, with the path (exit 0), or an error naming the fix (exit 2)."""
    manifest = QuarantineStore(load_config(args.config).state_dir).restore(args.id)
    print_json_line({"result": "restored", "id": manifest["id"], "path": manifest["original_path"]})
    return EXIT_OK


def run_service(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.action == "start":
        result = supervisor.start(config)
    elif args.action == "stop":
        result = supervisor.stop(config)
    else:
        stopped = supervisor.stop(config)
        started = supervisor.start(config)
        result = supervisor.ServiceResult("restarted" if stopped.pid else started.result, started.pid)
    print_json_line(result.document())
    return EXIT_OK
