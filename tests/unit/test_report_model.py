"""The report's types and its document, both ways: a document read back and written again is the
same document (the real agent's, and generated ones), a report written and read back is the same
report, and a document the agent would not write is refused with the field it is wrong in.

The property tests are seeded (`SEED`, named in every failure) so a failure is found again.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from banwatch.core.report.schema import EXEMPT, UNDER_REVIEW, VIOLATION
from banwatch.device.report.fields import DocumentError
from banwatch.device.report.finding import (
    ActionRecord,
    Detection,
    Quarantined,
    QuarantineFailed,
    ReportedFinding,
    Rule,
)
from banwatch.device.report.model import AgentInfo, HostInfo, Report, SourceError, SourceStatus
from banwatch.device.service.daemon import Agent
from banwatch.device.sources.observations import Observation
from tests.device import (
    CollectingSink,
    Device,
    app,
    banned_copy,
    detection_report,
    reported_finding,
    running,
    unique_tag,
    wait_for,
)

SEED = 1515
linux_only = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
PROPERTIES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def same_json(document: dict[str, Any]) -> str:
    """The document's JSON text, field order and all: what "the same document" means here."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def assert_reads_back(document: dict[str, Any]) -> None:
    again = Report.from_document(document).to_document()
    assert same_json(again) == same_json(document)


# --- the real agent's reports ---------------------------------------------------------------------


@linux_only
def test_the_running_agents_reports_read_back_to_the_same_documents(tmp_path: Path) -> None:
    """A start scan (with a report-only app already running), then a kill and a quarantine found
    by polling, in enforce mode: every report the agent hands its sink, and `scan`'s output."""
    tag = unique_tag()
    device = Device(tmp_path)
    device.install([app(f"{tag}-k", process_names=[f"{tag}-kill"]),
                    app(f"{tag}-q", action="quarantine", process_names=[f"{tag}-held"]),
                    app(f"{tag}-r", action="report", process_names=[f"{tag}-watch"])])
    device.write_config(detection="polling", poll_interval=1, mode="enforce", report_delay=0)
    watched = subprocess.Popen([str(banned_copy(tmp_path / "bin", f"{tag}-watch")), "60"])
    sink = CollectingSink()
    try:
        with running(Agent(device.config(), sink)):
            wait_for(lambda: sink.findings(f"{tag}-r"), what="the start scan's finding")
            killed = subprocess.Popen([str(banned_copy(tmp_path / "bin", f"{tag}-kill")), "60"])
            held = subprocess.Popen([str(banned_copy(tmp_path / "held", f"{tag}-held")), "60"])
            assert killed.wait(10) == -signal.SIGTERM and held.wait(10) == -signal.SIGTERM
            wait_for(lambda: sink.findings(f"{tag}-k") and sink.findings(f"{tag}-q"), what="the detections")
        scanned = subprocess.run([sys.executable, "-m", "banwatch.device.cli.main", "scan", "--format", "json",
                                  "--config", str(device.config_path)], capture_output=True, text=True,
                                 timeout=60, check=False)
    finally:
        watched.kill()
        watched.wait()
    (quarantined,) = sink.findings(f"{tag}-q")
    assert "quarantine" in quarantined and quarantined["detection"]["mode"] == "polling"
    assert {r.get("trigger") for r in sink.reports} >= {"start", "poll"}
    for document in sink.reports:
        assert_reads_back(document)
    assert scanned.returncode == 1, scanned.stderr  # the report-only app is a violation
    assert_reads_back(json.loads(scanned.stdout))


# --- generated reports ----------------------------------------------------------------------------

# Device text: any characters, and the lone surrogates a file name that is not UTF-8 decodes to.
device_text = st.text(st.characters() | st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF, categories=["Cs"]),
                      max_size=12)
plain_text = st.text(max_size=12)
finite = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | finite | plain_text,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(plain_text, inner, max_size=3),
                           max_leaves=8)
json_objects = st.dictionaries(plain_text, json_values, max_size=4)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


# An observation the way sources fill it: a field is None or has something to say (the document
# writes an empty list or map as no field at all, which reads back as None).
observations = st.builds(
    Observation, source=plain_text, kind=plain_text, name=device_text, version=maybe(device_text),
    path=maybe(device_text), pid=maybe(st.integers(0, 2**22)), exe=maybe(device_text),
    cmdline=maybe(st.lists(device_text, min_size=1, max_size=4)), user=maybe(plain_text), started_at=maybe(finite),
    sha256=maybe(plain_text), identifier=maybe(device_text), scope=maybe(plain_text),
    extra=st.dictionaries(plain_text, json_values, max_size=3))
records = st.builds(ActionRecord, action=plain_text, action_taken=plain_text, outcome=maybe(plain_text),
                    outcome_detail=maybe(plain_text),
                    quarantine=maybe(st.builds(Quarantined, plain_text, device_text, plain_text)
                                     | st.builds(QuarantineFailed, plain_text)))
findings = st.builds(
    ReportedFinding, app=plain_text, app_name=plain_text, severity=plain_text,
    verdict=st.sampled_from([VIOLATION, EXEMPT, UNDER_REVIEW]), rule=st.builds(Rule, plain_text, plain_text),
    evidence=observations, response=records, exemption=maybe(plain_text), exemption_expires=maybe(st.dates()),
    note=maybe(plain_text), detection=maybe(st.builds(Detection, plain_text, maybe(finite), maybe(finite))))
reports = st.builds(
    Report, report_id=plain_text,
    generated_at=st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2100, 1, 1), timezones=st.just(dt.timezone.utc)),
    host=st.builds(HostInfo, plain_text, st.lists(plain_text, max_size=3).map(tuple), plain_text, maybe(plain_text),
                   st.dictionaries(plain_text, plain_text, max_size=3)),
    agent=st.builds(AgentInfo, plain_text, maybe(plain_text), maybe(plain_text), maybe(plain_text),
                    maybe(st.integers(0, 10**6)), maybe(json_objects)),
    policy=json_objects,
    sources=st.dictionaries(plain_text, st.builds(SourceStatus, plain_text, st.integers(0, 10**6),
                                                  finite.map(lambda ms: round(ms, 1)), maybe(device_text),
                                                  maybe(plain_text)), max_size=3),
    findings=st.lists(findings, max_size=4), errors=st.lists(st.builds(SourceError, plain_text, maybe(device_text)),
                                                             max_size=2),
    trigger=maybe(plain_text), notes=st.lists(plain_text, max_size=2))


@seed(SEED)
@PROPERTIES
@given(reports)
def test_a_generated_report_written_and_read_back_is_the_same_report(report: Report) -> None:
    document = report.to_document()
    assert Report.from_document(document) == report, f"seed {SEED}"
    assert Report.from_document(json.loads(json.dumps(document))) == report, f"seed {SEED}: through JSON text"


@seed(SEED)
@PROPERTIES
@given(reports)
def test_a_generated_document_read_back_and_written_again_is_the_same_document(report: Report) -> None:
    document = json.loads(json.dumps(report.to_document()))  # as a reader meets it: parsed JSON
    assert same_json(Report.from_document(document).to_document()) == same_json(document), f"seed {SEED}"


def test_the_summary_is_counted_from_the_findings_each_time() -> None:
    report = detection_report([reported_finding(EXEMPT)])
    assert report.to_document()["summary"] == {"verdict": "compliant", "violation": 0, "exempt": 1, "under_review": 0}
    report.findings.append(reported_finding())
    assert report.to_document()["summary"] == {"verdict": "violation", "violation": 1, "exempt": 1, "under_review": 0}


# --- documents the agent would not write ------------------------------------------------------------


def a_document() -> dict[str, Any]:
    finding = reported_finding()
    finding.response.ended("killed", "SIGTERM")
    return detection_report([finding]).to_document()


def changed(edit: str) -> dict[str, Any]:
    document = copy.deepcopy(a_document())
    finding = document["findings"][0]
    if edit == "no report_id":
        del document["report_id"]
    elif edit == "pid as text":
        finding["evidence"]["pid"] = "4242"
    elif edit == "a field of the wire":
        finding["evidence"]["raw_bytes"] = {"/exe": "/w=="}
    elif edit == "a summary patched":
        document["summary"]["violation"] = 0
    elif edit == "a local time":
        document["generated_at"] = "2026-11-26T15:04:05+01:00"
    elif edit == "a null the agent leaves out":
        finding["outcome_detail"] = None
    elif edit == "another schema":
        document["schema"] = "banwatch.report/2"
    return document


@pytest.mark.parametrize(("edit", "field"), [
    ("no report_id", "/report_id: missing"),
    ("pid as text", "/findings/0/evidence/pid: not a whole number"),
    ("a field of the wire", "/findings/0/evidence/raw_bytes: not a field"),
    ("a summary patched", "/summary: not what the findings count"),
    ("a local time", "/generated_at: '2026-11-26T15:04:05+01:00' is not a UTC time"),
    ("a null the agent leaves out", "/findings/0/outcome_detail: null"),
    ("another schema", "/schema: not banwatch.report/1"),
])
def test_a_document_the_agent_would_not_write_is_refused_naming_the_field(edit: str, field: str) -> None:
    with pytest.raises(DocumentError) as refused:
        Report.from_document(changed(edit))
    assert str(refused.value).startswith(field)


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(DocumentError, match=r"^/: not an object"):
        Report.from_document([a_document()])
