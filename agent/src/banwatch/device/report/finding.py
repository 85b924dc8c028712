"""A finding as the report carries it: the verdict on one observation, and what was done about it.

It is made from a `Verdict` when an app is found, and then filled in by the stages that follow:
the responder records the action taken and its outcome (`ActionRecord`), the daemon how the
process was detected (`Detection`). It becomes a JSON object only with its report, at the edge
(`Report.to_document`), in the fields docs/reporting.md names; `from_document` reads one back.

The model lives with the device, not in core: the fleet and the control node read reports from
the wire with their own checks, field by field, and need none of the device's types (the
`Observation` that is a finding's evidence, the responder's records).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from banwatch.core.report.schema import VIOLATION
from banwatch.device.detect.verdicts import Verdict
from banwatch.device.report.fields import DocumentError, Fields
from banwatch.device.sources.observations import Observation

NOT_TAKEN = "none"  # `action_taken` while nothing was done
REPORT_ONLY = "report"  # the action of anything that is not a violation

_EVIDENCE_FIELDS = tuple(f.name for f in dataclasses.fields(Observation) if f.name != "source")
_EVIDENCE_TEXTS = ("version", "path", "exe", "user", "sha256", "identifier", "scope")
_FINDING_FIELDS = ("app", "app_name", "severity", "source", "verdict", "exemption", "exemption_expires", "action",
                   "action_taken", "rule", "evidence", "note", "outcome", "outcome_detail", "quarantine", "detection")


@dataclass(frozen=True)
class Rule:
    """The policy rule that matched: its kind (`process_names`, `packages.dpkg`, ...) and pattern."""

    kind: str
    pattern: str


@dataclass(frozen=True)
class Quarantined:
    """The executable was moved into the quarantine store under `id`."""

    id: str
    path: str
    sha256: str

    def document(self) -> dict[str, str]:
        return {"id": self.id, "path": self.path, "sha256": self.sha256}


@dataclass(frozen=True)
class QuarantineFailed:
    """The file stayed where it was, and why."""

    error: str

    def document(self) -> dict[str, str]:
        return {"error": self.error}


QuarantineResult = Quarantined | QuarantineFailed


@dataclass
class ActionRecord:
    """What the finding asks for (`action`) and what the responder did: `action_taken` stays
    "none" unless the action ran; `outcome` says how it ended (or why it was not applied)."""

    action: str
    action_taken: str = NOT_TAKEN
    outcome: str | None = None
    outcome_detail: str | None = None
    quarantine: QuarantineResult | None = None

    @property
    def taken(self) -> bool:
        return self.action_taken != NOT_TAKEN

    def not_applied(self, mode: str) -> None:
        self.outcome = f"not applied: {mode} mode"

    def ended(self, outcome: str, detail: str) -> None:
        self.outcome, self.outcome_detail = outcome, detail


@dataclass
class Detection:
    """How the daemon came to see the process, and how fast (milliseconds after its exec)."""

    mode: str  # "events" or "polling"
    exec_to_detection_ms: float | None = None
    exec_to_action_ms: float | None = None

    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"mode": self.mode}
        if self.exec_to_detection_ms is not None:
            document["exec_to_detection_ms"] = self.exec_to_detection_ms
        if self.exec_to_action_ms is not None:
            document["exec_to_action_ms"] = self.exec_to_action_ms
        return document


@dataclass
class ReportedFinding:
    """One finding of a report: which app, its verdict and cover, the rule, the evidence (the
    observation itself), the action and its outcome, and for the daemon's detections how."""

    app: str
    app_name: str
    severity: str
    verdict: str
    rule: Rule
    evidence: Observation
    response: ActionRecord
    exemption: str | None = None
    exemption_expires: dt.date | None = None
    note: str | None = None
    detection: Detection | None = None

    @classmethod
    def from_verdict(cls, verdict: Verdict) -> ReportedFinding:
        found = verdict.finding
        cover = verdict.exemption
        return cls(app=found.app.id, app_name=found.app.name, severity=found.app.severity, verdict=verdict.verdict,
                   rule=Rule(found.rule, found.pattern), evidence=found.observation,
                   response=ActionRecord(found.app.action if verdict.verdict == VIOLATION else REPORT_ONLY),
                   exemption=cover.id if cover else None, exemption_expires=cover.expires if cover else None,
                   note=verdict.note or None)

    def to_document(self) -> dict[str, Any]:
        response = self.response
        document: dict[str, Any] = {
            "app": self.app,
            "app_name": self.app_name,
            "severity": self.severity,
            "source": self.evidence.source,
            "verdict": self.verdict,
            "exemption": self.exemption,
            "exemption_expires": self.exemption_expires.isoformat() if self.exemption_expires else None,
            "action": response.action,
            "action_taken": response.action_taken,
            "rule": {"kind": self.rule.kind, "pattern": self.rule.pattern},
            "evidence": evidence_document(self.evidence),
        }
        if self.note is not None:
            document["note"] = self.note
        if response.outcome is not None:
            document["outcome"] = response.outcome
        if response.outcome_detail is not None:
            document["outcome_detail"] = response.outcome_detail
        if response.quarantine is not None:
            document["quarantine"] = response.quarantine.document()
        if self.detection is not None:
            document["detection"] = self.detection.document()
        return document

    @classmethod
    def from_document(cls, document: object, where: str = "") -> ReportedFinding:
        """The finding a `to_document` object stands for; DocumentError names a field that is wrong."""
        fields = Fields(document, where)
        fields.only(_FINDING_FIELDS)
        fields.not_null(("note", "outcome", "outcome_detail", "quarantine", "detection"))  # left out when unset
        rule = fields.object("rule")
        rule.only(("kind", "pattern"))
        expires = fields.nullable_text("exemption_expires")
        return cls(app=fields.text("app"), app_name=fields.text("app_name"), severity=fields.text("severity"),
                   verdict=fields.text("verdict"), rule=Rule(rule.text("kind"), rule.text("pattern")),
                   evidence=evidence_from_document(fields.object("evidence"), fields.text("source")),
                   response=ActionRecord(fields.text("action"), fields.text("action_taken"),
                                         fields.optional_text("outcome"), fields.optional_text("outcome_detail"),
                                         _quarantine(fields.optional_object("quarantine"))),
                   exemption=fields.nullable_text("exemption"),
                   exemption_expires=_date(expires, fields.at("exemption_expires")) if expires else None,
                   note=fields.optional_text("note"), detection=_detection(fields.optional_object("detection")))


def evidence_document(observation: Observation) -> dict[str, Any]:
    """The observation as a finding's evidence: the fields its source filled, but the source
    itself (the finding names it)."""
    evidence = observation.to_dict()
    evidence.pop("source", None)
    return evidence


def evidence_from_document(evidence: Fields, source: str) -> Observation:
    evidence.only(_EVIDENCE_FIELDS)
    evidence.not_empty(_EVIDENCE_FIELDS)  # the agent leaves an unfilled field out
    texts = {name: evidence.optional_text(name) for name in _EVIDENCE_TEXTS}
    extra = evidence.optional_object("extra")
    return Observation(source, evidence.text("kind"), evidence.text("name"), pid=evidence.optional_whole("pid"),
                       cmdline=evidence.texts("cmdline") if evidence.has("cmdline") else None,
                       started_at=evidence.optional_real("started_at"),
                       extra=dict(extra.value) if extra else {}, **texts)


def _quarantine(fields: Fields | None) -> QuarantineResult | None:
    if fields is None:
        return None
    if fields.has("error"):
        fields.only(("error",))
        return QuarantineFailed(fields.text("error"))
    fields.only(("id", "path", "sha256"))
    return Quarantined(fields.text("id"), fields.text("path"), fields.text("sha256"))


def _detection(fields: Fields | None) -> Detection | None:
    if fields is None:
        return None
    fields.only(("mode", "exec_to_detection_ms", "exec_to_action_ms"))
    fields.not_null(("exec_to_detection_ms", "exec_to_action_ms"))
    return Detection(fields.text("mode"), fields.optional_real("exec_to_detection_ms"),
                     fields.optional_real("exec_to_action_ms"))


def _date(text: str, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise DocumentError(f"{where}: {text!r} is not a date (YYYY-MM-DD)") from None
