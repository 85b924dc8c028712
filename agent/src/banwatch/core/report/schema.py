"""The report's vocabulary, which the device writes and the fleet and the control node read:
the schema name, the verdicts a finding can have, and how a finding's evidence is named in
one line of a table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REPORT_SCHEMA = "banwatch.report/1"
VIOLATION = "violation"
EXEMPT = "exempt"
UNDER_REVIEW = "under_review"
COMPLIANT = "compliant"  # a report's verdict when it has no violation


def describe_evidence(evidence: Mapping[str, Any]) -> str:
    """`pid 42 TikTok` for a process, `tiktok-desktop 2.1.0` for a package or an app bundle."""
    if "pid" in evidence:
        return f"pid {evidence['pid']} {evidence.get('name') or evidence.get('exe')}"
    parts = [evidence.get("identifier") or evidence.get("name"), evidence.get("version")]
    return " ".join(str(p) for p in parts if p)
