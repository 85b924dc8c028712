"""Killing real processes: SIGTERM, SIGKILL after the grace, outcomes, and what is never signalled."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time

import pytest

from banwatch.device.act.kill import ALREADY_GONE, KILLED, REFUSED, Killer, KillOutcome

linux_only = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")


def run_until_done(killer: Killer, outcomes: list[KillOutcome], timeout: float = 15) -> KillOutcome:
    """Drive the killer the way the agent's loop does: select on pidfds, tick at deadlines."""
    deadline = time.monotonic() + timeout
    while not outcomes and time.monotonic() < deadline:
        soonest = killer.next_deadline() or time.monotonic() + 0.1
        for key, _ in killer.selector.select(max(0.0, soonest - time.monotonic())):
            key.data()
        killer.tick()
    (outcome,) = outcomes
    return outcome


@linux_only
def test_sigterm_ends_a_process_and_the_outcome_says_so() -> None:
    killer = Killer(selectors.DefaultSelector(), grace=5)
    proc = subprocess.Popen(["sleep", "60"])
    outcomes: list[KillOutcome] = []
    killer.kill(proc.pid, outcomes.append)
    assert run_until_done(killer, outcomes) == KillOutcome(KILLED, "SIGTERM")
    assert proc.wait(5) == -15
    assert not killer.pending


@linux_only
def test_a_process_ignoring_sigterm_gets_sigkill_after_the_grace() -> None:
    killer = Killer(selectors.DefaultSelector(), grace=1)
    proc = subprocess.Popen([sys.executable, "-c", "import signal, sys, time\n"
                             "signal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\n"
                             "time.sleep(60)"], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    outcomes: list[KillOutcome] = []
    killer.kill(proc.pid, outcomes.append)
    assert run_until_done(killer, outcomes) == KillOutcome(KILLED, "SIGKILL")
    assert proc.wait(5) == -9
    proc.stdout.close()


@linux_only
def test_the_agent_its_parent_and_pid_1_are_never_signalled() -> None:
    killer = Killer(selectors.DefaultSelector(), grace=1)
    outcomes: list[KillOutcome] = []
    for pid in (os.getpid(), os.getppid(), 1):
        killer.kill(pid, outcomes.append)
    assert [o.outcome for o in outcomes] == [REFUSED] * 3
    assert not killer.pending


@linux_only
def test_a_process_that_is_gone_or_runs_another_program_is_already_gone() -> None:
    killer = Killer(selectors.DefaultSelector(), grace=1)
    proc = subprocess.Popen(["sleep", "60"])
    outcomes: list[KillOutcome] = []
    killer.kill(proc.pid, outcomes.append, expected_exe="/opt/banned/app")  # the pid now runs `sleep`
    proc.kill()
    proc.wait()
    killer.kill(proc.pid, outcomes.append)  # reaped: no such process
    assert [o.outcome for o in outcomes] == [ALREADY_GONE, ALREADY_GONE]
