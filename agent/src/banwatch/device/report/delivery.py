"""Where the running agent's reports go: sealed into the spool, then shipped from it.

This is the daemon's `ReportSink`. Every report is signed with the device key and written to
the crash-safe spool before anything is sent, and the newest is kept as `last-report.json`
for people on the device. When a collector is configured, a scheduler thread ships the spool,
woken by each new report and retrying with backoff while the collector is away; each shipment
runs in a short-lived `banwatch-agent ship`, so the SSH code never stays resident in the agent.
With no collector, reports wait in the spool for playbooks/collect.yml.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from banwatch.core.report.wire_text import wire_report
from banwatch.device.config import AgentConfig
from banwatch.device.report.model import Report
from banwatch.device.report.schedule import ShipResult, ShipSchedule
from banwatch.device.report.sink import LastReportFile
from banwatch.device.report.spool import Spool
from banwatch.device.report_key import ensure_report_key

STOP_WAIT = 10.0  # seconds an exiting agent gives a shipment in flight
SHIP_TIMEOUT = 600.0  # a shipment that takes longer is abandoned (its reports stay spooled)


class SpooledDelivery:
    def __init__(self, config: AgentConfig, on_shipped: Callable[[], None] | None = None) -> None:
        """`on_shipped` is called (from the shipper's thread) after each shipment, so the agent
        can publish what it did in its status."""
        ensure_report_key(config)  # made at deploy; made here too, so the agent never runs unable to sign
        self.config = config
        self.spool = Spool.for_config(config)
        self.last = LastReportFile(config.state_dir)
        self.schedule = ShipSchedule(self._ship_in_child) if config.collector else None
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.last_shipment: dict[str, Any] | None = None
        self.on_shipped = on_shipped

    def start(self) -> None:
        if self.schedule is not None and self.thread is None:
            self.thread = threading.Thread(target=self.schedule.run, args=(self.stopping,),
                                           kwargs={"on_result": self._shipped}, name="shipper", daemon=True)
            self.thread.start()

    def put(self, report: Report) -> None:
        """The report's edge: its document, made fit for the wire once, so the spooled and the
        last report say the same, in UTF-8."""
        document = wire_report(report.to_document())
        self.spool.put(document)
        self.last.put(document)
        if self.schedule is not None:
            self.schedule.nudge()

    @property
    def fault(self) -> str | None:
        """Why the shipper's last attempt broke, if it raised rather than failed (see ShipSchedule)."""
        return self.schedule.fault if self.schedule is not None else None

    def depth(self) -> int:
        """Reports waiting to be shipped: a directory listing, no stat per file (status asks often)."""
        return len(self.spool.pending())

    def stop(self) -> None:
        """Stop shipping (what is unsent stays spooled for the next start)."""
        self.stopping.set()
        if self.schedule is not None:
            self.schedule.nudge()
        if self.thread is not None:
            self.thread.join(STOP_WAIT)

    def _ship_in_child(self) -> ShipResult:
        """One `banwatch-agent ship` with this agent's configuration; its one JSON line as the result."""
        if not self.spool.pending():
            return ShipResult()
        command = [sys.executable, "-m", "banwatch.device.cli.main", "ship", "--background",
                   "--config", self.config.path]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=SHIP_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            return ShipResult(error=f"shipping took longer than {SHIP_TIMEOUT:.0f} s")
        try:
            return ShipResult(**json.loads(done.stdout.splitlines()[-1]))
        except (IndexError, ValueError, TypeError):
            lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
            return ShipResult(error=f"banwatch-agent ship: {lines[-1]}")

    def _shipped(self, result: ShipResult) -> None:
        self.last_shipment = result.document()
        if self.on_shipped is not None:
            self.on_shipped()
