"""Self-limits, like osquery's watchdog: the agent watches its own CPU share and memory.

Over the CPU limit it backs off (the daemon stretches its periodic work) until a window
comes in under the limit again; over the memory limit it sheds its caches, and when that
does not help by the next check it asks to be restarted by its service manager. Every
episode is counted and the last reading is in the status.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import psutil

OK, CPU_OVER, MEMORY_OVER, RESTART = "ok", "cpu_over", "memory_over", "restart"
CHECK_SECONDS = 10.0


@dataclass
class Watchdog:
    cpu_limit_percent: float
    memory_limit_mb: float
    process: psutil.Process = field(default_factory=psutil.Process)
    backing_off: bool = False
    episodes: int = 0
    last: dict[str, Any] = field(default_factory=dict)
    _memory_strikes: int = 0

    def __post_init__(self) -> None:
        self._mark = (time.monotonic(), self._cpu_seconds())

    def _cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    def check(self) -> str:
        """One reading since the last: OK, CPU_OVER, MEMORY_OVER (shed caches) or RESTART."""
        now, cpu = time.monotonic(), self._cpu_seconds()
        share = 100 * (cpu - self._mark[1]) / max(now - self._mark[0], 1e-6)
        self._mark = (now, cpu)
        rss_mb = self.process.memory_info().rss / 2**20
        verdict = OK
        if rss_mb > self.memory_limit_mb:
            self._memory_strikes += 1
            verdict = RESTART if self._memory_strikes > 1 else MEMORY_OVER
        else:
            self._memory_strikes = 0
            if share > self.cpu_limit_percent:
                verdict = CPU_OVER
        if verdict != OK and not self.backing_off:
            self.episodes += 1
        self.backing_off = verdict != OK
        self.last = {"cpu_percent": round(share, 2), "rss_mb": round(rss_mb, 1), "state": verdict,
                     "backing_off": self.backing_off, "episodes": self.episodes,
                     "limits": {"cpu_percent": self.cpu_limit_percent, "memory_mb": self.memory_limit_mb}}
        return verdict
