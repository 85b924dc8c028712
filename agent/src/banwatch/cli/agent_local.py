"""The agent's quick local commands, which Ansible runs on every device: policy install,
fact write, config check (the status, with its process checks, is in cli/agent_health.py)."""

from __future__ import annotations

import argparse

from banwatch.agent_config import load_config
from banwatch.cli.common import EXIT_INPUT, EXIT_OK, print_json_line
from banwatch.device_policy import REJECTED, PolicyStore
from banwatch.local_fact import fact_document, write_fact


def run_install(args: argparse.Namespace) -> int:
    """One JSON line: installed / unchanged (exit 0) or rejected with the reason (exit 2), with
    the policy before and after; with --check, what would happen."""
    store = PolicyStore(load_config(args.config))
    result = store.install(args.file, dry_run=args.check)
    document = result.document()
    if args.fact and not args.check:
        document["fact_changed"] = write_fact(args.fact, fact_document(store.state(), args.release_link))
    print_json_line(document)
    return EXIT_INPUT if result.result == REJECTED else EXIT_OK


def run_fact_write(args: argparse.Namespace) -> int:
    """One JSON line: whether the fact changed, and what it says."""
    document = fact_document(PolicyStore(load_config(args.config)).state(), args.release_link)
    print_json_line({"changed": write_fact(args.fact, document), "fact": document})
    return EXIT_OK


def run_config_check(args: argparse.Namespace) -> int:
    config = load_config(args.file)
    print(f"{args.file}: valid; host {config.host_name}, trusts {', '.join(sorted(config.trusted_keys))}, "
          f"scans every {config.scan_interval}s, {config.mode} mode, detection {config.detection}")
    return EXIT_OK
