"""A host's compliance state (DESIGN.md) from its latest report, and the reason, in one place.

Precedence, first match wins:
  violation   the latest report found a banned app without cover (even when that report is
              old: the last thing known is a violation, and it is never hidden)
  stale       the latest report is older than the stale interval: nothing current is known
  error       the device rejected a policy, or a source failed, in its latest report
  exempt      banned apps found, every one covered by an exemption
  compliant   nothing banned found
  unreported  in the inventory, never heard from
"""

from __future__ import annotations

import datetime as dt

from banwatch.fleet.store import LatestReport
from banwatch.policy.effective import parse_time
from banwatch.verdicts import EXEMPT, VIOLATION

COMPLIANT, STALE, ERROR, UNREPORTED = "compliant", "stale", "error", "unreported"
# The order in which tables and counts list states: most urgent first.
STATES = (VIOLATION, ERROR, STALE, UNREPORTED, EXEMPT, COMPLIANT)


def age_text(age: dt.timedelta) -> str:
    seconds = max(0, int(age.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def host_state(latest: LatestReport | None, now: dt.datetime, stale_after: dt.timedelta) -> tuple[str, str]:
    """(state, why) for a host."""
    if latest is None:
        return UNREPORTED, "never reported"
    age = now - parse_time(latest.generated_at)
    old = age > stale_after
    if latest.violations or latest.verdict == VIOLATION:
        apps = sorted({f["app"] for f in latest.findings if f["verdict"] == VIOLATION})
        return VIOLATION, f"banned app found: {', '.join(apps) or latest.violations}" + (
            f" (last report {age_text(age)} ago)" if old else "")
    if old:
        return STALE, f"no report for {age_text(age)} (expected within {age_text(stale_after)})"
    if latest.policy_rejection:
        return ERROR, f"rejected a policy: {latest.policy_rejection}"
    if latest.source_errors:
        return ERROR, f"source failed: {'; '.join(latest.source_errors)}"
    if latest.exempt:
        covers = sorted({f["exemption"] for f in latest.findings if f["verdict"] == EXEMPT and f["exemption"]})
        return EXEMPT, f"exempt under {', '.join(covers)}"
    return COMPLIANT, "nothing banned found"
