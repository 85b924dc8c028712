"""Verdicts → actions: what the agent does about a violation, in the mode in force.

Only a `violation` of a running process is acted on, never an exempt or under-review
finding. In `monitor` mode nothing is done and the report says what would have been; in
`enforce` mode the app's action runs: `kill`, or `quarantine` (kill, then move the file).
Each finding's `ActionRecord` gets the action taken, its outcome and, for quarantine, the result.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from banwatch.core.globs import PatternSet
from banwatch.core.report.schema import VIOLATION
from banwatch.device.act.kill import ALREADY_GONE, KILLED, Killer, KillOutcome
from banwatch.device.act.quarantine import Capture, QuarantineError, QuarantineStore, capture
from banwatch.device.report.finding import Quarantined, QuarantineFailed, QuarantineResult, ReportedFinding

MONITOR, ENFORCE = "monitor", "enforce"
KILL, QUARANTINE = "kill", "quarantine"


def quarantine_target(finding: ReportedFinding) -> str:
    """The file that made the process banned: its executable, or the script a command-line rule
    named. Never an executable that only carried a banned name in argv[0] (`exec -a TikTok sleep`)."""
    evidence, rule = finding.evidence, finding.rule
    exe = evidence.exe
    if rule.kind == "command_line":
        pattern = PatternSet([(rule.pattern, None)])
        for argument in (evidence.cmdline or [])[1:]:
            if pattern.match(argument):
                return argument
        raise QuarantineError("the matching argument is no longer in the command line")
    if not exe:
        raise QuarantineError("the process's executable is unknown")
    if rule.kind == "process_names" and not PatternSet([(rule.pattern, None)]).match(os.path.basename(exe)):
        raise QuarantineError(f"the name matched, not the executable {exe}: only killed")
    if os.path.realpath(exe) == os.path.realpath(sys.executable):
        raise QuarantineError(f"{exe} runs the agent itself")
    return exe


class Responder:
    def __init__(self, killer: Killer, store: QuarantineStore, mode: str) -> None:
        self.killer = killer
        self.store = store
        self.mode = mode
        self.policy_version: int | None = None

    def act(self, finding: ReportedFinding, finished: Callable[[], None]) -> None:
        """Apply the finding's action, recording what happened in `finding.response`; `finished`
        is called exactly once, now or when the process is gone."""
        record = finding.response
        pid = finding.evidence.pid
        if finding.verdict != VIOLATION or record.action not in (KILL, QUARANTINE) or pid is None:
            finished()
            return
        if self.mode != ENFORCE:
            record.not_applied(self.mode)
            finished()
            return
        record.action_taken = record.action
        held: Capture | None = None
        if record.action == QUARANTINE:
            try:
                held = capture(pid, quarantine_target(finding))
            except QuarantineError as exc:
                record.quarantine = QuarantineFailed(str(exc))

        def done(outcome: KillOutcome) -> None:
            record.ended(outcome.outcome, outcome.detail)
            if held is not None:
                record.quarantine = self._quarantine(held, finding, outcome)
            finished()

        self.killer.kill(pid, done, expected_exe=finding.evidence.exe)

    def _quarantine(self, held: Capture, finding: ReportedFinding, outcome: KillOutcome) -> QuarantineResult:
        try:
            if outcome.outcome not in (KILLED, ALREADY_GONE):
                return QuarantineFailed(f"not quarantined: the process was not ended ({outcome.outcome})")
            manifest = self.store.put(held, app=finding.app, policy_version=self.policy_version,
                                      pid=finding.evidence.pid)
            return Quarantined(manifest["id"], manifest["original_path"], manifest["sha256"])
        except (QuarantineError, OSError) as exc:
            return QuarantineFailed(str(exc))
        finally:
            held.close()
