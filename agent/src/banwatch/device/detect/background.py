"""Full scans off the agent's loop: a scan reads every process and package database (tens to
hundreds of milliseconds), and an exec event must never wait for it.

Scans run one at a time on a worker thread, in the order asked; each finished one is kept for
the loop, which is woken to act on it (kills, reports, status) on its own thread.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from banwatch.device.detect.detector import Detector
from banwatch.device.report.model import Report


@dataclass
class ScanJob:
    detector: Detector
    trigger: str
    source_names: list[str] | None
    report: Report | None = None
    error: str | None = None
    asked: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))


class ScanRunner:
    def __init__(self, wake: Callable[[], None]) -> None:
        self.wake = wake
        self.lock = threading.Lock()
        self.queued: deque[ScanJob] = deque()
        self.done: deque[ScanJob] = deque()
        self.worker: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        """A scan is queued, running, or finished but not yet taken."""
        with self.lock:
            return bool(self.queued or self.done or self.worker is not None)

    def request(self, detector: Detector, trigger: str, source_names: list[str] | None = None) -> None:
        with self.lock:
            self.queued.append(ScanJob(detector, trigger, source_names))
            if self.worker is None:
                self.worker = threading.Thread(target=self._work, name="scan", daemon=True)
                self.worker.start()

    def finished(self) -> list[ScanJob]:
        with self.lock:
            jobs = list(self.done)
            self.done.clear()
        return jobs

    def _work(self) -> None:
        try:
            while True:
                with self.lock:
                    if not self.queued:
                        return
                    job = self.queued.popleft()
                try:
                    job.report = job.detector.scan(job.asked, job.source_names)
                except Exception as exc:  # noqa: BLE001 - a failed scan is reported and retried, never fatal
                    job.error = f"scan failed: {type(exc).__name__}: {exc}"
                with self.lock:
                    self.done.append(job)
                self.wake()
        finally:  # however the thread ends, the next request starts a new one
            with self.lock:
                self.worker = None
                if self.queued:
                    self.worker = threading.Thread(target=self._work, name="scan", daemon=True)
                    self.worker.start()
