"""`banwatch policy coverage`: what each manager can block, only detect, or not see, and that
no export falls short of what coverage calls blockable."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from banwatch.cli import main
from banwatch.control.managed.coverage import BLOCKABLE, DETECT_ONLY, NOT_VISIBLE, REACH, coverage
from banwatch.control.managed.export import export
from banwatch.control.policy_source import load_policy_source
from tests.conftest import EXAMPLE_POLICY, TODAY, example_documents

ISSUED = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.timezone.utc)


def status(app: str, manager: str, enrolment: str) -> str:
    source = load_policy_source(EXAMPLE_POLICY, TODAY)
    [row] = [r for r in coverage(source.apps, [(manager, enrolment)]) if r.app == app]
    return row.status


@pytest.mark.parametrize(("app", "manager", "enrolment", "expected"), [
    ("tiktok", "apple_mdm", "supervised", BLOCKABLE),
    ("tiktok", "apple_mdm", "unsupervised", DETECT_ONLY),  # an unsupervised iPhone cannot be blocked
    ("tiktok", "apple_mdm", "user_enrolled", NOT_VISIBLE),
    ("tiktok", "android_management", "fully_managed", BLOCKABLE),
    ("tiktok", "android_management", "personally_owned", NOT_VISIBLE),  # only the work profile is visible
    ("tiktok", "intune", "ios_unsupervised", DETECT_ONLY),
    ("tiktok", "santa", "corporate", NOT_VISIBLE),  # the example names no Team ID, signing ID or hash
    ("capcut", "android_management", "fully_managed", DETECT_ONLY),  # under review: never blocked
    ("capcut", "intune", "windows_corporate", NOT_VISIBLE),  # no AppX family, no Windows path
])
def test_coverage_says_plainly_what_each_manager_can_do(app, manager, enrolment, expected):
    assert status(app, manager, enrolment) == expected


def test_an_app_without_android_packages_is_unblockable_on_android(write_policy):
    banlist, register = example_documents()
    del banlist["apps"][0]["match"]["android_packages"]
    source = load_policy_source(write_policy(banlist, register), TODAY)
    rows = [r for r in coverage(source.apps) if r.app == "tiktok" and r.platform == "android"]
    assert {r.status for r in rows} == {NOT_VISIBLE} and all("android_packages" in r.why for r in rows)


def test_whatever_coverage_calls_blockable_every_device_of_that_kind_has_blocked(tmp_path):
    """One device of every kind, none exempt: each app coverage calls blockable is in its document."""
    inventory = tmp_path / "hosts.yml"
    lines = ["all:", "  hosts:"]
    for index, (manager, enrolment) in enumerate(REACH):
        lines.append(f"    d{index}: {{banwatch_managed_by: {manager}, banwatch_managed_enrolment: {enrolment}, "
                     f"banwatch_managed_device_id: id{index}, banwatch_android_enterprise: LC01}}")
    inventory.write_text("\n".join(lines) + "\n")
    export(str(EXAMPLE_POLICY), str(inventory), str(tmp_path / "out"), version=1, issued_at=ISSUED)
    manifests = {p.parent.name: json.loads(p.read_text()) for p in (tmp_path / "out").glob("*/manifest.json")}
    rows = json.loads((tmp_path / "out" / "coverage.json").read_text())["rows"]
    assert {(r["manager"], r["enrolment"]) for r in rows} == set(REACH)
    for row in rows:
        if row["coverage"] != BLOCKABLE:
            continue
        manifest = manifests[row["manager"]]
        [device] = [d for d in manifest["devices"].values() if d["enrolment"] == row["enrolment"]]
        [document] = [d for d in manifest["documents"] if d["id"] == device["document"]]
        assert row["app"] in document["apps"], (row, document)
        assert row["app_status"] == "banned"


def test_the_policy_coverage_command_lists_every_kind_or_the_inventorys(tmp_path, capsys):
    assert main(["policy", "coverage", "--source", str(EXAMPLE_POLICY), "--as-of", "2026-11-24", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 4 * len(REACH)
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    p1: {banwatch_managed_by: apple_mdm, banwatch_managed_enrolment: "
                         "unsupervised, banwatch_managed_device_id: u1}\n")
    assert main(["policy", "coverage", "--source", str(EXAMPLE_POLICY), "--as-of", "2026-11-24",
                 "--inventory", str(inventory)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2 + 4 and all("unsupervised" in line for line in printed[2:])
    assert "tiktok  apple_mdm" in printed[2] and "detect only" in printed[2]
