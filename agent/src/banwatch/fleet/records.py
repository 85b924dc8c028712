"""A verified report → the one row the fleet store keeps for it.

The signature proves who sent a report, not that its shape is sane: every field a view reads
is checked here, and a report that lacks one is refused (and kept aside) rather than shown
half. Findings are kept compact: what a table cell needs, the full report stays in the store.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from banwatch.core.report.envelope import ReportRejected
from banwatch.core.report.schema import describe_evidence
from banwatch.core.timestamps import isoformat
from banwatch.fleet.cell_texts import agent_text, findings_text, policy_text
from banwatch.fleet.states import report_state
from banwatch.fleet.store import ReportRecord

_NAME = re.compile(r"[^\s,]+")
# A sequence epoch: the agent makes 16 hex digits; anything plain and short is taken.
_EPOCH = re.compile(r"[0-9A-Za-z_.:-]{1,64}")
# A time as agents write it and the store keeps it (`timestamps.isoformat`): UTC, seconds, `Z`.
_CANONICAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
# The largest whole number SQLite keeps (a larger one would fail the whole batch's transaction).
MAX_INTEGER = 2**63 - 1


# One encoder for every record (json.dumps with options builds a new one per call).
dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _malformed(what: str) -> ReportRejected:
    return ReportRejected(f"malformed: {what}")


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _malformed(f"{what} is not an object")
    return value


def _text(value: Any, what: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise _malformed(f"{what} is not a non-empty string")
    return value


def _names(value: Any, what: str) -> list[str]:
    """Group names or exemption ids: plain words (no spaces or commas), as inventories and registers write them."""
    names = value or []
    if not isinstance(names, list) or not all(isinstance(n, str) and _NAME.fullmatch(n) for n in names):
        raise _malformed(f"{what} is not a list of names")
    return names


def _count(value: Any, what: str, *, optional: bool = True) -> int:
    """A whole number the store can keep (0 … MAX_INTEGER); None is 0 when `optional`."""
    if value is None and optional:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_INTEGER:
        raise _malformed(f"{what} is not a whole number")
    return value


def _shown(value: Any) -> str:
    """A value from a report, short enough to quote in a reason."""
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


def timestamp(value: Any, what: str = "generated_at") -> str:
    """An ISO 8601 time with a zone, as the store keeps it (UTC, seconds, `Z`)."""
    if not isinstance(value, str):
        raise _malformed(f"{what} {_shown(value)} is not an ISO 8601 time")
    try:
        if _CANONICAL_TIME.fullmatch(value):  # as agents write it: only checked to be a real moment
            dt.datetime.fromisoformat(value[:-1])
            return value
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _malformed(f"{what} {_shown(value)} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise _malformed(f"{what} {_shown(value)} has no time zone")
    try:
        return isoformat(moment)
    except OverflowError:  # the first or last day of the calendar, in another zone
        raise _malformed(f"{what} {_shown(value)} is out of range") from None


def _sequence(value: Any) -> tuple[str | None, int | None]:
    """(epoch, number) of the report's `sequence`; (None, None) from an agent before sequences."""
    if value is None:
        return None, None
    sequence = _mapping(value, "sequence")
    epoch = sequence.get("epoch")
    if not isinstance(epoch, str) or not _EPOCH.fullmatch(epoch):
        raise _malformed("sequence epoch is not a plain word of at most 64 characters")
    return epoch, _count(sequence.get("number"), "sequence number", optional=False)


def compact_finding(finding: Any, index: int) -> dict[str, Any]:
    what = f"finding {index + 1}"
    finding = _mapping(finding, what)
    evidence = finding.get("evidence")
    return {
        "app": _text(finding.get("app"), f"{what} app"),
        "verdict": _text(finding.get("verdict"), f"{what} verdict"),
        "exemption": _text(finding.get("exemption"), f"{what} exemption", optional=True),
        "source": _text(finding.get("source"), f"{what} source", optional=True),
        "action": finding.get("action_taken") if isinstance(finding.get("action_taken"), str) else None,
        "seen": describe_evidence(evidence) if isinstance(evidence, dict) else "",
    }


def _policy_fields(policy: Any) -> tuple[int | None, str | None, str | None, str | None, list[str]]:
    """(version, digest, state, last rejection reason, exemption ids in force) of the report's policy."""
    if policy is None:
        return None, None, None, None, []
    policy = _mapping(policy, "policy")
    version = policy.get("version")
    _count(version, "policy version")
    rejection = policy.get("last_rejection")
    reason = None
    if rejection is not None:
        reason = _text(_mapping(rejection, "policy last_rejection").get("reason"), "policy rejection reason")
    in_force = _names(policy.get("exemptions"), "policy exemptions")
    return (version, _text(policy.get("digest"), "policy digest", optional=True),
            _text(policy.get("state"), "policy state", optional=True), reason, in_force)


def _source_errors(errors: Any) -> tuple[str, ...]:
    if not isinstance(errors, list):
        raise _malformed("errors is not a list")
    described = []
    for index, entry in enumerate(errors):
        error = _mapping(entry, f"error {index + 1}")
        described.append(f"{error.get('source')}: {error.get('error')}")
    return tuple(described)


def report_record(report: dict[str, Any], content_sha256: str) -> ReportRecord:
    """The row of a verified report; ReportRejected (malformed: …) when a field a view needs is wrong."""
    host = _mapping(report.get("host"), "host")
    groups = _names(host.get("groups"), "host groups")
    agent = _mapping(report.get("agent"), "agent")
    version, digest, policy_state, rejection, in_force = _policy_fields(report.get("policy"))
    findings = report.get("findings")
    if not isinstance(findings, list):
        raise _malformed("findings is not a list")
    compact = tuple(compact_finding(f, i) for i, f in enumerate(findings))
    summary = _mapping(report.get("summary"), "summary")
    delivery = report.get("delivery")
    dropped = _count(_mapping(delivery, "delivery").get("dropped"), "delivery dropped") if delivery else 0
    covering = _names([f["exemption"] for f in compact if f["exemption"]], "finding exemptions")
    violations, exempt = _count(summary.get("violation"), "summary violation"), _count(summary.get("exempt"),
                                                                                        "summary exempt")
    verdict, source_errors = str(_text(summary.get("verdict"), "summary verdict")), _source_errors(
        report.get("errors", []))
    state, reason = report_state(violations=violations, verdict=verdict, findings=compact,
                                 policy_rejection=rejection, source_errors=source_errors, exempt=exempt)
    agent_version = str(_text(agent.get("version"), "agent version"))
    detection = _text(agent.get("detection"), "agent detection", optional=True)
    epoch, sequence = _sequence(report.get("sequence"))
    return ReportRecord(
        report_id=report["report_id"],
        host=str(_text(host.get("name"), "host name")),
        groups=",".join(sorted(groups)),
        generated_at=timestamp(report.get("generated_at")),
        content_sha256=content_sha256,
        agent_version=agent_version,
        detection=detection,
        policy_version=version,
        policy_digest=digest,
        policy_state=policy_state,
        policy_rejection=rejection,
        exemptions=",".join(sorted({*in_force, *covering})),
        verdict=verdict,
        violations=violations,
        exempt=exempt,
        source_errors=dumps(source_errors),
        dropped=dropped,
        findings=dumps(compact),
        state=state,
        reason=reason,
        epoch=epoch,
        sequence=sequence,
        agent_text=agent_text(agent_version, detection),
        policy_text=policy_text(version, policy_state),
        findings_text=findings_text(compact),
    )
