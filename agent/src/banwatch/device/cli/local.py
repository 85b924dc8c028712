"""The agent's quick local commands, which Ansible runs on every device: policy install,
fact write, config check (the status, with its process checks, is in cli/agent_health.py)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

from banwatch.core.cli import EXIT_INPUT, EXIT_OK, print_json_line
from banwatch.core.errors import InputError
from banwatch.device.config import load_config
from banwatch.device.local_fact import fact_document, write_fact
from banwatch.device.policy_store import REJECTED, PolicyStore


@contextlib.contextmanager
def _writing_device_files(config_path: str) -> Iterator[None]:
    """A file the command must write cannot be (most often: not run as root): one clear line
    and exit code 2, not a traceback."""
    try:
        yield
    except OSError as exc:
        raise InputError.single(exc.filename or config_path, f"cannot write: {exc.strerror}",
                                "run it as root (from Ansible: become: true), or correct the paths in "
                                f"{config_path}") from None


def run_install(args: argparse.Namespace) -> int:
    """One JSON line: installed / unchanged (exit 0) or rejected with the reason (exit 2), with
    the policy before and after; with --check, what would happen."""
    store = PolicyStore(load_config(args.config))
    with _writing_device_files(args.config):
        result = store.install(args.file, dry_run=args.check)
        document = result.document()
        if args.fact and not args.check:
            document["fact_changed"] = write_fact(args.fact, fact_document(store.state(), args.release_link))
    print_json_line(document)
    return EXIT_INPUT if result.result == REJECTED else EXIT_OK


def run_fact_write(args: argparse.Namespace) -> int:
    """One JSON line: whether the fact changed, and what it says."""
    document = fact_document(PolicyStore(load_config(args.config)).state(), args.release_link)
    with _writing_device_files(args.config):
        changed = write_fact(args.fact, document)
    print_json_line({"changed": changed, "fact": document})
    return EXIT_OK


def run_config_check(args: argparse.Namespace) -> int:
    config = load_config(args.file)
    print(f"{args.file}: valid; host {config.host_name}, trusts {', '.join(sorted(config.trusted_keys))}, "
          f"scans every {config.scan_interval}s, {config.mode} mode, detection {config.detection}")
    return EXIT_OK
