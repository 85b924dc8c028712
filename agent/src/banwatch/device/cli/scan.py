"""`scan` and `software`: one full scan of this device against its signed policy, and what the sources see."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Mapping
from typing import Any

from banwatch.core import render
from banwatch.core.cli import EXIT_FINDINGS, EXIT_INPUT, EXIT_OK, print_json
from banwatch.core.errors import InputError
from banwatch.core.policy.verify import PolicyRejected
from banwatch.core.report.schema import COMPLIANT, describe_evidence
from banwatch.core.report.wire_text import wire_evidence, wire_report
from banwatch.device import sources
from banwatch.device.config import AgentConfig, load_config
from banwatch.device.detect.scan import scan
from banwatch.device.detect.verdicts import HostIdentity
from banwatch.device.policy_store import PolicyStore
from banwatch.device.report.spool import Spool
from banwatch.device.sources.base import SourceContext
from banwatch.device.sources.exe_hash import HashCache


def run_scan(args: argparse.Namespace) -> int:
    """The device as its signed policy names it (host and groups), never as a caller says it is."""
    config = load_config(args.config)
    try:
        policy, policy_info = PolicyStore(config).load(dt.datetime.now(dt.timezone.utc))
    except PolicyRejected as exc:
        raise InputError.single(config.policy_path, f"the installed policy is not usable: {exc}",
                                "install a valid policy with 'banwatch-agent policy install'") from None
    host = HostIdentity(*policy_info_host(policy_info, config))
    report = wire_report(scan(policy, host, policy_info=policy_info).to_document())  # the report's edge
    if args.spool:
        Spool.for_config(config).put(report)
    if args.format == "json":
        print_json(report)
    else:
        print(format_report(report))
    return EXIT_OK if report["summary"]["verdict"] == COMPLIANT else EXIT_FINDINGS


def policy_info_host(info: dict[str, Any], config: AgentConfig) -> tuple[str, frozenset[str]]:
    """Who the installed policy says this device is: its inventory name and groups."""
    return info.get("host_name") or config.host_name, frozenset(info.get("host_groups", ()))


def format_report(report: Mapping[str, Any]) -> str:
    """The report's document (as it leaves the device: wire-safe text) as a table for people."""
    host = report["host"]
    summary = report["summary"]
    groups = ", ".join(host["groups"]) or "none"
    lines = [f"host {host['name']} (groups: {groups})  verdict: {summary['verdict'].upper()}  "
             f"violations: {summary['violation']}  exempt: {summary['exempt']}  "
             f"under review: {summary['under_review']}"]
    if report["findings"]:
        rows = [(f["app"], f["verdict"], f.get("exemption"), f["source"],
                 f"{f['rule']['kind']}={f['rule']['pattern']}", describe_evidence(f["evidence"]))
                for f in report["findings"]]
        lines += ["", render.table(("app", "verdict", "exemption", "source", "rule", "evidence"), rows)]
    else:
        lines += ["", "no banned or under-review app found"]
    notes = [f"  {f['app']}: {f['note']}" for f in report["findings"] if f.get("note")]
    if notes:
        lines += ["", "notes:", *notes]
    status = ", ".join(f"{name} {info['status']}" + (f" ({info['count']})" if info["status"] == "ok" else "")
                       for name, info in report["sources"].items() if info["status"] != "skipped")
    lines += ["", f"sources: {status}"]
    lines += [f"error in source {e['source']}: {e['error']}" for e in report["errors"]]
    return "\n".join(lines)


def run_software(args: argparse.Namespace) -> int:
    names = args.source or [n for n in sources.SOURCES if n != "executables"]
    unknown = [n for n in names if n not in sources.SOURCES]
    if unknown:
        raise InputError.single("--source", f"unknown source '{unknown[0]}'",
                                f"use one of: {', '.join(sources.SOURCES)}")
    ctx = SourceContext(details=True, hash_cache=HashCache())
    results = sources.run_sources(names, ctx)
    observations = [wire_evidence(obs.to_dict()) for result in results for obs in result.observations]
    if args.format == "json":
        print_json(observations)
    else:
        rows = [(o["source"], o["name"], o.get("version"), o.get("pid") or o.get("identifier"),
                 o.get("exe") or o.get("path")) for o in observations]
        print(render.table(("source", "name", "version", "pid/id", "path"), rows))
    failed = [r for r in results if r.status == "error"]
    for result in results:
        if result.status != "ok":
            print(f"{result.name}: {result.status}: {result.error}", file=sys.stderr)
    return EXIT_INPUT if failed and len(failed) == len(results) else EXIT_OK


