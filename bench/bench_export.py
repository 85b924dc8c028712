"""`banwatch export` for 100,000 managed devices across every manager, against writing the same
documents with json and plistlib alone.

Input: an `ansible-inventory --list` JSON inventory of 100,000 managed hosts spread over the
four managers and all their kinds of enrolment, in the groups general, press_office (exempted
from the TikTok ban by EX-2026-014), field_team (exempted from the WeChat ban, with an earlier
expiry) and classified (never exemptable); the example policy source plus that one exemption.
Measured: `export()` from the files to the finished folder (read, compile, coverage, write).
Floor: the same files' contents as Python objects, dumped with `json.dumps` and
`plistlib.dumps` (AppLocker XML as its bytes) and written to a fresh folder.
Target: at most 3x the floor; the absolute time is printed too.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import plistlib
import shutil
import tempfile
from itertools import count
from pathlib import Path
from typing import Any

from banwatch.control.managed.export import export
from banwatch.control.managed.inventory import ENROLMENTS
from bench.common import best_of, line

DEVICES = 100_000
POLICY = Path(__file__).resolve().parent.parent / "inventory" / "example" / "policy"
ISSUED = dt.datetime(2026, 11, 25, 9, tzinfo=dt.timezone.utc)
GROUPS = ("general", "general", "general", "general", "press_office", "field_team", "classified")
KINDS = [(manager, enrolment) for manager, enrolments in ENROLMENTS.items() for enrolment in enrolments]
FIELD_TEAM_EXEMPTION = """
  - id: EX-BENCH-001
    app: wechat
    groups: [field_team]
    reason: Field liaison with overseas partners who use WeChat only.
    approved_by: Chief Information Security Officer (A. Okafor)
    ticket: SEC-9001
    approved_on: 2026-10-01
    expires: 2027-01-31
"""


def write_policy(folder: Path) -> Path:
    """The example policy source, with one more group exemption (so documents differ in expiry)."""
    policy = folder / "policy"
    shutil.copytree(POLICY, policy)
    with open(policy / "exemptions.yml", "a", encoding="utf-8") as handle:
        handle.write(FIELD_TEAM_EXEMPTION)
    return policy


def write_inventory(folder: Path) -> Path:
    """`ansible-inventory --list` output for DEVICES managed hosts, round-robin over the kinds of
    enrolment and the groups (12 and 7 of them: every pair occurs)."""
    hostvars: dict[str, dict[str, str]] = {}
    members: dict[str, list[str]] = {group: [] for group in GROUPS}
    for index in range(DEVICES):
        manager, enrolment = KINDS[index % len(KINDS)]
        name = f"md-{index:06d}.mobile.example.gov"
        host = {"banwatch_managed_by": manager, "banwatch_managed_device_id": f"{index:016x}",
                "banwatch_managed_enrolment": enrolment}
        if manager == "android_management":
            host["banwatch_android_enterprise"] = "LC02my9vtl"
        hostvars[name] = host
        members[GROUPS[index % len(GROUPS)]].append(name)
    listed: dict[str, Any] = {"_meta": {"hostvars": hostvars}, "all": {"children": sorted(members)}}
    listed.update({group: {"hosts": hosts} for group, hosts in members.items()})
    inventory = folder / "inventory.json"
    inventory.write_text(json.dumps(listed), encoding="utf-8")
    return inventory


def read_back(out: Path) -> dict[str, tuple[str, Any]]:
    """Every file of an export, by path: how to dump it again and its content as objects."""
    contents: dict[str, tuple[str, Any]] = {}
    for path in sorted(out.rglob("*")):
        if path.is_dir():
            continue
        relative = str(path.relative_to(out))
        data = path.read_bytes()
        if path.suffix == ".json":
            contents[relative] = ("json", json.loads(data))
        elif path.suffix == ".mobileconfig":
            contents[relative] = ("plist", plistlib.loads(data))
        else:
            contents[relative] = ("bytes", data)
    return contents


def write_plainly(contents: dict[str, tuple[str, Any]], out: Path) -> None:
    """The floor: each file dumped by json or plistlib and written, nothing else."""
    for relative, (kind, content) in contents.items():
        if kind == "json":
            data = (json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
        elif kind == "plist":
            data = plistlib.dumps(content, fmt=plistlib.FMT_XML, sort_keys=True)
        else:
            data = content
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def main() -> list[str]:
    with tempfile.TemporaryDirectory(prefix="banwatch-bench-export-") as temp:
        folder = Path(temp)
        policy, inventory = str(write_policy(folder)), str(write_inventory(folder))
        runs = count()

        def fresh() -> Path:
            return folder / f"out-{next(runs)}"

        def run_export() -> None:
            export(policy, inventory, str(fresh()), version=1, issued_at=ISSUED)

        first = fresh()
        outcome = export(policy, inventory, str(first), version=1, issued_at=ISSUED)
        contents = read_back(first)
        documents = sum(len(e.documents) for e in outcome.exports)
        floor = best_of(lambda: write_plainly(contents, fresh()), repeat=3)
        measured = best_of(run_export, repeat=3)
        megabytes = sum(os.path.getsize(first / relative) for relative in contents) / 1e6
    return [
        line(f"export {DEVICES} managed devices ({documents} documents, {len(contents)} files, "
             f"{megabytes:.0f} MB)", measured, floor, 3.0, unit="s"),
    ]


if __name__ == "__main__":
    print("\n".join(main()))
