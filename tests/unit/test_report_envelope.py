"""Signed reports: only the key enrolled for the claimed host opens a report."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from banwatch.core.report.envelope import (
    MAX_REPORT_BYTES,
    ReportRejected,
    open_report,
    report_file_name,
    seal_report,
)
from banwatch.core.report.schema import REPORT_SCHEMA


def a_report(host: str = "lab-ep-01") -> dict:
    return {"schema": REPORT_SCHEMA, "report_id": str(uuid.uuid4()), "generated_at": "2026-11-26T10:00:00Z",
            "host": {"name": host, "groups": ["general"]}, "findings": [], "summary": {"verdict": "compliant"}}


@pytest.fixture
def keys() -> dict[str, Ed25519PrivateKey]:
    return {"lab-ep-01": Ed25519PrivateKey.generate(), "lab-ep-02": Ed25519PrivateKey.generate()}


def enrolled(keys: dict[str, Ed25519PrivateKey]) -> dict:
    return {host: key.public_key() for host, key in keys.items()}


def test_a_sealed_report_opens_with_its_hosts_key(keys):
    report = a_report()
    assert open_report(seal_report(report, keys["lab-ep-01"]), enrolled(keys)) == report


def test_a_device_cannot_speak_for_another(keys):
    forged = seal_report(a_report("lab-ep-02"), keys["lab-ep-01"])
    with pytest.raises(ReportRejected, match="not signed by lab-ep-02's enrolled key"):
        open_report(forged, enrolled(keys))


def test_a_changed_report_is_rejected(keys):
    envelope = json.loads(seal_report(a_report(), keys["lab-ep-01"]))
    payload = json.loads(base64.b64decode(envelope["payload"]))
    payload["findings"] = [{"app": "tiktok", "verdict": "exempt"}]
    envelope["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    with pytest.raises(ReportRejected, match="bad signature"):
        open_report(json.dumps(envelope).encode(), enrolled(keys))


@pytest.mark.parametrize("data, reason", [
    (b"not json", "malformed"),
    (json.dumps(a_report()).encode(), "malformed"),  # an unsigned report
    (b" " * (MAX_REPORT_BYTES + 1), "oversized"),
])
def test_unsigned_corrupt_and_oversized_files_are_rejected(keys, data, reason):
    with pytest.raises(ReportRejected, match=reason):
        open_report(data, enrolled(keys))


def test_an_unenrolled_host_is_rejected(keys):
    sealed = seal_report(a_report("ws-unknown"), keys["lab-ep-01"])
    with pytest.raises(ReportRejected, match="no key is enrolled for host 'ws-unknown'"):
        open_report(sealed, enrolled(keys))


def test_file_names_sort_oldest_first():
    early, late = a_report(), a_report()
    late["generated_at"] = "2026-11-26T10:00:01Z"
    assert sorted([report_file_name(late), report_file_name(early)]) == [report_file_name(early),
                                                                        report_file_name(late)]
