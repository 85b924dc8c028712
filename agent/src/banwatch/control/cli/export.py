"""`banwatch export` (each device manager's documents for the inventory's managed hosts) and
`banwatch policy coverage` (what each manager can block, only detect, or not see)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from typing import Any

from banwatch.control.cli.policy import as_of_option, issued_at_option
from banwatch.control.managed.coverage import BLOCKABLE, coverage
from banwatch.control.managed.export import coverage_rows, export, read_devices
from banwatch.control.managed.manifest import ManagerExport
from banwatch.control.policy_source import load_policy_source
from banwatch.core import render
from banwatch.core.cli import EXIT_OK, print_json, print_json_line
from banwatch.core.errors import InputError


def add_export_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="write each device manager's documents for the managed hosts")
    parser.add_argument("--source", required=True, metavar="POLICY", help="policy source (banlist.yml, exemptions.yml)")
    parser.add_argument("--inventory", required=True, metavar="INV",
                        help="Ansible YAML inventory, or the FILE.json 'ansible-inventory --list' writes")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="folder to write (replaced whole; it must be new, empty or an earlier export)")
    parser.add_argument("--version", type=int, metavar="N",
                        help="policy version (default: the earlier export's, plus 1)")
    parser.add_argument("--issued-at", metavar="TIME", help="issue time, ISO 8601 (default: now); decides which "
                        "exemptions are in force")
    parser.add_argument("--reuse-unchanged", action="store_true",
                        help="keep the earlier export in --out as it is when nothing but its version and issue "
                             "time would change (a scheduled run)")
    parser.add_argument("--dry-run", action="store_true",
                        help="write nothing; say what would change (the files that would differ)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON line: version, out, changed, changed_files, documents")
    parser.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    if args.version is not None and args.version < 1:
        raise InputError.single("--version", f"{args.version}", "use a positive whole number")
    outcome = export(args.source, args.inventory, args.out, version=args.version,
                     issued_at=issued_at_option(args.issued_at), reuse_unchanged=args.reuse_unchanged,
                     dry_run=args.dry_run)
    exports = outcome.exports
    if args.json:
        print_json_line({"version": outcome.issue.version, "out": os.path.abspath(args.out),
                         "changed": outcome.changed, "changed_files": outcome.changed_files,
                         "documents": {e.manager: [d["id"] for d in e.documents] for e in exports}})
        return EXIT_OK
    devices = sum(len(e.devices) for e in exports)
    done = ("would export" if args.dry_run else "exported") if outcome.changed else "kept unchanged"
    print(f"{done} policy version {outcome.issue.version} for {devices} managed devices in {args.out}")
    gaps = [row for row in outcome.coverage if row["app_status"] == "banned" and row["coverage"] != BLOCKABLE]
    print(render.table(("manager", "document", "devices", "blocked apps", "valid until", "coverage gaps"),
                       list(_document_rows(exports, gaps))))
    print(f"\ncoverage gaps for banned apps: {len(gaps)}")
    if gaps:
        print(render.table(("app", "manager", "enrolment", "devices", "coverage", "why"),
                           [(g["app"], g["manager"], g["enrolment"], g["devices"], g["coverage"], g["why"])
                            for g in gaps]))
    return EXIT_OK


def _document_rows(exports: Iterable[ManagerExport], gaps: list[dict[str, Any]]) -> Iterable[tuple[object, ...]]:
    """One row per document (and per manager's devices that get none), with the banned apps its
    devices' kinds of enrolment leave unblocked."""
    for manager_export in exports:
        unblocked: dict[str, set[str]] = {}
        for gap in gaps:
            if gap["manager"] == manager_export.manager:
                unblocked.setdefault(gap["enrolment"], set()).add(gap["app"])
        for document in manager_export.documents:
            yield (manager_export.manager, document["id"], len(document["devices"]),
                   ", ".join(document["apps"]) or "-", document["valid_until"] or "-",
                   _gaps_of(manager_export, document["devices"], unblocked))
        unserved = sorted(name for name, device in manager_export.devices.items() if device["document"] is None)
        if unserved:
            yield (manager_export.manager, "(none: cannot block)", len(unserved), "-", "-",
                   _gaps_of(manager_export, unserved, unblocked))


def _gaps_of(manager_export: ManagerExport, devices: Iterable[str], unblocked: dict[str, set[str]]) -> str:
    enrolments = {manager_export.devices[name]["enrolment"] for name in devices}
    return ", ".join(sorted(set().union(*(unblocked.get(e, set()) for e in enrolments)))) or "-"


def run_coverage(args: argparse.Namespace) -> int:
    source = load_policy_source(args.source, as_of_option(args.as_of))
    rows: list[dict[str, Any]]
    if args.inventory:
        rows = coverage_rows(source, read_devices(args.inventory))
    else:
        rows = [row.document() for row in coverage(source.apps)]
    if args.json:
        print_json(rows)
        return EXIT_OK
    headers = ("app", "manager", "platform", "enrolment", *(("devices",) if args.inventory else ()), "coverage", "why")
    print(render.table(headers, [tuple(row[header] for header in headers) for row in rows]))
    return EXIT_OK
