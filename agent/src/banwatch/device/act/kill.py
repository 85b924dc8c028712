"""Ending a banned process without blocking the agent: SIGTERM now, SIGKILL after a grace.

Each kill holds a pidfd, so a pid reused by an unrelated process is never signalled and the
process's exit wakes the agent's selector at once (where pidfds are missing, pending kills
are checked on a short tick instead). The agent itself, its parent, PID 1 and kernel
threads are never signalled. Every kill ends in one outcome, handed to a callback.
"""

from __future__ import annotations

import os
import selectors
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

KILLED = "killed"
ALREADY_GONE = "already_gone"
PERMISSION_DENIED = "permission_denied"
REFUSED = "refused"
SURVIVED = "survived"  # still there after SIGKILL: stuck in the kernel (uninterruptible sleep)
PF_KTHREAD = 0x00200000
SIGKILL_WAIT = 5.0  # seconds to wait for a process to vanish after SIGKILL
POLL_TICK = 0.005  # how often a kill without a pidfd is checked
_DELETED = " (deleted)"


@dataclass(frozen=True)
class KillOutcome:
    outcome: str
    detail: str


Done = Callable[[KillOutcome], None]


def process_stat(pid: int, proc_root: str = "/proc") -> tuple[str, int, int] | None:
    """(state, flags, start time in clock ticks) from /proc/<pid>/stat, or None when gone.

    The start time tells one process from a later one that got the same pid."""
    try:
        with open(f"{proc_root}/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2:].split()  # the name in parentheses may hold spaces
    return fields[0].decode(), int(fields[6]), int(fields[19])


@dataclass
class _Pending:
    pid: int
    pidfd: int | None
    start: int
    deadline: float
    done: list[Done]
    sigkill_sent: bool = False


class Killer:
    def __init__(self, selector: selectors.BaseSelector, grace: float) -> None:
        self.selector = selector
        self.grace = grace
        self.protected = {os.getpid(), os.getppid(), 1}
        self.pending: dict[int, _Pending] = {}

    def kill(self, pid: int, done: Done, *, expected_exe: str | None = None) -> None:
        """Start ending `pid`; `done` gets the outcome, now or when the process is gone.
        `expected_exe`: only signal the process if it still runs that program."""
        refusal = self._refusal(pid)
        if refusal:
            done(KillOutcome(REFUSED, refusal))
            return
        if pid in self.pending:  # found twice (an event and a scan): one kill, both told
            self.pending[pid].done.append(done)
            return
        pidfd = _open_pidfd(pid)
        stat = process_stat(pid)
        replaced = expected_exe is not None and _exe(pid) != expected_exe.removesuffix(_DELETED)
        if stat is None or replaced or (pidfd is None and _gone(pid)):
            _close(pidfd)
            done(KillOutcome(ALREADY_GONE, "the process had ended before it could be signalled"))
            return
        if stat[1] & PF_KTHREAD:
            _close(pidfd)
            done(KillOutcome(REFUSED, "a kernel thread is never signalled"))
            return
        pending = _Pending(pid, pidfd, stat[2], time.monotonic() + self.grace, [done])
        failure = self._signal(pending, signal.SIGTERM)
        if failure:
            _close(pidfd)
            done(failure)
            return
        self.pending[pid] = pending
        if pidfd is not None:
            self.selector.register(pidfd, selectors.EVENT_READ, lambda: self._finish(pending, KILLED, "SIGTERM"))

    def _refusal(self, pid: int) -> str | None:
        if pid in self.protected:
            return "the agent, its parent and PID 1 are never signalled"
        if pid <= 0:
            return f"pid {pid} is not a process"
        return None

    def _signal(self, pending: _Pending, signum: signal.Signals) -> KillOutcome | None:
        try:
            if pending.pidfd is not None:
                signal.pidfd_send_signal(pending.pidfd, signum)
            elif (process_stat(pending.pid) or ("", 0, -1))[2] == pending.start:
                os.kill(pending.pid, signum)
            else:
                raise ProcessLookupError
        except ProcessLookupError:
            return KillOutcome(ALREADY_GONE, f"the process had ended before {signum.name}")
        except PermissionError:
            return KillOutcome(PERMISSION_DENIED, f"{signum.name} was not permitted (the agent lacks CAP_KILL?)")
        return None

    def next_deadline(self) -> float | None:
        """When the loop must call `tick` next (None when nothing is pending)."""
        if not self.pending:
            return None
        soonest = min(p.deadline for p in self.pending.values())
        if any(p.pidfd is None for p in self.pending.values()):
            soonest = min(soonest, time.monotonic() + POLL_TICK)
        return soonest

    def tick(self) -> None:
        """Escalate kills past their grace, settle those without a pidfd that have ended."""
        now = time.monotonic()
        for pending in list(self.pending.values()):
            if pending.pidfd is None and _gone(pending.pid, pending.start):
                self._finish(pending, KILLED, "SIGKILL" if pending.sigkill_sent else "SIGTERM")
            elif now >= pending.deadline and not pending.sigkill_sent:
                pending.sigkill_sent = True
                pending.deadline = now + SIGKILL_WAIT
                failure = self._signal(pending, signal.SIGKILL)
                if failure and failure.outcome == ALREADY_GONE:
                    self._finish(pending, KILLED, "SIGTERM")
                elif failure:
                    self._finish(pending, failure.outcome, failure.detail)
                elif pending.pidfd is not None:
                    self.selector.modify(pending.pidfd, selectors.EVENT_READ,
                                         lambda p=pending: self._finish(p, KILLED, "SIGKILL"))
            elif now >= pending.deadline:
                self._finish(pending, SURVIVED, f"still present {SIGKILL_WAIT:.0f}s after SIGKILL")

    def _finish(self, pending: _Pending, outcome: str, detail: str) -> None:
        if self.pending.pop(pending.pid, None) is None:
            return
        if pending.pidfd is not None:
            self.selector.unregister(pending.pidfd)
            os.close(pending.pidfd)
        for done in pending.done:
            done(KillOutcome(outcome, detail))


def _open_pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # gone (checked next), or no pidfds here: fall back to polling
        return None


def _close(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def _exe(pid: int) -> str | None:
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None
    return exe.removesuffix(_DELETED)


def _gone(pid: int, start: int | None = None) -> bool:
    stat = process_stat(pid)
    return stat is None or stat[0] in ("Z", "X") or (start is not None and stat[2] != start)
