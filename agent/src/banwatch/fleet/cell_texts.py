"""What the fleet tables show of a report, in words: made once, at ingest, and stored with the
host's latest report, so a view of 100,000 hosts reads its cells instead of building them.

Every text here depends on the report alone (the clock's skew: on the report and its arrival),
never on when it is looked at: staleness is added by the view (`states.StateJudge`), so a
stored text is never out of date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from banwatch.core.report.schema import EXEMPT, VIOLATION
from banwatch.fleet.states import age_text

# Between the findings of one table cell.
SEPARATOR = "; "


def agent_text(version: str, detection: str | None) -> str:
    """`0.1.0 (polling)`: the agent's version, and how it sees new processes."""
    return version if detection is None else f"{version} ({detection})"


def policy_text(version: int | None, state: str | None) -> str | None:
    """`v7`, or `v7 expired` when the device says its policy is not plainly valid; None: no policy."""
    if version is None:
        return None
    return f"v{version}" if state in (None, "valid") else f"v{version} {state}"


def describe_finding(finding: Mapping[str, Any]) -> str:
    """`tiktok exempt EX-2026-014 (pid 5 TikTok)`: one compact finding, short enough for a table cell."""
    cover = f" {finding['exemption']}" if finding.get("exemption") else ""
    seen = f" ({finding['seen']})" if finding.get("seen") else ""
    return f"{finding['app']} {finding['verdict']}{cover}{seen}"


def findings_text(findings: Iterable[Mapping[str, Any]]) -> str:
    """Every compact finding described, in one line ("" when there are none)."""
    return SEPARATOR.join(map(describe_finding, findings))


def clock_text(generated_at: str, clock_ahead: int) -> str | None:
    """`clock skew: dated 2030-01-01T00:00:00Z, 1126 d after it arrived`, for a report dated past
    its arrival (`clock_ahead` seconds, beyond the tolerance); None for the others."""
    if not clock_ahead:
        return None
    return f"clock skew: dated {generated_at}, {age_text(dt.timedelta(seconds=clock_ahead))} after it arrived"


def detail_lines(state: str, reason: str, findings: Sequence[str], dropped: int,
                 clock: str | None = None) -> list[str]:
    """What a host's row says after its versions: the findings of a violation or an exemption,
    else why the host is in its state; the reports its device had to drop; its clock's skew."""
    lines = list(findings) if state in (VIOLATION, EXEMPT) and findings else [reason]
    if dropped:
        lines.append(f"{dropped} earlier report(s) dropped by the device's full spool")
    if clock:
        lines.append(clock)
    return lines
