"""A one-line progress meter for long ingests, drawn only on a terminal.

Redirected to a file or a pipe (cron, CI) it prints nothing, so logs stay clean. It redraws
at most ten times a second and not at all for work that ends within half a second.
"""

from __future__ import annotations

import time
from typing import TextIO

REDRAW_SECONDS = 0.1
QUIET_SECONDS = 0.5


class Progress:
    def __init__(self, stream: TextIO, label: str, total: int, *, quiet_seconds: float = QUIET_SECONDS,
                 redraw_seconds: float = REDRAW_SECONDS) -> None:
        self.stream = stream
        self.quiet_seconds = quiet_seconds
        self.redraw_seconds = redraw_seconds
        self.label = label
        self.total = total
        self.enabled = stream.isatty()
        self.started = time.monotonic()
        self.drawn_at = 0.0
        self.drawn = False

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.started < self.quiet_seconds or now - self.drawn_at < self.redraw_seconds:
            return
        self.drawn_at = now
        self.drawn = True
        rate = done / (now - self.started)
        percent = 100 * done / self.total if self.total else 100
        self.stream.write(f"\r{self.label}: {done:,}/{self.total:,} ({percent:.0f}%, {rate:,.0f}/s)\x1b[K")
        self.stream.flush()

    def finish(self) -> None:
        """Clear the meter, so what follows starts on a clean line."""
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
