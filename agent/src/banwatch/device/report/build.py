"""Verdicts and source results → a new `Report` (model.py), with this device's identity."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from banwatch import __version__
from banwatch.device import identity
from banwatch.device.detect.verdicts import HostIdentity, Verdict
from banwatch.device.report.finding import ReportedFinding
from banwatch.device.report.model import AgentInfo, HostInfo, Report, SourceError, SourceStatus
from banwatch.device.sources.observations import SourceResult


def build_report(
    host: HostIdentity,
    *,
    verdicts: Iterable[Verdict],
    results: Iterable[SourceResult],
    policy: dict[str, Any],
    generated_at: dt.datetime,
    root: str = "/",
) -> Report:
    results = list(results)
    return Report(
        report_id=str(uuid.uuid4()),
        generated_at=generated_at,
        host=HostInfo(host.name, tuple(sorted(host.groups)), identity.hostname(), identity.machine_id(root),
                      identity.os_description()),
        agent=AgentInfo(__version__),
        policy=policy,
        sources={r.name: SourceStatus.of(r) for r in results},
        findings=[ReportedFinding.from_verdict(v) for v in verdicts],
        errors=[SourceError(r.name, r.error) for r in results if r.status == "error"],
    )
