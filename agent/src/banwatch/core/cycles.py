"""Python's cycle collector paused while a bulk job builds 100,000s of small, acyclic objects.

The collector would walk them again and again and free nothing. Each caller says what it saves
(bench_fleet's views, bench_export's export); it is on again, as it was, when the job is done.
Usable as a context manager or as a decorator.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def cycle_collector_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
