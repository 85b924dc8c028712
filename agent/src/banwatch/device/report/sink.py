"""Where the agent's reports go: the one seam through which every report leaves the daemon.

The daemon hands each finished report to a `ReportSink` and nothing else: on a device that is
`delivery.SpooledDelivery` (signed into the crash-safe spool, shipped from there, the newest
also kept by `LastReportFile`); tests plug in their own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Protocol

from banwatch.core.atomic import write_atomic
from banwatch.device.report.model import Report

LAST_REPORT = "last-report.json"


class ReportSink(Protocol):
    def put(self, report: Report) -> None:
        """Take the report durably (it must survive the agent exiting right after): the report's
        edge, where it becomes its JSON document."""

    def depth(self) -> int:
        """Reports taken but not yet delivered (what `status` shows as the spool depth)."""


class LastReportFile:
    """Keeps the newest report's document (as it leaves the device), written atomically, at
    <state_dir>/last-report.json."""

    def __init__(self, state_dir: str) -> None:
        self.path = os.path.join(state_dir, LAST_REPORT)

    def put(self, report: Mapping[str, Any]) -> None:
        os.makedirs(os.path.dirname(self.path), mode=0o750, exist_ok=True)
        # Compact JSON: the C encoder, a fraction of the time and memory of an indented dump.
        write_atomic(self.path, json.dumps(report, separators=(",", ":"), default=str).encode(), 0o640)

    def depth(self) -> int:
        return 0
