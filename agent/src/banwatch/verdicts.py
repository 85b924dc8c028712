"""Findings → verdicts: a violation, or exempt under a named exemption, at scan time.

An exemption covers a finding when it is for the same app, names this host or one of its
groups, and has not expired (it covers through its expiry day, UTC). A host that is, or is
in a group that is, marked never exemptable is never covered, whatever the register says.
Apps under review are reported with verdict `under_review` and are never acted on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # names for annotations only: the fleet views read the verdict names without the matcher
    from banwatch.matcher import Finding
    from banwatch.policy.model import Exemption

VIOLATION = "violation"
EXEMPT = "exempt"
UNDER_REVIEW = "under_review"


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
    *,
    never_exempt_groups: frozenset[str] = frozenset(),
    never_exempt_hosts: frozenset[str] = frozenset(),
) -> list[Verdict]:
    register = list(exemptions)
    blocked_by = sorted(host.groups & never_exempt_groups) or ([host.name] if host.name in never_exempt_hosts else [])
    verdicts = []
    for finding in findings:
        if not finding.app.banned:
            verdicts.append(Verdict(finding, UNDER_REVIEW))
            continue
        covering = [e for e in register if e.app == finding.app.id and e.covers(host.name, host.groups)]
        current = [e for e in covering if not e.expired(today)]
        if current and blocked_by:
            note = f"exemption {current[0].id} not applied: {', '.join(blocked_by)} is never exemptable"
            verdicts.append(Verdict(finding, VIOLATION, note=note))
        elif current:
            best = max(current, key=lambda e: e.expires)
            verdicts.append(Verdict(finding, EXEMPT, best))
        elif covering:
            latest = max(covering, key=lambda e: e.expires)
            verdicts.append(Verdict(finding, VIOLATION, note=f"exemption {latest.id} expired on {latest.expires}"))
        else:
            verdicts.append(Verdict(finding, VIOLATION))
    return verdicts
