"""The lab's own processes: recognise them by pid *and* start time, find strays, stop them.

A pid alone can be reused after a crash; (pid, start time) names one process for the life of
the machine, so `lab down` never signals a stranger.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterable


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None when it is gone (or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: fields restart after the last ')'.
    fields = stat[stat.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def alive(pid: int | None, started: int | None) -> bool:
    return pid is not None and started is not None and start_time(pid) == started


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            return [int(part) for part in handle.read().split()]
    except OSError:
        return []


def is_namespace_init(pid: int) -> bool:
    """Whether `pid` is PID 1 of a PID namespace below this one (its innermost pid is 1)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("NSpid:"):
                    numbers = line.split()[1:]
                    return len(numbers) > 1 and numbers[-1] == "1"
    except OSError:
        pass
    return False


def wait_for_namespace_init(pid: int, timeout: float = 5.0) -> int | None:
    """The child of `pid` that is its PID namespace's init (the endpoint init `unshare --fork`
    starts, not the helper that writes a user namespace's id maps), once it exists."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [child for child in children(pid) if is_namespace_init(child)]
        if found:
            return found[0]
        if start_time(pid) is None:
            return None
        time.sleep(0.002)
    return None


def strays(is_ours: Callable[[list[str]], bool]) -> list[int]:
    """Processes whose argv `is_ours` recognises: lab processes a lost state file forgot."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                raw = handle.read()
        except OSError:
            continue
        args = [arg.decode("utf-8", "surrogateescape") for arg in raw.split(b"\0") if arg]
        if args and is_ours(args):
            found.append(int(entry))
    return found


def stop(processes: Iterable[tuple[int, int | None]], grace: float = 3.0) -> int:
    """SIGTERM each (pid, start time), SIGKILL what is left after `grace`; how many were running."""
    targets = [(pid, started) for pid, started in processes if started is not None and start_time(pid) == started]
    for pid, _ in targets:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    remaining = targets
    while remaining and time.monotonic() < deadline:
        time.sleep(0.02)
        remaining = [(pid, started) for pid, started in remaining if start_time(pid) == started]
    for pid, _ in remaining:
        _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + grace
    while remaining and time.monotonic() < deadline:
        time.sleep(0.02)
        remaining = [(pid, started) for pid, started in remaining if start_time(pid) == started]
    return len(targets)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
