"""Bad input to `banwatch export`: exit 2, one line naming the file, the host and the fix, and
nothing written. Hostile inventories and sources never make a traceback."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from banwatch.cli import main
from banwatch.control.ansible_inventory import InventoryHost
from banwatch.control.managed.inventory import managed_devices
from banwatch.control.policy_source import load_policy_source
from banwatch.core.errors import InputError
from banwatch.core.policy.payload import app_document
from tests.conftest import EXAMPLE_POLICY, TODAY, example_documents


def inventory(tmp_path: Path, **hosts: dict[str, Any]) -> Path:
    """A YAML inventory of managed hosts (names with '_' for '.'), their vars as given."""
    file = tmp_path / "hosts.yml"
    file.write_text(yaml.safe_dump({"all": {"children": {"managed": {
        "hosts": {name.replace("_", "."): host_vars for name, host_vars in hosts.items()}}}}}))
    return file


def refused(capsys: pytest.CaptureFixture[str], tmp_path: Path, source: Path, inv: Path) -> str:
    """The one error line of an export that must fail, having checked it wrote nothing."""
    out = tmp_path / "out"
    code = main(["export", "--source", str(source), "--inventory", str(inv), "--out", str(out),
                 "--issued-at", "2026-11-25T09:00:00Z"])
    lines = capsys.readouterr().err.splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []
    return lines[0]


PHONE = {"banwatch_managed_by": "android_management", "banwatch_android_enterprise": "LC01",
         "banwatch_managed_enrolment": "fully_managed", "banwatch_managed_device_id": "abc123"}


@pytest.mark.parametrize(("changes", "says", "fix"), [
    ({"banwatch_managed_device_id": None}, "has no banwatch_managed_device_id", "set banwatch_managed_device_id"),
    ({"banwatch_managed_by": "jamf"}, "'jamf', not a manager", "android_management, apple_mdm, intune, santa"),
    ({"banwatch_managed_enrolment": "supervised"}, "not an enrolment android_management has", "fully_managed"),
    ({"banwatch_managed_device_id": "../../etc"}, "is not a device id", "letters, digits"),
    ({"banwatch_android_enterprise": None}, "not an Android enterprise id", "banwatch_android_enterprise"),
])
def test_a_managed_host_with_a_wrong_variable_is_one_line_and_writes_nothing(tmp_path, capsys, changes, says, fix):
    phone = {key: value for key, value in {**PHONE, **changes}.items() if value is not None}
    line = refused(capsys, tmp_path, EXAMPLE_POLICY, inventory(tmp_path, phone_example_gov=phone))
    assert str(tmp_path / "hosts.yml") in line and "host phone.example.gov" in line
    assert says in line.split("Fix:")[0] and fix in line.split("Fix:")[1]


def test_an_android_document_over_the_apis_limit_is_refused(tmp_path, capsys, write_policy):
    banlist, register = example_documents()
    banlist["apps"][0]["match"]["android_packages"] = [f"com.example.app{n}" for n in range(3001)]
    line = refused(capsys, tmp_path, write_policy(banlist, register), inventory(tmp_path, phone_example_gov=PHONE))
    assert "banlist.yml" in line and "host phone.example.gov" in line and "3001 packages, over" in line
    assert "Fix: ban fewer android_packages" in line


def test_an_intune_compliance_policy_over_100_restricted_apps_is_refused(tmp_path, capsys, write_policy):
    banlist, register = example_documents()
    banlist["apps"][0]["match"]["ios_bundle_ids"] = [f"com.example.app{n}" for n in range(101)]
    iphone = {"banwatch_managed_by": "intune", "banwatch_managed_enrolment": "ios_unsupervised",
              "banwatch_managed_device_id": "6b0e2f1c-9d4a-4c8e-b1a7-3e5f9d2c8a10"}
    line = refused(capsys, tmp_path, write_policy(banlist, register), inventory(tmp_path, iphone_example_gov=iphone))
    assert "banlist.yml" in line and "host iphone.example.gov" in line and "101 iOS apps, over Graph's 100" in line


@pytest.mark.parametrize(("key", "value", "fix"), [
    ("macos_team_ids", "eqhxz8m8av", "10 upper-case letters and digits"),
    ("macos_team_ids", "EQHXZ8M8A", "10 upper-case letters and digits"),
    ("macos_signing_ids", "com.google.Chrome", "TEAMID:signing.id or platform:signing.id"),
    ("macos_signing_ids", "EQHXZ8M8AV:", "TEAMID:signing.id or platform:signing.id"),
])
def test_a_team_or_signing_id_of_the_wrong_form_is_refused(tmp_path, capsys, write_policy, *, key, value, fix):
    banlist, register = example_documents()
    banlist["apps"][0]["match"][key] = [value]
    line = refused(capsys, tmp_path, write_policy(banlist, register), inventory(tmp_path, phone_example_gov=PHONE))
    assert "banlist.yml" in line and "app 'tiktok'" in line and f"'{value}' is not a valid entry for '{key}'" in line
    assert fix in line


def test_santas_fields_reach_the_export_but_never_a_devices_payload(write_policy):
    banlist, register = example_documents()
    banlist["apps"][0]["match"].update(macos_team_ids=["AB12CD34EF"], macos_signing_ids=["platform:com.apple.x"])
    source = load_policy_source(write_policy(banlist, register), TODAY)
    assert source.apps[0].match.macos_team_ids == ("AB12CD34EF",)
    assert source.apps[0].match.macos_signing_ids == ("platform:com.apple.x",)
    match = app_document(source.apps[0])["match"]
    assert "macos_team_ids" not in match and "macos_signing_ids" not in match
    banlist["apps"][0]["match"] = {"macos_team_ids": ["AB12CD34EF"]}
    with pytest.raises(InputError, match="names only Santa's Team and signing IDs"):
        load_policy_source(write_policy(banlist, register), TODAY)


def test_an_out_folder_holding_something_else_is_left_alone(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    code = main(["export", "--source", str(EXAMPLE_POLICY), "--inventory",
                 str(inventory(tmp_path, p_example=PHONE)), "--out", str(tmp_path / "out")])
    assert code == 2 and "is not an earlier banwatch export" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["notes.txt"]


def test_an_out_folder_that_cannot_be_made_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    code = main(["export", "--source", str(EXAMPLE_POLICY), "--inventory",
                 str(inventory(tmp_path, p_example=PHONE)), "--out", str(tmp_path / "file" / "out")])
    [line] = capsys.readouterr().err.splitlines()
    assert code == 2 and "cannot write there" in line and "Fix: choose a folder you can write" in line


def test_a_failed_export_keeps_the_earlier_one(tmp_path, capsys):
    good = inventory(tmp_path, phone_example_gov=PHONE)
    args = ["export", "--source", str(EXAMPLE_POLICY), "--out", str(tmp_path / "out")]
    assert main([*args, "--inventory", str(good)]) == 0
    before = sorted(p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file())
    bad = tmp_path / "bad.yml"
    bad.write_text(good.read_text().replace("abc123", "'a b'"))
    assert main([*args, "--inventory", str(bad)]) == 2
    assert sorted(p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yml", "hosts.yml", "out"]


hostile = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=30), st.lists(st.text(max_size=5)),
                    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2))
managers = st.one_of(st.sampled_from(["android_management", "apple_mdm", "intune", "santa"]), hostile)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(manager=managers, device_id=st.one_of(st.text(alphabet=string.printable, max_size=140), hostile),
       enrolment=st.one_of(st.sampled_from(["supervised", "fully_managed", "corporate", "windows_corporate"]), hostile),
       enterprise=st.one_of(st.just("LC01"), hostile))
def test_hostile_managed_vars_give_a_device_or_a_clear_error(manager, device_id, enrolment, enterprise):
    host = InventoryHost("h1", {"g"}, {
        "banwatch_managed_by": manager, "banwatch_managed_device_id": device_id,
        "banwatch_managed_enrolment": enrolment, "banwatch_android_enterprise": enterprise})
    try:
        [device] = managed_devices({"h1": host}, "inv.yml")
    except InputError as exc:
        [problem] = exc.problems
        assert problem.file == "inv.yml" and problem.entry == "host h1" and problem.fix
        assert "\n" not in str(problem)
    else:
        assert device.device_id == device_id and device.manager == manager and device.enrolment == enrolment
        assert all(char not in device.device_id for char in "/\\\n\0 ")
