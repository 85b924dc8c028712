"""`reports DIR`: one row per host from a directory of scan reports (as `playbooks/scan.yml` brings home)."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from banwatch.core import render
from banwatch.core.cli import EXIT_FINDINGS, EXIT_OK, print_json
from banwatch.core.errors import InputError
from banwatch.core.report.schema import REPORT_SCHEMA, VIOLATION, describe_evidence

MAX_REPORT_BYTES = 8 * 1024 * 1024


def add_reports_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("reports", help="summarise a directory of scan reports, one row per host")
    parser.add_argument("directory", metavar="DIR", help="a directory of <host>.json reports")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(handler=run_reports)


def load_reports(directory: str) -> list[dict[str, Any]]:
    if not os.path.isdir(directory):
        raise InputError.single(directory, "not a directory", "point to the directory the reports were saved in")
    reports = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".json"):
            continue
        path = os.path.join(directory, name)
        try:
            if os.path.getsize(path) > MAX_REPORT_BYTES:
                raise ValueError(f"larger than {MAX_REPORT_BYTES} bytes")
            with open(path, encoding="utf-8") as handle:
                report = json.load(handle)
            if not isinstance(report, dict) or report.get("schema") != REPORT_SCHEMA:
                raise ValueError(f"not a {REPORT_SCHEMA} document")
        except (OSError, ValueError) as exc:
            raise InputError.single(path, f"unreadable report: {exc}",
                                    "remove the file or scan the host again") from None
        reports.append(report)
    return reports


def describe_finding(finding: dict[str, Any]) -> str:
    """`tiktok exempt EX-2026-014 (pid 5 TikTok)`: short enough for a table cell."""
    evidence = finding["evidence"]
    seen = f"pid {evidence['pid']} {evidence.get('name')}" if "pid" in evidence else describe_evidence(evidence)
    cover = f" {finding['exemption']}" if finding.get("exemption") else ""
    return f"{finding['app']} {finding['verdict']}{cover} ({seen})"


def run_reports(args: argparse.Namespace) -> int:
    reports = load_reports(args.directory)
    rows = [{"host": r["host"]["name"], "groups": r["host"]["groups"], "verdict": r["summary"]["verdict"],
             "findings": [describe_finding(f) for f in r["findings"]]} for r in reports]
    if args.format == "json":
        print_json(rows)
    else:
        print(render.table(("host", "groups", "verdict", "findings"),
                           [(row["host"], ",".join(row["groups"]), row["verdict"].upper(),
                             "; ".join(row["findings"]) or "none") for row in rows]))
        violations = sum(1 for row in rows if row["verdict"] == VIOLATION)
        print(f"\n{len(rows)} hosts: {len(rows) - violations} compliant, {violations} in violation")
    return EXIT_FINDINGS if any(row["verdict"] == VIOLATION for row in rows) else EXIT_OK
