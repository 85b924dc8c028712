"""The report as the device's stages pass it on: one typed object from the scan to the sink.

A scan (or the daemon's batch of detections) makes a `Report`; the daemon adds its trigger and
what the agent says of itself, the responder fills in each finding's action, the outbox adds a
note when it must send one before its actions ended. Only at the edge where a report leaves
(the spool and last-report.json, `banwatch-agent scan`) does `to_document` make the JSON object
of schema `banwatch.report/1` (docs/reporting.md); `core.report.wire_text` then bounds it and
escapes what is not UTF-8, and the spool numbers and seals it. The summary is never stored: it
is counted from the findings each time it is asked for. `from_document` reads a document as
`to_document` writes it (not the edge's additions: `raw_bytes`, `truncated`, `findings_omitted`,
`sequence`, `delivery`), so document → report → document gives the same document.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from banwatch.core.report.schema import COMPLIANT, EXEMPT, REPORT_SCHEMA, UNDER_REVIEW, VIOLATION
from banwatch.core.timestamps import isoformat, parse_time
from banwatch.device.report.fields import DocumentError, Fields
from banwatch.device.report.finding import ReportedFinding
from banwatch.device.sources.observations import SourceResult

_REPORT_FIELDS = ("schema", "report_id", "generated_at", "host", "agent", "policy", "sources", "findings", "errors",
                  "summary", "trigger", "notes")
_AGENT_OPTIONAL = ("detection", "mode", "detection_reason", "events_lost", "self_limits")


@dataclass(frozen=True)
class HostInfo:
    """Who sent the report: the policy's name and groups for the device, and what the device says of itself."""

    name: str
    groups: tuple[str, ...]
    hostname: str
    machine_id: str | None
    os: dict[str, str]

    def document(self) -> dict[str, Any]:
        return {"name": self.name, "groups": list(self.groups), "hostname": self.hostname,
                "machine_id": self.machine_id, "os": dict(self.os)}

    @classmethod
    def from_document(cls, fields: Fields) -> HostInfo:
        fields.only(("name", "groups", "hostname", "machine_id", "os"))
        system = fields.object("os")
        return cls(fields.text("name"), tuple(fields.texts("groups")), fields.text("hostname"),
                   fields.nullable_text("machine_id"), {key: system.text(key) for key in system.value})


@dataclass(frozen=True)
class AgentInfo:
    """The agent's version and, from the daemon, how it detects and in which mode, and its troubles."""

    version: str
    detection: str | None = None
    mode: str | None = None
    detection_reason: str | None = None
    events_lost: int | None = None  # exec events lost since the last report said so
    self_limits: dict[str, Any] | None = None  # the watchdog's last check, once it stepped in

    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"version": self.version}
        for name in _AGENT_OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                document[name] = value
        return document

    @classmethod
    def from_document(cls, fields: Fields) -> AgentInfo:
        fields.only(("version", *_AGENT_OPTIONAL))
        fields.not_null(_AGENT_OPTIONAL)
        limits = fields.optional_object("self_limits")
        return cls(fields.text("version"), fields.optional_text("detection"), fields.optional_text("mode"),
                   fields.optional_text("detection_reason"), fields.optional_whole("events_lost"),
                   dict(limits.value) if limits else None)


@dataclass(frozen=True)
class SourceStatus:
    """How one source's run went: `error` when it failed, `detail` why it did not run."""

    status: str  # "ok", "error", "unavailable", "skipped"
    count: int
    duration_ms: float
    error: str | None = None
    detail: str | None = None

    @classmethod
    def of(cls, result: SourceResult) -> SourceStatus:
        failed = result.status == "error"
        said = result.error or None
        return cls(result.status, len(result.observations), round(result.duration_ms, 1),
                   error=said if failed else None, detail=None if failed else said)

    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"status": self.status, "count": self.count, "duration_ms": self.duration_ms}
        if self.error is not None:
            document["error"] = self.error
        if self.detail is not None:
            document["detail"] = self.detail
        return document

    @classmethod
    def from_document(cls, fields: Fields) -> SourceStatus:
        fields.only(("status", "count", "duration_ms", "error", "detail"))
        fields.not_null(("error", "detail"))
        return cls(fields.text("status"), fields.whole("count"), fields.real("duration_ms"),
                   fields.optional_text("error"), fields.optional_text("detail"))


@dataclass(frozen=True)
class SourceError:
    """A source that failed, and why (a copy of its status's `error`, for readers of `errors` alone)."""

    source: str
    error: str | None

    def document(self) -> dict[str, str | None]:
        return {"source": self.source, "error": self.error}


@dataclass(frozen=True)
class Summary:
    """The report's verdict and counts, as its findings make them."""

    verdict: str
    violation: int
    exempt: int
    under_review: int

    @classmethod
    def of(cls, findings: list[ReportedFinding]) -> Summary:
        counts = {kind: sum(1 for f in findings if f.verdict == kind) for kind in (VIOLATION, EXEMPT, UNDER_REVIEW)}
        return cls(VIOLATION if counts[VIOLATION] else COMPLIANT, counts[VIOLATION], counts[EXEMPT],
                   counts[UNDER_REVIEW])

    def document(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "violation": self.violation, "exempt": self.exempt,
                "under_review": self.under_review}


@dataclass
class Report:
    """One report on its way through the device; `policy` is the policy store's account, as it wrote it."""

    report_id: str
    generated_at: dt.datetime  # UTC, whole seconds: what the document can say
    host: HostInfo
    agent: AgentInfo
    policy: dict[str, Any]
    sources: dict[str, SourceStatus]
    findings: list[ReportedFinding]
    errors: list[SourceError]
    trigger: str | None = None  # why the daemon made it ("start", "periodic", "exec", ...); None from `scan`
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.generated_at = self.generated_at.astimezone(dt.timezone.utc).replace(microsecond=0)

    @property
    def summary(self) -> Summary:
        return Summary.of(self.findings)

    def to_document(self) -> dict[str, Any]:
        """The report's JSON object, in the fields and the order docs/reporting.md shows."""
        document: dict[str, Any] = {
            "schema": REPORT_SCHEMA,
            "report_id": self.report_id,
            "generated_at": isoformat(self.generated_at),
            "host": self.host.document(),
            "agent": self.agent.document(),
            "policy": dict(self.policy),
            "sources": {name: status.document() for name, status in self.sources.items()},
            "findings": [finding.to_document() for finding in self.findings],
            "errors": [error.document() for error in self.errors],
            "summary": self.summary.document(),
        }
        if self.trigger is not None:
            document["trigger"] = self.trigger
        if self.notes:
            document["notes"] = list(self.notes)
        return document

    @classmethod
    def from_document(cls, document: object) -> Report:
        """The report a `to_document` object stands for. DocumentError names the first field that
        is wrong: missing, of the wrong type, unknown, or a summary its findings do not make."""
        fields = Fields(document, "")
        fields.only(_REPORT_FIELDS)
        fields.not_null(("trigger",))
        fields.not_empty(("notes",))
        if fields.raw("schema") != REPORT_SCHEMA:
            raise DocumentError(f"/schema: not {REPORT_SCHEMA}")
        sources = fields.object("sources")
        report = cls(
            report_id=fields.text("report_id"),
            generated_at=_moment(fields.text("generated_at")),
            host=HostInfo.from_document(fields.object("host")),
            agent=AgentInfo.from_document(fields.object("agent")),
            policy=dict(fields.object("policy").value),
            sources={name: SourceStatus.from_document(sources.object(name)) for name in sources.value},
            findings=[ReportedFinding.from_document(item.value, item.where) for item in fields.objects("findings")],
            errors=[_source_error(item) for item in fields.objects("errors")],
            trigger=fields.optional_text("trigger"),
            notes=fields.texts("notes") if fields.has("notes") else [],
        )
        if fields.raw("summary") != report.summary.document():
            raise DocumentError("/summary: not what the findings count")
        return report


def _moment(text: str) -> dt.datetime:
    try:
        moment = parse_time(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or isoformat(moment) != text:
        raise DocumentError(f"/generated_at: {text!r} is not a UTC time in whole seconds (2026-11-26T15:04:05Z)")
    return moment


def _source_error(fields: Fields) -> SourceError:
    fields.only(("source", "error"))
    return SourceError(fields.text("source"), fields.nullable_text("error"))
