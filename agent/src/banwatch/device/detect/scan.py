"""One full scan: sources → observations → matcher → findings → verdicts → report."""

from __future__ import annotations

import datetime as dt
from typing import Any

from banwatch.core.policy.verify import VerifiedPolicy
from banwatch.device import sources
from banwatch.device.detect.matcher import Matcher
from banwatch.device.detect.verdicts import HostIdentity, decide
from banwatch.device.report.build import build_report
from banwatch.device.report.model import Report
from banwatch.device.sources.base import SourceContext
from banwatch.device.sources.exe_hash import HashCache
from banwatch.device.sources.observations import SourceResult
from banwatch.device.sources.processes import add_details


def scan(
    policy: VerifiedPolicy,
    host: HostIdentity,
    *,
    ctx: SourceContext | None = None,
    now: dt.datetime | None = None,
    source_names: list[str] | None = None,
    policy_info: dict[str, Any],
) -> Report:
    """Run every source the policy needs (or those named) and return the report; `policy_info`
    is what the report says of the policy (the device's policy store writes it)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    matcher = Matcher(policy.apps)
    ctx = ctx or SourceContext(details=False)
    if matcher.needs_hashes:
        ctx.hash_executables = True
        ctx.hash_cache = ctx.hash_cache or HashCache()
    wanted = matcher.wanted_sources()
    names = source_names or list(sources.SOURCES)
    results: list[SourceResult] = []
    for name in names:
        if name in wanted or source_names:
            results.append(sources.run_source(name, ctx))
        elif name != "executables":
            results.append(SourceResult(name, "skipped", error="no rule in the policy needs it"))
    findings = matcher.match_all(obs for result in results for obs in result.observations)
    for finding in findings:
        add_details(finding.observation)
    verdicts = decide(findings, policy.exemptions, host, now.date())
    return build_report(host, verdicts=verdicts, results=results, policy=policy_info, generated_at=now,
                        root=ctx.root)
