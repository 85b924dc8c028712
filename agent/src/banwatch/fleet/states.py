"""A host's compliance state (DESIGN.md), and the reason, decided in this one place.

Precedence, first match wins:
  violation   the latest report found a banned app without cover (even when that report is
              old: the last thing known is a violation, and it is never hidden)
  stale       the latest report is older than the stale interval: nothing current is known
              (its age is that of its `as_of`, which a clock running ahead cannot push on)
  error       the device rejected a policy, or a source failed, in its latest report (a managed
              device: its manager reports an error, or a policy it could not apply)
  exempt      banned apps found, every one covered by an exemption
  unreported  in the inventory, never heard from; or a managed device whose manager cannot see
              all its apps (a personal profile, User Enrollment) and saw nothing banned: the
              absence of an app there proves nothing, so it is never `compliant`
  compliant   nothing banned found

What a report says (`report_state`) is decided once, at ingest, and stored with it; a view
adds only what depends on the moment it is looked at (`StateJudge`: stale, unreported).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

from banwatch.core.report.schema import EXEMPT, VIOLATION
from banwatch.core.timestamps import isoformat, parse_time

COMPLIANT, STALE, ERROR, UNREPORTED = "compliant", "stale", "error", "unreported"
# The order in which tables and counts list states: most urgent first.
STATES = (VIOLATION, ERROR, STALE, UNREPORTED, EXEMPT, COMPLIANT)


class Reported(Protocol):
    """What a view knows of a host's latest report, as far as its state goes."""

    state: str  # as `report_state` decided it at ingest
    reason: str
    as_of: str  # canonical UTC, `Z`: its own time, never past its arrival (`store.Arrival`)


def report_state(*, violations: int, verdict: str, findings: Sequence[dict[str, Any]],
                 policy_rejection: str | None, source_errors: Sequence[str], exempt: int,
                 unseen: str | None = None) -> tuple[str, str]:
    """(state, why) as of the moment the report was made. `unseen`: why the apps it lists are not
    all the device has (a managed device's manager sees only part of it); None: they are."""
    if violations or verdict == VIOLATION:
        apps = sorted({f["app"] for f in findings if f["verdict"] == VIOLATION})
        return VIOLATION, f"banned app found: {', '.join(apps) or violations}"
    if policy_rejection:
        return ERROR, f"rejected a policy: {policy_rejection}"
    if source_errors:
        return ERROR, f"source failed: {'; '.join(source_errors)}"
    if exempt:
        covers = sorted({f["exemption"] for f in findings if f["verdict"] == EXEMPT and f["exemption"]})
        return EXEMPT, f"exempt under {', '.join(covers)}"
    if unseen:
        return UNREPORTED, f"apps not visible: {unseen}"
    return COMPLIANT, "nothing banned found"


def age_text(age: dt.timedelta) -> str:
    seconds = max(0, int(age.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


class StateJudge:
    """Host states as of one moment. Report times are kept canonical (UTC, `Z`), so staleness
    is one string comparison per host; a time is parsed only to say how old."""

    def __init__(self, now: dt.datetime, stale_after: dt.timedelta) -> None:
        self.now = now
        self.stale_after = stale_after
        self.cutoff = isoformat(now - stale_after)

    def current(self, latest: Reported) -> bool:
        """Whether the report is recent enough that what it states is the host's state."""
        return latest.as_of >= self.cutoff

    def state(self, latest: Reported | None) -> tuple[str, str]:
        """(state, why) from a host's latest report, or None: never reported."""
        if latest is None:
            return UNREPORTED, "never reported"
        state, reason = latest.state, latest.reason
        if self.current(latest):
            return state, reason
        age = age_text(self.now - parse_time(latest.as_of))
        if state == VIOLATION:
            return state, f"{reason} (last report {age} ago)"
        return STALE, f"no report for {age} (expected within {age_text(self.stale_after)})"
