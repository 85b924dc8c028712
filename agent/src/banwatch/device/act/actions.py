"""Verdicts → actions: what the agent does about a violation, in the mode in force.

Only a `violation` of a running process is acted on, never an exempt or under-review
finding. In `monitor` mode nothing is done and the report says what would have been; in
`enforce` mode the app's action runs: `kill`, or `quarantine` (kill, then move the file).
Each finding document gets `action_taken`, its `outcome` and, for quarantine, the id.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from banwatch.core.globs import PatternSet
from banwatch.core.report.schema import VIOLATION
from banwatch.device.act.kill import ALREADY_GONE, KILLED, Killer, KillOutcome
from banwatch.device.act.quarantine import Capture, QuarantineError, QuarantineStore, capture

MONITOR, ENFORCE = "monitor", "enforce"
KILL, QUARANTINE = "kill", "quarantine"


def quarantine_target(finding: dict[str, Any]) -> str:
    """The file that made the process banned: its executable, or the script a command-line rule
    named. Never an executable that only carried a banned name in argv[0] (`exec -a TikTok sleep`)."""
    evidence, rule = finding["evidence"], finding["rule"]
    exe = evidence.get("exe")
    if rule["kind"] == "command_line":
        pattern = PatternSet([(rule["pattern"], None)])
        for argument in evidence.get("cmdline", [])[1:]:
            if pattern.match(argument):
                return argument
        raise QuarantineError("the matching argument is no longer in the command line")
    if not exe:
        raise QuarantineError("the process's executable is unknown")
    if rule["kind"] == "process_names" and not PatternSet([(rule["pattern"], None)]).match(os.path.basename(exe)):
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

    def act(self, finding: dict[str, Any], finished: Callable[[], None]) -> None:
        """Apply the finding's action, filling in what happened; `finished` is called exactly once,
        now or when the process is gone."""
        action = finding["action"]
        pid = finding["evidence"].get("pid")
        if finding["verdict"] != VIOLATION or action not in (KILL, QUARANTINE) or pid is None:
            finished()
            return
        if self.mode != ENFORCE:
            finding["outcome"] = f"not applied: {self.mode} mode"
            finished()
            return
        finding["action_taken"] = action
        held: Capture | None = None
        if action == QUARANTINE:
            try:
                held = capture(pid, quarantine_target(finding))
            except QuarantineError as exc:
                finding["quarantine"] = {"error": str(exc)}

        def done(outcome: KillOutcome) -> None:
            finding["outcome"] = outcome.outcome
            finding["outcome_detail"] = outcome.detail
            if held is not None:
                finding["quarantine"] = self._quarantine(held, finding, outcome)
            finished()

        self.killer.kill(pid, done, expected_exe=finding["evidence"].get("exe"))

    def _quarantine(self, held: Capture, finding: dict[str, Any], outcome: KillOutcome) -> dict[str, Any]:
        try:
            if outcome.outcome not in (KILLED, ALREADY_GONE):
                return {"error": f"not quarantined: the process was not ended ({outcome.outcome})"}
            manifest = self.store.put(held, app=finding["app"], policy_version=self.policy_version,
                                      pid=finding["evidence"].get("pid"))
            return {"id": manifest["id"], "path": manifest["original_path"], "sha256": manifest["sha256"]}
        except (QuarantineError, OSError) as exc:
            return {"error": str(exc)}
        finally:
            held.close()
