"""Reports on their way out: each waits for its actions to finish, then leaves through the sink.

A full scan's report leaves as soon as every kill and quarantine it started has an outcome.
Detections between scans are gathered into one batch report that is due `report_delay`
seconds after its first finding, so a burst of execs is one report, not hundreds. `flush`
hands everything ready to a writer thread that puts it into the sink, so serialising and
fsyncing a report never delays the next detection; with `everything=True` (on SIGTERM) it
hands over all, finished or not, and `close` waits until the sink has taken every one.
Whatever the sink raises, the writer keeps the report, says why (`failures`, `fault`) and tries
again, so no exception can end the thread and strand the reports behind it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from banwatch.device.report.model import Report
from banwatch.device.report.sink import ReportSink

BATCH_LIMIT = 100  # findings per detection report
CLOSE_TIMEOUT = 15.0  # within systemd's TimeoutStopSec and the supervisor's stop grace
RETRY_FIRST, RETRY_LONGEST = 0.5, 5.0  # seconds between a failing sink's attempts: doubling, capped


@dataclass
class Waiting:
    report: Report
    due: float  # time.monotonic() when it may leave
    outstanding: int = 0  # actions still running
    batch: bool = False

    def ready(self, now: float) -> bool:
        return self.outstanding == 0 and now >= self.due


class Outbox:
    def __init__(self, sink: ReportSink) -> None:
        self.sink = sink
        self.waiting: list[Waiting] = []
        self.handed: queue.Queue[Report | None] = queue.Queue()
        self.failures: queue.Queue[Exception] = queue.Queue()  # the sink's errors, for the agent to report
        self.fault: str | None = None  # why the sink is failing now; None once it takes a report again
        self.writer = threading.Thread(target=self._write, name="report-writer", daemon=True)
        self.writer.start()

    def _write(self) -> None:
        while (report := self.handed.get()) is not None:
            failed = 0
            while True:
                try:
                    self.sink.put(report)
                    self.fault = None
                    break
                except Exception as exc:  # noqa: BLE001 - disk full, or a bug: keep the report, try again
                    failed += 1
                    self.failures.put(exc)
                    self.fault = f"{type(exc).__name__}: {exc}"
                    time.sleep(min(RETRY_LONGEST, RETRY_FIRST * 2 ** min(failed - 1, 8)))
            self.handed.task_done()
        self.handed.task_done()

    def close(self, timeout: float = CLOSE_TIMEOUT) -> bool:
        """Wait until the sink has taken every report handed over, then end the writer; False when
        the sink kept failing for `timeout` seconds (the service manager's stop timeout is near)."""
        self.handed.put(None)
        self.writer.join(timeout)
        return not self.writer.is_alive()

    def hold(self, report: Report) -> Waiting:
        held = Waiting(report, time.monotonic())
        self.waiting.append(held)
        return held

    def batch(self, new_report: Callable[[], Report], delay: float) -> Waiting:
        """The open batch for new detections, started (due in `delay` seconds) when there is none
        or the open one is full (then it is due at once: a storm of execs makes many small reports)."""
        now = time.monotonic()
        for held in reversed(self.waiting):
            if held.batch and held.due > now:
                if len(held.report.findings) < BATCH_LIMIT:
                    return held
                held.due = now
                break
        held = Waiting(new_report(), now + delay, batch=True)
        self.waiting.append(held)
        return held

    def seal(self) -> None:
        """Make every batch due now: it leaves as soon as its actions have finished (SIGHUP)."""
        now = time.monotonic()
        for held in self.waiting:
            held.due = min(held.due, now)

    def next_due(self) -> float | None:
        if not self.waiting:
            return None
        dues = [held.due for held in self.waiting if held.outstanding == 0]
        return min(dues) if dues else None

    def flush(self, *, everything: bool = False) -> int:
        """Hand every ready report (or all of them) to the sink, oldest first; how many left."""
        if not self.waiting:
            return 0
        now = time.monotonic()
        leaving = [held for held in self.waiting if everything or held.ready(now)]
        for held in leaving:
            if held.outstanding:
                held.report.notes.append(f"{held.outstanding} action(s) still running when the agent stopped")
            self.handed.put(held.report)
            self.waiting.remove(held)
        return len(leaving)

    def depth(self) -> int:
        """Reports not yet taken by the sink: waiting for actions or a batch, or being written."""
        return len(self.waiting) + self.handed.unfinished_tasks
