"""`banwatch export`: the example inventory's managed devices, each manager's documents and
manifests, the same bytes for the same inputs, and exemptions that expire or may never apply."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from banwatch.cli import main
from banwatch.control.managed.export import export
from banwatch.core.errors import InputError
from tests.conftest import EXAMPLE_POLICY, REPO, example_documents

EXAMPLE_INVENTORY = REPO / "inventory" / "example" / "hosts.yml"
ISSUED = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.timezone.utc)
PRESS_PHONE = "and-press-02.mobile.example.gov"
CLASSIFIED_IPHONE = "iph-sec-03.mobile.example.gov"


def run_export(out: Path, issued_at: dt.datetime = ISSUED, inventory: Path = EXAMPLE_INVENTORY,
               source: Path = EXAMPLE_POLICY) -> dict[str, Any]:
    """The manifests of one export, by manager."""
    export(str(source), str(inventory), str(out), version=7, issued_at=issued_at)
    return {folder.name: json.loads((folder / "manifest.json").read_text())
            for folder in sorted(out.iterdir()) if folder.is_dir()}


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_every_managed_host_of_the_example_reaches_its_managers_document(tmp_path):
    manifests = run_export(tmp_path / "out")
    assert sorted(manifests) == ["android_management", "apple_mdm", "intune", "santa"]
    hosts = yaml.safe_load(EXAMPLE_INVENTORY.read_text())["all"]["children"]["managed"]["children"]
    listed = {name for group in hosts.values() for name in group["hosts"]}
    assert {name for manifest in manifests.values() for name in manifest["devices"]} == listed
    for manifest in manifests.values():
        assert (manifest["policy_version"], manifest["issued_at"]) == (7, "2026-11-25T09:00:00Z")
        assert manifest["source_digest"].startswith("sha256:")
        for document in manifest["documents"]:
            for name in document["devices"]:
                assert manifest["devices"][name]["document"] == document["id"]
    android = manifests["android_management"]["devices"]
    assert android[PRESS_PHONE]["policy_name"] == "enterprises/LC02my9vtl/policies/banwatch-work-profile-except-tiktok"


def test_the_same_inputs_give_the_same_bytes(tmp_path):
    run_export(tmp_path / "one")
    run_export(tmp_path / "two")
    assert files_of(tmp_path / "one") == files_of(tmp_path / "two")
    run_export(tmp_path / "one")  # over an earlier export: replaced whole, and the same again
    assert files_of(tmp_path / "one") == files_of(tmp_path / "two")
    for seed in ("1", "2"):  # and in other processes, whatever order their sets iterate in
        subprocess.run([sys.executable, "-m", "banwatch.cli", "export", "--source", str(EXAMPLE_POLICY),
                        "--inventory", str(EXAMPLE_INVENTORY), "--out", str(tmp_path / seed), "--version", "7",
                        "--issued-at", "2026-11-25T09:00:00Z"], check=True, capture_output=True,
                       env={**os.environ, "PYTHONHASHSEED": seed})
        assert files_of(tmp_path / seed) == files_of(tmp_path / "one")


def test_an_exempt_device_shares_the_relaxed_document_until_its_exemption_expires(tmp_path):
    before = run_export(tmp_path / "before")["android_management"]
    relaxed = next(d for d in before["documents"] if d["id"] == "work-profile-except-tiktok")
    assert relaxed["devices"] == [PRESS_PHONE] and relaxed["blocks"] == []
    assert (relaxed["valid_until"], relaxed["depends_on"]) == ("2027-08-31", ["EX-2026-014"])
    strict = next(d for d in before["documents"] if d["id"] == "work-profile-all")
    assert strict["valid_until"] is None and "com.zhiliaoapp.musically" in strict["blocks"]

    last_day = run_export(tmp_path / "last", dt.datetime(2027, 8, 31, 23, 59, tzinfo=dt.timezone.utc))
    assert last_day["android_management"]["devices"][PRESS_PHONE]["document"] == "work-profile-except-tiktok"
    after = run_export(tmp_path / "after", dt.datetime(2027, 9, 1, tzinfo=dt.timezone.utc))
    for manifest in after.values():
        assert all(not d["exempted"] for d in manifest["documents"]), manifest["documents"]
    assert after["android_management"]["devices"][PRESS_PHONE]["document"] == "work-profile-all"


def test_never_exemptable_devices_never_get_a_relaxed_document(tmp_path, write_policy):
    manifests = run_export(tmp_path / "out")
    for manifest in manifests.values():
        for name, device in manifest["devices"].items():
            if "classified" in device["groups"] and device["document"] is not None:
                assert device["document"].endswith("-all"), (name, device)
    assert manifests["apple_mdm"]["devices"][CLASSIFIED_IPHONE]["document"] == "supervised-all"
    # An exemption that reaches a classified device by a group it shares is refused, as `policy build` refuses it.
    banlist, register = example_documents()
    register["exemptions"][0]["groups"] = ["iphones"]
    with pytest.raises(InputError, match="never-exemptable classified"):
        run_export(tmp_path / "refused", source=write_policy(banlist, register))
    assert not (tmp_path / "refused").exists()


def test_intune_exemptions_become_exclusion_groups_with_their_members(tmp_path):
    intune = run_export(tmp_path / "out")["intune"]
    documents = {d["id"]: d for d in intune["documents"]}
    assert documents["windows-all"]["assignment"] == {"include": "banwatch-windows",
                                                      "exclude": ["banwatch-windows-except-tiktok"]}
    assert documents["windows-except-tiktok"]["assignment"] == {"include": "banwatch-windows-except-tiktok",
                                                                "exclude": []}
    members = {name: [m["host"] for m in group] for name, group in intune["groups"].items()}
    assert members["banwatch-windows-except-tiktok"] == ["lt-press-05.corp.example.gov"]
    assert "lt-press-05.corp.example.gov" in members["banwatch-windows"]


def test_a_device_its_manager_cannot_block_gets_no_document_and_says_why(tmp_path):
    apple = run_export(tmp_path / "out")["apple_mdm"]
    byod = apple["devices"]["iph-byod-207.mobile.example.gov"]
    assert byod["document"] is None and "supervised" in byod["reason"]


def test_the_cli_prints_each_document_and_the_coverage_gaps(tmp_path, capsys):
    code = main(["export", "--source", str(EXAMPLE_POLICY), "--inventory", str(EXAMPLE_INVENTORY),
                 "--out", str(tmp_path / "out"), "--issued-at", "2026-11-25T09:00:00Z"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "exported policy version 1 for 15 managed devices" in printed
    quoted = (REPO / "docs" / "managed.md").read_text()
    table = printed[printed.index("MANAGER "):printed.index("\n\ncoverage gaps")]
    assert table in quoted, "docs/managed.md quotes another document table than the example's export prints"
    assert "work-profile-except-tiktok" in printed and "2027-08-31" in printed
    assert "personally_owned" in printed.split("coverage gaps")[1]
    summary = json.loads((tmp_path / "out" / "export.json").read_text())
    assert summary["managers"] == ["android_management", "apple_mdm", "intune", "santa"]
    main(["export", "--source", str(EXAMPLE_POLICY), "--inventory", str(EXAMPLE_INVENTORY),
          "--out", str(tmp_path / "out"), "--issued-at", "2026-11-25T09:00:00Z"])
    assert "policy version 2" in capsys.readouterr().out  # numbered on from the earlier export


def export_argv(out: Path, issued_at: str, *flags: str) -> list[str]:
    return ["export", "--source", str(EXAMPLE_POLICY), "--inventory", str(EXAMPLE_INVENTORY), "--out", str(out),
            "--issued-at", issued_at, "--json", *flags]


def test_a_scheduled_run_keeps_an_export_that_is_still_right_and_replaces_one_past_an_expiry(tmp_path, capsys):
    out = tmp_path / "out"
    main(export_argv(out, "2026-11-25T09:00:00Z"))
    first = files_of(out)
    capsys.readouterr()
    assert main(export_argv(out, "2027-08-31T09:00:00Z", "--reuse-unchanged")) == 0
    kept = json.loads(capsys.readouterr().out)
    assert (kept["changed"], kept["changed_files"], kept["version"]) == (False, [], 1)
    assert files_of(out) == first  # not even the issue time moves

    main(export_argv(out, "2027-09-01T09:00:00Z", "--reuse-unchanged", "--dry-run"))
    would = json.loads(capsys.readouterr().out)
    assert would["changed"] and would["version"] == 2
    assert "android_management/policies/banwatch-work-profile-except-tiktok.json" in would["changed_files"]
    assert files_of(out) == first  # a dry run writes nothing

    main(export_argv(out, "2027-09-01T09:00:00Z", "--reuse-unchanged"))
    moved = json.loads(capsys.readouterr().out)
    assert (moved["changed"], moved["version"]) == (True, 2)
    assert moved["changed_files"] == would["changed_files"]
    manifest = json.loads((out / "android_management" / "manifest.json").read_text())
    assert manifest["devices"][PRESS_PHONE]["document"] == "work-profile-all"
    assert not (out / "android_management" / "policies" / "banwatch-work-profile-except-tiktok.json").exists()


def test_the_table_names_each_documents_coverage_gaps(tmp_path, capsys):
    main(export_argv(tmp_path / "out", "2026-11-25T09:00:00Z")[:-1])
    rows = {tuple(line.split()[:2]): line.split() for line in capsys.readouterr().out.splitlines()
            if line.startswith(("android_management", "apple_mdm", "santa"))}
    assert rows[("android_management", "personally-owned-all")][-1] == "tiktok"  # only the work profile is seen
    assert rows[("android_management", "fully-managed-all")][-1] == "-"
    assert rows[("apple_mdm", "(none:")][-1] == "tiktok"  # the user-enrolled iPhone
    assert rows[("santa", "macos-all")][-1] == "tiktok"  # no Team ID or signing ID in the example ban list



def test_an_exemption_naming_one_device_relaxes_it_alone_among_devices_in_its_groups(tmp_path, write_policy):
    banlist, register = example_documents()
    register["exemptions"][1]["hosts"] = ["lt-02.corp.example.gov"]  # EX-2026-022, until 2027-02-28
    laptops = {f"lt-0{n}.corp.example.gov": {"banwatch_managed_device_id": f"laptop-{n}"} for n in (1, 2, 3)}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"laptops": {
        "vars": {"banwatch_managed_by": "intune", "banwatch_managed_enrolment": "windows_corporate"},
        "hosts": laptops}}}}))
    intune = run_export(tmp_path / "out", inventory=inventory, source=write_policy(banlist, register))["intune"]
    assert {name: device["document"] for name, device in intune["devices"].items()} == {
        "lt-01.corp.example.gov": "windows-all", "lt-02.corp.example.gov": "windows-except-tiktok",
        "lt-03.corp.example.gov": "windows-all"}
    relaxed = next(d for d in intune["documents"] if d["id"] == "windows-except-tiktok")
    assert (relaxed["depends_on"], relaxed["valid_until"]) == (["EX-2026-022"], "2027-02-28")
