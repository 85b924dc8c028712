"""Signed reports: how a device seals a report and how the fleet store opens one.

A report travels as a DSSE envelope (see `signing`) of type `REPORT_PAYLOAD_TYPE`, signed with
the device's own Ed25519 key, which is generated on the device at deploy and whose public half
is enrolled on the control node under the device's inventory name. `open_report` trusts only
the key enrolled for the host the report claims to come from, so one device can never speak
for another, and every way a file can be wrong comes back as one `ReportRejected` reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from banwatch.core import host_names, signing, strict_json
from banwatch.core.report.schema import REPORT_SCHEMA
from banwatch.core.report.wire_text import wire_report

REPORT_PAYLOAD_TYPE = "application/vnd.banwatch.report+json"
DEVICE_KEY_NAME = "device"  # device.key (0600, on the device only) and device.pub (enrolled)
MAX_REPORT_BYTES = 1024 * 1024
REPORT_FILE_SUFFIX = ".report.json"
PART_SUFFIX = ".part"  # an upload in progress (a dot file), or one a cut connection left behind
_REPORT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class ReportRejected(Exception):
    """A report file that must not be counted; the message says why (for the quarantine)."""


def report_file_name(report: Mapping[str, Any]) -> str:
    """`<generated_at>-<report_id>.report.json`: unique, and sorted by name means oldest first."""
    stamp = str(report["generated_at"]).replace(":", "").replace("-", "")
    return f"{stamp}-{report['report_id']}{REPORT_FILE_SUFFIX}"


def seal_report(report: Mapping[str, Any], key: Ed25519PrivateKey) -> bytes:
    """The report as a signed envelope, ready to spool: canonical JSON, one line. Text that is not
    UTF-8 is sealed in its escaped form with its bytes beside it (`wire_text`), never refused."""
    try:
        payload = signing.canonical_json(report)
    except (UnicodeEncodeError, TypeError):  # a caller that did not clean it first: clean it here
        payload = signing.canonical_json(wire_report(report))
    envelope = signing.sign(payload, REPORT_PAYLOAD_TYPE, [key])
    return signing.canonical_json(envelope) + b"\n"


@dataclass(frozen=True)
class OpenedReport:
    """A verified report, with the exact bytes that were signed (their digest identifies the content)."""

    report: dict[str, Any]
    payload: bytes


def _unverified(data: bytes) -> tuple[dict[str, Any], bytes, dict[str, Any], str]:
    """(envelope, payload bytes, report, claimed host name), each parsed once, nothing verified."""
    try:
        envelope = signing.parse_envelope(data)
        payload = signing.decode_base64(envelope["payload"], "payload")
        report = strict_json.loads(payload)
        name = report["host"]["name"]
    except (ValueError, KeyError, TypeError, signing.VerificationError):
        raise ReportRejected("malformed: not a signed banwatch report") from None
    if not isinstance(name, str) or not name:
        raise ReportRejected("malformed: the report names no host")
    why = host_names.problem(name)
    if why is not None:  # device data: never a key to look up, a path or a row
        raise ReportRejected(f"malformed: the report's host name {host_names.shown(name)} is not a host name "
                             f"banwatch accepts ({why})")
    return envelope, payload, report, name


def claimed_host(data: bytes) -> str:
    """The inventory name a sealed report says it comes from, before anything is verified."""
    return _unverified(data)[3]


def open_report(data: bytes, enrolled: Mapping[str, Ed25519PublicKey]) -> dict[str, Any]:
    """The report inside `data`, verified against the key enrolled for the host it claims."""
    return open_signed_report(data, enrolled).report


def open_signed_report(data: bytes, enrolled: Mapping[str, Ed25519PublicKey],
                       signature_check: signing.SignatureCheck = signing.signature_valid) -> OpenedReport:
    """`open_report`, keeping the signed bytes; `signature_check` as for `signing.verify_envelope`."""
    if len(data) > MAX_REPORT_BYTES:
        raise ReportRejected(f"oversized: {len(data)} bytes, the limit is {MAX_REPORT_BYTES}")
    envelope, payload, report, host = _unverified(data)
    key = enrolled.get(host)
    if key is None:
        raise ReportRejected(f"unknown device: no key is enrolled for host {host!r}")
    try:
        signing.verify_envelope(envelope, REPORT_PAYLOAD_TYPE, {signing.key_id(key): key}, payload=payload,
                                signature_check=signature_check)
    except signing.VerificationError as exc:
        raise ReportRejected(f"not signed by {host}'s enrolled key: {exc}") from None
    if not isinstance(report, dict) or report.get("schema") != REPORT_SCHEMA:
        raise ReportRejected(f"malformed: not a {REPORT_SCHEMA} document")
    if not isinstance(report.get("report_id"), str) or not _REPORT_ID.match(report["report_id"]):
        raise ReportRejected("malformed: the report id is not a UUID")
    return OpenedReport(report, payload)
