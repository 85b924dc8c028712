"""`banwatch export` from end to end: the managed hosts of an inventory, each manager's documents
for them, the coverage of the managers they are under, and the folder that holds it all."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from banwatch.control.ansible_inventory import load_inventory
from banwatch.control.managed.android import compile_android
from banwatch.control.managed.apple import compile_apple
from banwatch.control.managed.coverage import coverage
from banwatch.control.managed.intune import compile_intune
from banwatch.control.managed.inventory import ANDROID, APPLE, INTUNE, MANAGERS, SANTA, ManagedDevice, managed_devices
from banwatch.control.managed.manifest import (
    Issue,
    ManagerExport,
    changed_files,
    export_files,
    json_bytes,
    previous_issue,
    previous_version,
    write_export,
)
from banwatch.control.managed.santa import compile_santa
from banwatch.control.policy_source import PolicySource, load_policy_source
from banwatch.core.cycles import cycle_collector_paused
from banwatch.core.errors import InputError

COVERAGE_FILE = "coverage.json"
Compiler = Callable[[PolicySource, list[ManagedDevice], dt.date], ManagerExport]
COMPILERS: dict[str, Compiler] = {ANDROID: compile_android, APPLE: compile_apple, INTUNE: compile_intune,
                                  SANTA: compile_santa}


def read_devices(inventory: str) -> list[ManagedDevice]:
    """The inventory's managed hosts; InputError when it has none."""
    devices = managed_devices(load_inventory(inventory), inventory)
    if not devices:
        raise InputError.single(inventory, "the inventory lists no managed hosts",
                                "set banwatch_managed_by on the hosts a device manager reaches (docs/managed.md)")
    return devices


def compile_all(source: PolicySource, devices: list[ManagedDevice], today: dt.date) -> list[ManagerExport]:
    """Every manager's part, for the managers `devices` are under, in a fixed order."""
    return [COMPILERS[manager](source, [d for d in devices if d.manager == manager], today)
            for manager in MANAGERS if any(d.manager == manager for d in devices)]


def coverage_rows(source: PolicySource, devices: list[ManagedDevice]) -> list[dict[str, Any]]:
    """Coverage for the (manager, enrolment) kinds the devices are of, with how many devices each."""
    counts = Counter((d.manager, d.enrolment) for d in devices)
    return [{**row.document(), "devices": counts[(row.manager, row.enrolment)]}
            for row in coverage(source.apps, counts)]


@dataclass(frozen=True)
class Outcome:
    """What an export did: the issue its folder holds, each manager's part, the coverage rows,
    and the files that differ from the earlier export (none: it was kept as it was)."""

    issue: Issue
    exports: list[ManagerExport]
    coverage: list[dict[str, Any]]
    changed_files: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.changed_files)


def export(source_dir: str, inventory: str, out: str, *, version: int | None, issued_at: dt.datetime,
           reuse_unchanged: bool = False, dry_run: bool = False) -> Outcome:
    """Reads, compiles and writes; nothing is written when any input is wrong, when `dry_run`, or
    when `reuse_unchanged` and the earlier export in `out` is still right: the same files but
    for its own version and issue time (a scheduled run then changes nothing)."""
    # Kept for speed: with the cycle collector on, bench_export's export takes a fifth longer.
    with cycle_collector_paused():
        return _export(source_dir, inventory, out, version=version, issued_at=issued_at,
                       reuse_unchanged=reuse_unchanged, dry_run=dry_run)


def _export(source_dir: str, inventory: str, out: str, *, version: int | None, issued_at: dt.datetime,
            reuse_unchanged: bool, dry_run: bool) -> Outcome:
    source = load_policy_source(source_dir, issued_at.date())
    devices = read_devices(inventory)
    exports = compile_all(source, devices, issued_at.date())
    covered = coverage_rows(source, devices)
    extra = {COVERAGE_FILE: json_bytes({"source_digest": source.digest, "rows": covered})}
    earlier = previous_issue(out, source) if reuse_unchanged else None
    if earlier is not None and not changed_files(out, export_files(earlier, exports, extra)):
        return Outcome(earlier, exports, covered, [])
    issue = Issue(version or previous_version(out) + 1, issued_at, source)
    files = export_files(issue, exports, extra)
    changed = changed_files(out, files)
    if not dry_run:
        write_export(out, files)
    return Outcome(issue, exports, covered, changed)
