"""When to ship: at once when a report was spooled, every `interval` otherwise, and after a
failure only once the backoff has passed (exponential, full jitter, so a fleet never retries
in step). No SSH code here: the running agent schedules shipments without loading it, and
each shipment runs in a short-lived `banwatch-agent ship`, so the resident agent stays small.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass

IDLE_INTERVAL = 60.0  # how often an idle shipper looks for reports nobody told it about
WAIT_SLICE = 0.5  # how quickly a waiting shipper notices it should stop


@dataclass
class ShipResult:
    sent: int = 0
    failed: int = 0
    pending: int = 0
    error: str | None = None

    def document(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: after the n-th failure in a row, wait a random time
    up to initial·2ⁿ⁻¹ (at most `maximum`), so a fleet never retries in step."""

    initial: float = 5.0
    maximum: float = 600.0

    def delay(self, failures: int, draw: Callable[[], float] = random.random) -> float:
        ceiling = min(self.maximum, self.initial * 2 ** min(max(failures - 1, 0), 32))
        return ceiling * draw()


class ShipSchedule:
    """Runs `ship_once` on that schedule until stopped; `nudge` says a report is waiting."""

    def __init__(self, ship_once: Callable[[], ShipResult]) -> None:
        self.ship_once = ship_once
        self.wake = threading.Event()
        self.fault: str | None = None  # what the last attempt raised (not a failed shipment): a bug to show

    def nudge(self) -> None:
        self.wake.set()

    def run(self, stop: threading.Event, *, backoff: Backoff | None = None, interval: float = IDLE_INTERVAL,
            on_result: Callable[[ShipResult], None] | None = None) -> None:
        """Never raises: a failure is a result, retried after the backoff; what an attempt raises is
        kept in `fault` too, until an attempt runs through, since a collector being away is normal
        and an exception is not."""
        backoff = backoff or Backoff()
        failures = 0
        while not stop.is_set():
            self.wake.clear()
            try:
                result = self.ship_once()
                if on_result is not None:
                    on_result(result)
                self.fault = None
            except Exception as exc:  # noqa: BLE001 - a missing key today may be deployed tomorrow
                result = ShipResult(error=f"{type(exc).__name__}: {exc}")
                self.fault = result.error
            failures = failures + 1 if result.error else 0
            if failures:
                self._wait(stop, backoff.delay(failures), wakeable=False)
            else:
                self._wait(stop, interval, wakeable=True)

    def _wait(self, stop: threading.Event, seconds: float, *, wakeable: bool) -> None:
        remaining = seconds
        while remaining > 0 and not stop.is_set() and not (wakeable and self.wake.is_set()):
            step = min(WAIT_SLICE, remaining)
            if wakeable:
                self.wake.wait(step)
            else:
                stop.wait(step)
            remaining -= step
