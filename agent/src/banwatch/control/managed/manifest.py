"""An export's folder: one subfolder per manager with its documents and its manifest (which
devices get which document, the policy version, the source digest, and each document's
`valid_until`), and `export.json` at the top, written whole or not at all.

Everything is built in a temp folder beside `--out` and renamed into place, so a failed export
leaves nothing and a reader never sees half of one. Bytes are the same for the same inputs:
JSON with sorted keys, every list sorted, no time but the one given.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

from banwatch.control.managed.compile import Document
from banwatch.control.managed.inventory import ManagedDevice
from banwatch.control.policy_source import PolicySource
from banwatch.core import strict_json
from banwatch.core.atomic import fsync_directory, write_atomic
from banwatch.core.errors import InputError
from banwatch.core.timestamps import isoformat, parse_time

EXPORT_SCHEMA = "banwatch.export/1"
SUMMARY_FILE = "export.json"
MANIFEST_FILE = "manifest.json"
# An earlier export's summary is small; anything bigger is not one.
MAX_SUMMARY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Issue:
    """What every manifest records about the run that wrote it."""

    version: int
    issued_at: dt.datetime
    source: PolicySource

    def stamp(self) -> dict[str, Any]:
        return {"schema": EXPORT_SCHEMA, "policy_version": self.version, "issued_at": isoformat(self.issued_at),
                "source_digest": self.source.digest}


@dataclass
class ManagerExport:
    """One manager's part of an export: its files (by path inside its folder) and its manifest."""

    manager: str
    files: dict[str, bytes] = field(default_factory=dict)
    documents: list[dict[str, Any]] = field(default_factory=list)
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, document: Document, files: dict[str, bytes], blocks: list[str], **details: Any) -> None:
        """Adds `document`'s files and its manifest entry; each of its devices points to it."""
        self.files.update(files)
        valid_until = document.valid_until
        self.documents.append({
            "id": document.id, "variant": document.variant, "files": sorted(files),
            "apps": [app.id for app in document.apps], "blocks": sorted(blocks),
            "exempted": list(document.exempted), "depends_on": sorted(document.depends_on),
            "valid_until": valid_until.isoformat() if valid_until else None,
            "devices": [device.name for device in document.devices], **details})
        for device in document.devices:
            self.device(device, document.id)

    def device(self, device: ManagedDevice, document: str | None, **details: Any) -> None:
        self.devices[device.name] = {"device_id": device.device_id, "enrolment": device.enrolment,
                                     "groups": sorted(device.host.groups), "document": document, **details}

    def manifest(self, issue: Issue) -> dict[str, Any]:
        return {**issue.stamp(), "manager": self.manager, "documents": self.documents, "devices": self.devices,
                **self.extra}


def json_bytes(document: Any) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def previous_version(out: str) -> int:
    """The policy version of the export already in `out` (0 when there is none)."""
    summary = _read_summary(out)
    version = summary.get("policy_version") if summary else None
    return version if isinstance(version, int) and not isinstance(version, bool) else 0


def export_files(issue: Issue, exports: list[ManagerExport], extra_files: dict[str, bytes]) -> dict[str, bytes]:
    """Every file of the export, by its path inside `--out`."""
    files = dict(extra_files)
    for export in exports:
        for path, data in export.files.items():
            files[f"{export.manager}/{path}"] = data
        files[f"{export.manager}/{MANIFEST_FILE}"] = json_bytes(export.manifest(issue))
    files[SUMMARY_FILE] = json_bytes({**issue.stamp(), "managers": sorted(e.manager for e in exports),
                                      "files": sorted(files)})
    return files


def previous_issue(out: str, source: PolicySource) -> Issue | None:
    """The version and issue time of the export already in `out`, with `source`; None when there is none."""
    summary = _read_summary(out)
    if summary is None:
        return None
    version, issued_at = summary.get("policy_version"), summary.get("issued_at")
    if not isinstance(version, int) or isinstance(version, bool) or not isinstance(issued_at, str):
        return None
    try:
        return Issue(version, parse_time(issued_at), source)
    except ValueError:
        return None


def changed_files(out: str, files: dict[str, bytes]) -> list[str]:
    """The paths whose bytes differ from the export in `out`, or that only one of them has."""
    target = os.path.abspath(out)
    on_disk: set[str] = set()
    if os.path.isdir(target):
        for folder, _dirs, names in os.walk(target):
            on_disk.update(os.path.relpath(os.path.join(folder, name), target).replace(os.sep, "/") for name in names)
    differing = list(on_disk ^ files.keys())
    for path in on_disk & files.keys():
        try:
            with open(os.path.join(target, *path.split("/")), "rb") as handle:
                same = handle.read() == files[path]
        except OSError:
            same = False
        if not same:
            differing.append(path)
    return sorted(differing)


def write_export(out: str, files: dict[str, bytes]) -> None:
    """Writes the whole export (`export_files`) to `out`, replacing an earlier export there; InputError when
    `out` holds anything else, before anything is written."""
    target = os.path.abspath(out)
    if os.path.lexists(target) and (not os.path.isdir(target) or os.path.islink(target)
                                    or (os.listdir(target) and _read_summary(target) is None)):
        raise InputError.single(out, "is not an earlier banwatch export", "give --out a new or empty folder")
    parent = os.path.dirname(target)
    try:
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise InputError.single(out, f"cannot write there ({exc.strerror})", "choose a folder you can write") from None
    try:
        for path, data in sorted(files.items()):
            full = os.path.join(staging, *path.split("/"))
            os.makedirs(os.path.dirname(full), exist_ok=True)
            write_atomic(full, data)
        _swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_directory(parent)


def _swap_into_place(staging: str, target: str) -> None:
    """`staging` becomes `target`; an earlier export there is moved aside first and removed after."""
    if not os.path.lexists(target):
        os.rename(staging, target)
        return
    old = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.", suffix=".old", dir=os.path.dirname(target))
    os.rmdir(old)
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _read_summary(folder: str) -> dict[str, Any] | None:
    with contextlib.suppress(OSError, ValueError):
        with open(os.path.join(folder, SUMMARY_FILE), "rb") as handle:
            summary = strict_json.loads(handle.read(MAX_SUMMARY_BYTES))
        if isinstance(summary, dict) and summary.get("schema") == EXPORT_SCHEMA:
            return summary
    return None
