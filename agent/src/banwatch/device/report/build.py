"""Verdicts and source results → the report document of DESIGN.md (schema `core.report.schema.REPORT_SCHEMA`)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from banwatch import __version__
from banwatch.core.report.schema import COMPLIANT, EXEMPT, REPORT_SCHEMA, UNDER_REVIEW, VIOLATION
from banwatch.core.timestamps import isoformat
from banwatch.device import identity
from banwatch.device.detect.verdicts import HostIdentity, Verdict
from banwatch.device.sources.observations import SourceResult


def finding_document(verdict: Verdict) -> dict[str, Any]:
    finding = verdict.finding
    evidence = finding.observation.to_dict()
    evidence.pop("source", None)
    document: dict[str, Any] = {
        "app": finding.app.id,
        "app_name": finding.app.name,
        "severity": finding.app.severity,
        "source": finding.observation.source,
        "verdict": verdict.verdict,
        "exemption": verdict.exemption.id if verdict.exemption else None,
        "exemption_expires": verdict.exemption.expires.isoformat() if verdict.exemption else None,
        "action": finding.app.action if verdict.verdict == VIOLATION else "report",
        "action_taken": "none",
        "rule": {"kind": finding.rule, "pattern": finding.pattern},
        "evidence": evidence,
    }
    if verdict.note:
        document["note"] = verdict.note
    return document


def build_report(
    host: HostIdentity,
    *,
    verdicts: Iterable[Verdict],
    results: Iterable[SourceResult],
    policy: dict[str, Any],
    generated_at: dt.datetime,
    root: str = "/",
) -> dict[str, Any]:
    findings = [finding_document(v) for v in verdicts]
    results = list(results)
    errors = [{"source": r.name, "error": r.error} for r in results if r.status == "error"]
    return {
        "schema": REPORT_SCHEMA,
        "report_id": str(uuid.uuid4()),
        "generated_at": isoformat(generated_at),
        "host": {
            "name": host.name,
            "groups": sorted(host.groups),
            "hostname": identity.hostname(),
            "machine_id": identity.machine_id(root),
            "os": identity.os_description(),
        },
        "agent": {"version": __version__},
        "policy": policy,
        "sources": {r.name: r.summary() for r in results},
        "findings": findings,
        "errors": errors,
        "summary": summarize(findings),
    }


def summarize(findings: list[dict[str, Any]]) -> dict[str, Any]:
    """The report's verdict and counts, from its findings."""
    counts = {kind: sum(1 for f in findings if f["verdict"] == kind) for kind in (VIOLATION, EXEMPT, UNDER_REVIEW)}
    return {"verdict": VIOLATION if counts[VIOLATION] else COMPLIANT, **counts}
