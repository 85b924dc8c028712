"""What a device read, made fit for a report: every string valid UTF-8, bounded, nothing hidden.

The kernel gives bytes, not text: a process's arguments, an executable's path, a package's
name may hold any byte, and any length. The agent keeps such text in memory as Python decodes
file names (`surrogateescape`: each byte that is not UTF-8 becomes one lone surrogate), so a
kill or quarantine acts on the exact file. Before a report leaves the agent, `wire_report`:

- writes each string that is not UTF-8 in its escaped form (each such byte as `\\xNN`) and keeps
  its original bytes, base64, in `raw_bytes`, a map from the string's JSON Pointer (RFC 6901);
- bounds what a user can make huge: a finding's evidence to `EVIDENCE_BUDGET` characters in
  all, any other string to `TEXT_LIMIT`, any list to `LIST_LIMIT` items, a report to
  `MAX_FINDINGS` findings and `MAX_PAYLOAD_BYTES` of JSON (violations kept first; the rest
  counted in `findings_omitted`, while the summary still counts every one). What was cut is named
  in `truncated` (pointer → its original length in bytes, or number of items). So no report
  grows past what the fleet accepts, and no violation hides by making its report too big to store.

Each finding carries its own maps (pointers relative to the finding), and so does its evidence
(relative to the evidence), so a finding keeps them wherever it is taken; anything else is
mapped at the report's top level. A report that fits already leaves as it is, checked by one
JSON encoding.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Mapping
from typing import Any, TypeVar, cast

RAW_BYTES = "raw_bytes"
TRUNCATED = "truncated"
OMITTED = "findings_omitted"
# A finding's evidence, in characters of its strings (with what raw_bytes adds): 100 findings at
# most this big stay far below MAX_REPORT_BYTES, and a real command line (a few KB) fits whole.
EVIDENCE_BUDGET = 8192
TEXT_LIMIT = 4096  # any other string of a report, in characters
LIST_LIMIT = 1024  # items of any list but the findings
OVERHEAD = 2  # what each string costs beyond its characters (its quotes), so no list of empty ones is free
MAX_FINDINGS = 100  # per report, as many as a batch of detections holds
# A report's JSON, so its sealed envelope (base64: 4/3 of it, and the signature) stays well within
# the fleet's MAX_REPORT_BYTES (report_envelope); SLACK covers the separators between findings.
MAX_PAYLOAD_BYTES = 640 * 1024
SLACK = 1024
_VERDICT_ORDER = {"violation": 0, "exempt": 1}  # what a cut keeps first; under review last

_SURROGATES = range(0xD800, 0xE000)
_ESCAPED_BYTES = range(0xDC80, 0xDD00)  # what surrogateescape makes of the bytes 0x80-0xFF

Report = TypeVar("Report", bound=Mapping[str, Any])


def original_bytes(text: str) -> bytes:
    """The bytes a device string stands for: a surrogate-escaped byte is that byte again; any
    other lone surrogate (text that never was bytes, e.g. from JSON) its UTF-16-style encoding."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return b"".join(char.encode("utf-8", "surrogatepass")
                        if ord(char) in _SURROGATES and ord(char) not in _ESCAPED_BYTES
                        else char.encode("utf-8", "surrogateescape") for char in text)


def escaped(raw: bytes) -> str:
    """Valid UTF-8 text for any bytes: their UTF-8 as it is, each other byte as `\\xNN`."""
    return raw.decode("utf-8", "backslashreplace")


def is_wire_safe(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _pointer_token(key: object) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


class _Maps:
    """What one document's cleaning wrote down: original bytes, and what was cut (and how long it was)."""

    def __init__(self, budget: int | None) -> None:
        self.raw: dict[str, str] = {}
        self.truncated: dict[str, int] = {}
        self.budget = budget  # characters left for this document's strings, or None: TEXT_LIMIT each

    def text(self, value: str | bytes, pointer: str) -> str:
        limit = TEXT_LIMIT if self.budget is None else max(self.budget - OVERHEAD, 0)
        if isinstance(value, str) and is_wire_safe(value):
            if len(value) > limit:
                self.truncated[pointer] = len(value.encode("utf-8"))
                value = value[:limit]
            self._spend(len(value) + OVERHEAD)
            return value
        data = value if isinstance(value, bytes) else original_bytes(value)
        if _cost(data) > limit:
            self.truncated[pointer] = len(data)
            data = _cut(data, limit)
        shown = escaped(data)
        self._spend(len(shown) + OVERHEAD)
        if shown.encode("utf-8") != data:  # a byte was escaped: its original is kept
            self.raw[pointer] = base64.b64encode(data).decode("ascii")
            self._spend(len(self.raw[pointer]) + OVERHEAD)
        return shown

    def _spend(self, characters: int) -> None:
        if self.budget is not None:
            self.budget -= characters

    def items(self, value: list[Any] | tuple[Any, ...], pointer: str) -> list[Any] | tuple[Any, ...]:
        if len(value) <= LIST_LIMIT:
            return value
        self.truncated[pointer] = len(value)
        return value[:LIST_LIMIT]

    def attach(self, document: dict[str, Any]) -> dict[str, Any]:
        if self.raw:
            document[RAW_BYTES] = self.raw
        if self.truncated:
            document[TRUNCATED] = self.truncated
        return document


def _cost(data: bytes) -> int:
    """Characters `data` takes in a report: its escaped text, and its base64 when a byte was escaped."""
    shown = escaped(data)
    return len(shown) + (0 if shown.encode("utf-8") == data else OVERHEAD + 4 * ((len(data) + 2) // 3))


def _cut(data: bytes, limit: int) -> bytes:
    """The longest start of `data` that costs at most `limit` characters."""
    data = data[:limit]
    while data and _cost(data) > limit:
        data = data[: len(data) - max(1, (_cost(data) - limit) // 6)]
    return data


def _clean(value: Any, pointer: str, maps: _Maps) -> Any:
    if isinstance(value, (str, bytes, bytearray)):
        return maps.text(bytes(value) if isinstance(value, bytearray) else value, pointer)
    if isinstance(value, Mapping):
        return {_safe_key(key): _clean(item, f"{pointer}/{_pointer_token(_safe_key(key))}", maps)
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item, f"{pointer}/{index}", maps) for index, item in enumerate(maps.items(value, pointer))]
    return value


def _safe_key(key: Any) -> Any:
    """A mapping key made wire-safe (keys are the agent's own field names: escaped, not mapped)."""
    return escaped(original_bytes(key)) if isinstance(key, str) and not is_wire_safe(key) else key


def wire_evidence(evidence: Mapping[str, Any]) -> dict[str, Any]:
    """A finding's evidence made wire-safe and bounded, with its own `raw_bytes` and `truncated`."""
    maps = _Maps(EVIDENCE_BUDGET)
    maps.raw.update(evidence.get(RAW_BYTES) or {})
    maps.truncated.update(evidence.get(TRUNCATED) or {})
    return maps.attach(_clean({k: v for k, v in evidence.items() if k not in (RAW_BYTES, TRUNCATED)}, "", maps))


def _size(document: Any) -> int | None:
    """Bytes of `document` as UTF-8 JSON (one C call), or None when some text is not UTF-8."""
    try:
        return len(json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    except (UnicodeEncodeError, TypeError, ValueError):  # lone surrogates, bytes, a cycle
        return None


def fits(report: Mapping[str, Any]) -> bool:
    """Whether `report` may leave as it is: the common answer, yes, costs one JSON encoding."""
    findings = report.get("findings")
    if isinstance(findings, list) and len(findings) > MAX_FINDINGS:
        return False
    size = _size(report)
    return size is not None and size <= MAX_PAYLOAD_BYTES


def wire_report(report: Report) -> Report:
    """The report as it may leave the device: `report` itself when it fits already, else a copy
    made to fit (see the module's docstring)."""
    if fits(report):
        return report
    return cast(Report, _cleaned_report(report))


def _cleaned_report(report: Mapping[str, Any]) -> dict[str, Any]:
    maps = _Maps(None)
    maps.raw.update(report.get(RAW_BYTES) or {})
    maps.truncated.update(report.get(TRUNCATED) or {})
    clean: dict[str, Any] = {}
    findings: list[Any] | None = None
    for key, value in report.items():
        if key in (RAW_BYTES, TRUNCATED, OMITTED):
            continue
        if key == "findings" and isinstance(value, list):
            findings = value
            clean[key] = []
        else:
            name = _safe_key(key)
            clean[name] = _clean(value, f"/{_pointer_token(name)}", maps)
    maps.attach(clean)
    if findings is not None:
        room = MAX_PAYLOAD_BYTES - (_size(clean) or 0) - SLACK
        kept, omitted = _fitting_findings(findings, room, report.get(OMITTED))
        clean["findings"] = kept
        if omitted:
            clean[OMITTED] = omitted
    return clean


def _fitting_findings(findings: list[Any], room: int, earlier: Any) -> tuple[list[Any], dict[str, Any] | None]:
    """The findings, cleaned, that fit in `room` bytes, at most MAX_FINDINGS, violations first and
    otherwise in their order; the rest counted by app and verdict (with any count made before)."""
    order = sorted(range(len(findings)), key=lambda i: (_VERDICT_ORDER.get(_field(findings[i], "verdict"), 2), i))
    kept: dict[int, Any] = {}
    for index in order[:MAX_FINDINGS]:
        finding = _clean_finding(findings[index], index)
        size = (_size(finding) or 0) + 1
        if size > room:
            break
        kept[index] = finding
        room -= size
    by_app: Counter[str] = Counter()
    if isinstance(earlier, Mapping) and isinstance(earlier.get("by_app_and_verdict"), Mapping):
        by_app.update({str(k): v for k, v in earlier["by_app_and_verdict"].items() if isinstance(v, int)})
    by_app.update(f"{_field(findings[i], 'app')} {_field(findings[i], 'verdict')}" for i in order if i not in kept)
    ordered = [kept[i] for i in sorted(kept)]
    if not by_app:
        return ordered, None
    return ordered, {"count": sum(by_app.values()), "by_app_and_verdict": dict(sorted(by_app.items()))}


def _field(finding: Any, name: str) -> str:
    value = finding.get(name) if isinstance(finding, Mapping) else None
    return escaped(original_bytes(value))[:TEXT_LIMIT] if isinstance(value, str) else "?"


def _clean_finding(finding: Any, index: int) -> Any:
    """One finding made wire-safe, carrying its own maps (pointers relative to the finding), and its
    evidence its own (relative to the evidence), so that neither depends on where it stands."""
    if not isinstance(finding, Mapping):
        return _clean(finding, f"/findings/{index}", _Maps(None))
    maps = _Maps(None)
    maps.raw.update(finding.get(RAW_BYTES) or {})
    maps.truncated.update(finding.get(TRUNCATED) or {})
    clean = {_safe_key(key): (wire_evidence(value) if key == "evidence" and isinstance(value, Mapping)
                              else _clean(value, f"/{_pointer_token(_safe_key(key))}", maps))
             for key, value in finding.items() if key not in (RAW_BYTES, TRUNCATED)}
    return maps.attach(clean)
