"""Findings → verdicts: a violation, or exempt under a named exemption, at scan time.

An exemption covers a finding when it is for the same app, names this host or one of its
groups, and has not expired (it covers through its expiry day, UTC). A never-exemptable host
gets no exemption in its signed policy: the control node refuses to build one that would.
Apps under review are reported with verdict `under_review` and are never acted on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from banwatch.core.report.schema import EXEMPT, UNDER_REVIEW, VIOLATION

if TYPE_CHECKING:  # names for annotations only
    from banwatch.core.policy.model import Exemption
    from banwatch.device.detect.matcher import Finding



@dataclass(frozen=True)
class HostIdentity:
    """Who the device is for the policy: its inventory name and groups."""

    name: str
    groups: frozenset[str]


@dataclass(frozen=True)
class Verdict:
    finding: Finding
    verdict: str
    exemption: Exemption | None = None
    note: str | None = None


def decide(
    findings: Iterable[Finding],
    exemptions: Iterable[Exemption],
    host: HostIdentity,
    today: dt.date,
) -> list[Verdict]:
    register = list(exemptions)
    verdicts = []
    for finding in findings:
        if not finding.app.banned:
            verdicts.append(Verdict(finding, UNDER_REVIEW))
            continue
        covering = [e for e in register if e.app == finding.app.id and e.covers(host.name, host.groups)]
        current = [e for e in covering if not e.expired(today)]
        if current:
            best = max(current, key=lambda e: e.expires)
            verdicts.append(Verdict(finding, EXEMPT, best))
        elif covering:
            latest = max(covering, key=lambda e: e.expires)
            verdicts.append(Verdict(finding, VIOLATION, note=f"exemption {latest.id} expired on {latest.expires}"))
        else:
            verdicts.append(Verdict(finding, VIOLATION))
    return verdicts
