"""`banwatch fleet import`: managers' listings (real-shaped vendor bodies, checked against the
vendors' schemas) into the fleet store, matched to the example inventory, judged like agent
reports, and shown by every view; bad listings refused whole, the same listing stored once."""

from __future__ import annotations

import base64
import copy
import csv
import datetime as dt
import io
import json
import os
import plistlib
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from banwatch.cli import main
from banwatch.control.managed.export import export
from banwatch.fleet.imports import android, apple, intune
from banwatch.fleet.imports import listing as listing_module
from banwatch.fleet.imports.listing import ListingRejected
from banwatch.fleet.store import FleetStore
from banwatch_lab.standins import csdl, discovery
from tests.conftest import EXAMPLE_POLICY, REPO
from tests.unit.test_fleet_html import Tables, chromium, needs_chromium

EXAMPLE_INVENTORY = REPO / "inventory" / "example" / "hosts.yml"
FIXTURES = REPO / "tests" / "fixtures" / "managed"
ANDROID_PAGE = FIXTURES / "android-devices-page.json"
ANDROID_NOT_APPLIED = FIXTURES / "android-devices-not-applied.json"
APPLE_EVENTS = FIXTURES / "apple-webhook-events.json"
APPLE_PLIST = FIXTURES / "apple-installed-application-list.plist"
INTUNE_PAGE = FIXTURES / "intune-managed-devices-page.json"
ISSUED = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.timezone.utc)  # the fixtures' day
SEED = 1717
# The states the fixtures give the example inventory's managed hosts, with the default stale interval
# (the personally-owned phone last reported 40 days before: stale).
STATES = {
    "and-fin-031.mobile.example.gov": "violation",  # TikTok installed on a fully managed phone
    "and-press-02.mobile.example.gov": "exempt",  # TikTok, under the press office's exemption
    "and-hr-007.mobile.example.gov": "unreported",  # work profile: the personal profile is not seen
    "and-byod-118.mobile.example.gov": "stale",
    "iph-fin-044.mobile.example.gov": "compliant",
    "iph-press-01.mobile.example.gov": "exempt",
    "iph-byod-207.mobile.example.gov": "unreported",  # User Enrollment
    "iph-sec-03.mobile.example.gov": "error",  # the MDM command failed
    "lt-fin-102.corp.example.gov": "compliant",
    "lt-press-05.corp.example.gov": "exempt",
    "lt-sec-09.corp.example.gov": "error",  # Intune: complianceState error
}
LISTINGS = (("android_management", ANDROID_PAGE), ("apple_mdm", APPLE_EVENTS), ("intune", INTUNE_PAGE))


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands' clock, at the fixtures' day: states are as of then, whenever the tests run."""
    for module in ("views", "policy_views", "imports"):
        monkeypatch.setattr(f"banwatch.fleet.cli.{module}.now_utc", lambda: NOW)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "out"
    export(str(EXAMPLE_POLICY), str(EXAMPLE_INVENTORY), str(out), version=7, issued_at=ISSUED)
    return out


def fleet(tmp_path: Path, exported: Path, *args: str) -> int:
    """`banwatch fleet ARGS` against the example inventory, policy and export, in tmp_path's store."""
    config = tmp_path / "fleet.yml"
    config.write_text(f"store: {tmp_path / 'fleet.db'}\ninventory: {EXAMPLE_INVENTORY}\npolicy: {EXAMPLE_POLICY}\n"
                      f"export: {exported}\n")
    return main(["fleet", args[0], "--config", str(config), *args[1:]])


def import_all(tmp_path: Path, exported: Path) -> None:
    for manager, page in LISTINGS:
        assert fleet(tmp_path, exported, "import", manager, str(page)) in (0, 1)


def store_rows(tmp_path: Path) -> tuple[list[Any], list[Any], list[Any]]:
    with sqlite3.connect(tmp_path / "fleet.db") as db:
        return (db.execute("SELECT * FROM reports ORDER BY report_id").fetchall(),
                db.execute("SELECT * FROM hosts ORDER BY host").fetchall(),
                db.execute("SELECT * FROM envelopes ORDER BY report_id").fetchall())


def status(tmp_path: Path, exported: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    fleet(tmp_path, exported, "status", "--group", "managed", "--format", "json", *extra)
    return json.loads(capsys.readouterr().out)


# --- the fixtures are what the vendors' schemas say -------------------------------------------

def test_the_android_fixtures_are_valid_device_list_pages_of_the_discovery_document():
    validator = jsonschema.Draft7Validator(discovery.schema("ListDevicesResponse"))
    for page in (ANDROID_PAGE, ANDROID_NOT_APPLIED):
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in validator.iter_errors(json.loads(page.read_text()))]
        assert errors == [], page.name


def test_the_discovery_document_has_the_fields_and_values_the_parser_reads():
    schemas = discovery.document()["schemas"]
    device = schemas["Device"]["properties"]
    assert {"name", "applicationReports", "lastStatusReportTime", "appliedPolicyName", "appliedPolicyVersion",
            "nonComplianceDetails", "state", "appliedState"} <= set(device)
    assert device["appliedPolicyVersion"] == {**device["appliedPolicyVersion"], "type": "string", "format": "int64"}
    assert tuple(device["state"]["enum"]) == android.DEVICE_STATES
    assert tuple(schemas["ApplicationReport"]["properties"]["state"]["enum"]) == android.APPLICATION_STATES
    assert "APP_INSTALLED" in schemas["NonComplianceDetail"]["properties"]["nonComplianceReason"]["enum"]


def test_the_intune_fixture_has_graph_v1_fields_and_values_only():
    """Every field of each managedDevice is one of Graph v1.0's (but `detectedApps`, which v1.0 keeps
    under deviceManagement and the collection joins on: docs/fleet.md), with a value of its type."""
    device_fields, app_fields = csdl.members("managedDevice"), csdl.members("detectedApp")
    state_fields = csdl.members("deviceConfigurationState")
    assert device_fields["lastSyncDateTime"] == csdl.Member("Edm.DateTimeOffset", collection=False, nullable=False)
    assert device_fields["deviceConfigurationStates"].type == "graph.deviceConfigurationState"
    assert "detectedApps" not in device_fields
    enum = {name: csdl.types()[name].values for name in ("complianceState", "complianceStatus",
                                                          "managedDeviceOwnerType", "detectedAppPlatformType")}
    assert enum["complianceState"] == intune.COMPLIANCE_STATES
    assert enum["complianceStatus"] == intune.POLICY_STATES
    for device in json.loads(INTUNE_PAGE.read_text())["value"]:
        assert set(device) - {"detectedApps"} <= set(device_fields)
        assert device["complianceState"] in enum["complianceState"]
        assert device["managedDeviceOwnerType"] in enum["managedDeviceOwnerType"]
        for app in device["detectedApps"]:
            assert set(app) <= set(app_fields) and app["platform"] in enum["detectedAppPlatformType"]
        for state in device["deviceConfigurationStates"]:
            assert set(state) <= set(state_fields) and state["state"] in enum["complianceStatus"]


def test_the_apple_fixtures_are_mdm_responses_in_webhook_events():
    events = json.loads(APPLE_EVENTS.read_text())
    responses = [plistlib.loads(base64.b64decode(e["acknowledge_event"]["raw_payload"]))
                 for e in events if "acknowledge_event" in e]
    assert all({"UDID", "CommandUUID", "Status"} <= set(r) for r in responses)
    items = [item for r in responses for item in r.get("InstalledApplicationList", [])]
    assert items and all({"Identifier", "Name", "ShortVersion", "Version"} <= set(item) for item in items)
    assert plistlib.loads(APPLE_PLIST.read_bytes())["InstalledApplicationList"]


# --- parsers ------------------------------------------------------------------------------------

def test_android_devices_are_read_with_installed_apps_their_policy_and_errors():
    statuses = {s.device_id: s for s in android.parse_page(json.loads(ANDROID_PAGE.read_text()))}
    phone = statuses["3f2c9a41d7e05b18"]
    assert phone.as_of == "2026-12-02T09:41:07Z" and phone.scope == "LC02my9vtl"
    assert [a.identifier for a in phone.apps] == ["com.android.chrome", "com.google.android.gm",
                                                  "com.zhiliaoapp.musically", "com.tencent.mm"]  # CapCut: REMOVED
    assert (phone.applied_document, phone.applied_version, phone.manager_error) == ("fully-managed-all", "12", None)
    (failed,) = android.parse_page(json.loads(ANDROID_NOT_APPLIED.read_text()))
    assert failed.manager_error == ("android_management: applications (com.zhiliaoapp.musically) not applied: "
                                    "INVALID_VALUE")


def test_apple_webhook_events_give_one_status_per_device_with_an_app_list():
    statuses = {s.device_id: s for s in apple.parse_webhook(json.loads(APPLE_EVENTS.read_text()))}
    assert len(statuses) == 4
    supervised = statuses["00008110-000A4C2E1E38801E"]
    assert supervised.as_of == "2026-12-02T09:30:00Z"  # its latest event: a check-in after its responses
    assert supervised.applied_document == "supervised-all"
    assert statuses["00008110-0012340E3E91401E"].manager_error == (
        "apple_mdm: Error: The MDM command could not be completed.")
    (bare,) = apple.parse_plist(APPLE_PLIST.read_bytes(), "2026-12-02T11:30:00Z")
    assert bare.as_of == "2026-12-02T11:30:00Z" and "com.zhiliaoapp.musically" in {a.identifier for a in bare.apps}
    with pytest.raises(ListingRejected, match="--checked-in"):
        apple.parse_plist(APPLE_PLIST.read_bytes(), None)


def test_intune_devices_are_read_with_detected_apps_and_the_applied_document():
    statuses = {s.device_id: s for s in intune.parse_page(json.loads(INTUNE_PAGE.read_text()))}
    press = statuses["a4c71e9b-2f30-4d86-9e15-7b3c0d4f2e61"]
    assert (press.applied_document, press.applied_version) == ("windows-except-tiktok", "2")
    assert statuses["1e9d3b7a-5c2f-4a10-8d64-c0b2e7f9a513"].manager_error == (
        "intune: complianceState error; banwatch windows-all error")


@pytest.mark.parametrize("text, expected", [
    ("2026-12-02T09:41:07.118402719Z", "2026-12-02T09:41:07Z"),
    ("2026-12-02T10:41:07+01:00", "2026-12-02T09:41:07Z"),
    ("2026-12-02t09:41:07z", "2026-12-02T09:41:07Z"),
])
def test_manager_times_are_kept_canonical(text, expected):
    assert listing_module.rfc3339(text, "t", "e") == expected


@pytest.mark.parametrize("text", ["2026-12-02T09:41:07", "2026-02-30T00:00:00Z", "0001-01-01T00:00:00+01:00",
                                  "yesterday", 1733130000])
def test_a_time_without_a_zone_or_outside_the_calendar_is_refused(text):
    with pytest.raises(ListingRejected, match=r"time|calendar"):
        listing_module.rfc3339(text, "t", "e")


# --- import, end to end -------------------------------------------------------------------------

def test_every_managed_host_gets_its_state_with_its_manager_as_source(tmp_path, exported, capsys):
    import_all(tmp_path, exported)
    rows = {row["host"]: row for row in status(tmp_path, exported, capsys)}
    assert {host: row["state"] for host, row in rows.items() if row["state"] != "unreported" or
            row["source"]} == STATES
    assert {rows[h]["source"] for h in STATES} == {"android_management", "apple_mdm", "intune"}
    assert rows["mac-press-03.corp.example.gov"]["source"] is None  # Santa: nothing imported
    assert rows["and-fin-031.mobile.example.gov"]["findings"] == [
        "tiktok violation (com.zhiliaoapp.musically 37.4.3)", "wechat under_review (com.tencent.mm 8.0.54)"]
    assert rows["and-hr-007.mobile.example.gov"]["reason"] == (
        "apps not visible: application reports cover the work profile only, not the personal profile")
    assert rows["iph-byod-207.mobile.example.gov"]["reason"].startswith("apps not visible: User Enrollment")
    assert rows["and-byod-118.mobile.example.gov"]["reason"] == "no report for 39 d (expected within 1 d)"
    assert rows["lt-sec-09.corp.example.gov"]["reason"] == (
        "rejected a policy: intune: complianceState error; banwatch windows-all error")
    assert rows["and-press-02.mobile.example.gov"]["policy_version"] == 7


def test_a_banned_app_seen_on_a_partly_visible_device_is_still_a_violation(tmp_path, exported, capsys):
    """What the manager cannot see makes nothing `compliant`; what it does see still counts."""
    page = json.loads(ANDROID_PAGE.read_text())
    work_profile = page["devices"][2]
    work_profile["applicationReports"].append({"packageName": "com.zhiliaoapp.musically", "state": "INSTALLED"})
    (tmp_path / "seen.json").write_text(json.dumps(page))
    fleet(tmp_path, exported, "import", "android_management", str(tmp_path / "seen.json"))
    (row,) = [r for r in status(tmp_path, exported, capsys) if r["host"] == "and-hr-007.mobile.example.gov"]
    assert (row["state"], row["findings"]) == ("violation", ["tiktok violation (com.zhiliaoapp.musically)"])


def test_importing_the_same_listings_again_stores_nothing(tmp_path, exported, capsys):
    import_all(tmp_path, exported)
    before = store_rows(tmp_path)
    capsys.readouterr()
    assert fleet(tmp_path, exported, "import", "intune", str(INTUNE_PAGE)) == 0
    assert capsys.readouterr().out.startswith("0 new device report(s) stored, 3 already stored")
    import_all(tmp_path, exported)
    assert store_rows(tmp_path) == before


@pytest.mark.parametrize(("manager", "page", "entries", "unread"), [
    ("android_management", ANDROID_PAGE, "devices", "hardwareInfo"),
    ("intune", INTUNE_PAGE, "value", "deviceName"),
])
def test_the_store_keeps_the_fields_read_so_a_change_elsewhere_stores_nothing(  # noqa: PLR0917 - parameters
        tmp_path, exported, capsys, manager, page, entries, unread):
    assert fleet(tmp_path, exported, "import", manager, str(page)) in (0, 1)
    _, _, envelopes = store_rows(tmp_path)
    kept = [json.loads(row[1]) for row in envelopes]
    assert kept and all(unread not in entry for entry in kept)
    listing = json.loads(page.read_text())
    for entry in listing[entries]:
        entry[unread] = {"changed": "by the manager, not read by banwatch"}
    (tmp_path / "edited.json").write_text(json.dumps(listing))
    capsys.readouterr()
    assert fleet(tmp_path, exported, "import", manager, str(tmp_path / "edited.json")) in (0, 1)
    assert capsys.readouterr().out.startswith("0 new device report(s) stored")
    assert store_rows(tmp_path)[2] == envelopes


def test_a_later_listing_replaces_a_device_s_state_and_an_earlier_one_does_not(tmp_path, exported, capsys):
    import_all(tmp_path, exported)
    assert fleet(tmp_path, exported, "import", "android_management", str(ANDROID_NOT_APPLIED)) == 0
    rows = {row["host"]: row for row in status(tmp_path, exported, capsys)}
    assert rows["and-fin-031.mobile.example.gov"]["state"] == "error"
    older = json.loads(ANDROID_PAGE.read_text())
    older["devices"][0]["lastStatusReportTime"] = "2026-12-02T08:00:00Z"
    (tmp_path / "older.json").write_text(json.dumps(older))
    assert fleet(tmp_path, exported, "import", "android_management", str(tmp_path / "older.json")) == 1
    rows = {row["host"]: row for row in status(tmp_path, exported, capsys)}
    assert rows["and-fin-031.mobile.example.gov"]["state"] == "error"  # still the latest report's


def test_an_unknown_device_is_reported_and_not_added(tmp_path, exported, capsys):
    assert fleet(tmp_path, exported, "import", "android_management", str(ANDROID_PAGE)) == 1
    err = capsys.readouterr().err
    assert "unknown device:" in err and "devices[4] (enterprises/LC02my9vtl/devices/0e4471cb93a2d850)" in err
    hosts = [row[0] for row in store_rows(tmp_path)[1]]
    assert len(hosts) == 4 and all(h.startswith("and-") for h in hosts)


def test_a_device_id_of_another_manager_or_enterprise_is_unknown(tmp_path, exported, capsys):
    page = json.loads(ANDROID_PAGE.read_text())
    page["devices"] = page["devices"][:1]
    page["devices"][0]["name"] = "enterprises/LCotherent/devices/3f2c9a41d7e05b18"
    (tmp_path / "other.json").write_text(json.dumps(page))
    assert fleet(tmp_path, exported, "import", "android_management", str(tmp_path / "other.json")) == 1
    assert fleet(tmp_path, exported, "import", "intune", str(ANDROID_PAGE)) == 2  # not an Intune page
    assert store_rows(tmp_path) == ([], [], [])


def test_exemptions_are_applied_where_the_manager_reports_their_document(tmp_path, exported, capsys):
    import_all(tmp_path, exported)
    capsys.readouterr()
    fleet(tmp_path, exported, "exemptions", "--group", "managed", "--format", "json")
    (press,) = [row for row in json.loads(capsys.readouterr().out)["exemptions"] if row["id"] == "EX-2026-014"]
    covers = {h["host"]: (h["cover"], h["app_present"]) for h in press["hosts"]}
    assert covers["and-press-02.mobile.example.gov"] == ("applied", True)  # appliedPolicyName
    assert covers["lt-press-05.corp.example.gov"] == ("applied", True)  # deviceConfigurationStates
    assert covers["iph-press-01.mobile.example.gov"] == ("pending", True)  # no ProfileList: not reported
    assert covers["mac-press-03.corp.example.gov"] == ("pending", False)


def test_rollout_covers_managed_devices(tmp_path, exported, capsys):
    import_all(tmp_path, exported)
    capsys.readouterr()
    assert fleet(tmp_path, exported, "rollout", "--group", "managed", "--policy-version", "7",
                 "--format", "json") == 1
    rollout = {row["host"]: row["status"] for row in json.loads(capsys.readouterr().out)}
    assert rollout["and-fin-031.mobile.example.gov"] == rollout["lt-fin-102.corp.example.gov"] == "has it"
    assert rollout["iph-fin-044.mobile.example.gov"] == "has it"  # ProfileList names its document
    assert rollout["iph-press-01.mobile.example.gov"] == "not yet"
    assert rollout["lt-sec-09.corp.example.gov"] == "rejected"
    assert rollout["mac-design-04.corp.example.gov"] == "unreported"
    assert fleet(tmp_path, exported, "rollout", "--group", "managed", "--policy-version", "8") == 1
    assert "has it" not in capsys.readouterr().out.split("\n\n")[0]


def test_table_csv_and_html_show_the_same_source(tmp_path, exported, capsys):
    import_all(tmp_path, exported)
    capsys.readouterr()
    fleet(tmp_path, exported, "status", "--group", "managed", "--format", "csv")
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    by_host = {row["host"]: row for row in table}
    assert by_host["iph-press-01.mobile.example.gov"]["source"] == "apple_mdm"
    assert by_host["iph-press-01.mobile.example.gov"]["agent"] == "supervised"
    fleet(tmp_path, exported, "status", "--group", "managed")
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("lt-press-05"))
    assert line.split()[:4] == ["lt-press-05.corp.example.gov", "exempt", "intune", "windows_corporate"]
    fleet(tmp_path, exported, "report", "--group", "managed", "--html", str(tmp_path / "fleet.html"))
    page = (tmp_path / "fleet.html").read_text()
    assert "<td>lt-press-05.corp.example.gov</td><td><span class=\"badge exempt\">exempt</span></td><td>intune</td>" \
        in page


@needs_chromium
def test_the_rendered_page_shows_each_managed_row_as_the_json_does(tmp_path, exported, capsys):
    import_all(tmp_path, exported)
    rows = {row["host"]: row for row in status(tmp_path, exported, capsys)}
    fleet(tmp_path, exported, "report", "--group", "managed", "--html", str(tmp_path / "fleet.html"))
    parsed = Tables()
    parsed.feed(chromium(tmp_path, "--dump-dom", (tmp_path / "fleet.html").as_uri()).stdout.decode())
    shown = {cells[0]: cells for cells in parsed.tables["hosts"] if cells}
    assert {host: (cells[1], cells[2]) for host, cells in shown.items()} == {
        host: (row["state"], row["source"] or "-") for host, row in rows.items()}
    chromium(tmp_path, f"--screenshot={tmp_path / 'fleet.png'}", (tmp_path / "fleet.html").as_uri())
    assert (tmp_path / "fleet.png").stat().st_size > 10_000


# --- bad listings ---------------------------------------------------------------------------------

def test_a_bad_field_names_file_and_entry_and_nothing_of_that_file_is_stored(tmp_path, exported, capsys):
    page = json.loads(ANDROID_PAGE.read_text())
    page["devices"][2]["applicationReports"][1]["state"] = "SIDELOADED"
    (tmp_path / "bad.json").write_text(json.dumps(page))
    assert fleet(tmp_path, exported, "import", "android_management", str(tmp_path / "bad.json"),
                 str(INTUNE_PAGE)) == 2
    err = capsys.readouterr().err
    assert (f"error: {tmp_path / 'bad.json'}: devices[2] (enterprises/LC02my9vtl/devices/8a1e44c0b29f6d73) "
            "applicationReports[1]: state is 'SIDELOADED', not one of") in err
    assert store_rows(tmp_path) == ([], [], [])


@pytest.mark.parametrize("what, data", [
    ("not JSON", b"{devices"),
    ("nested", b"[" * 100_000),
    ("lone surrogate", b'{"devices": [{"name": "\\udcff"}]}'),
])
def test_what_is_not_a_listing_is_refused(tmp_path, exported, capsys, what, data):
    (tmp_path / "page.json").write_bytes(data)
    assert fleet(tmp_path, exported, "import", "android_management", str(tmp_path / "page.json")) == 2, what
    assert f"error: {tmp_path / 'page.json'}: " in capsys.readouterr().err


def test_a_listing_over_its_bounds_is_refused(tmp_path, exported, capsys, monkeypatch):
    monkeypatch.setattr("banwatch.fleet.imports.run.MAX_FILE_BYTES", 1000)
    assert fleet(tmp_path, exported, "import", "android_management", str(ANDROID_PAGE)) == 2
    assert "is larger than" in capsys.readouterr().err
    monkeypatch.undo()
    monkeypatch.setattr("banwatch.fleet.imports.android.MAX_DEVICES", 3)
    assert fleet(tmp_path, exported, "import", "android_management", str(ANDROID_PAGE)) == 2
    assert "the page: devices lists 5 entries, more than the 3 one listing may hold" in capsys.readouterr().err
    os.mkfifo(tmp_path / "fifo.json")
    assert fleet(tmp_path, exported, "import", "android_management", str(tmp_path / "fifo.json")) == 2
    assert "is not a regular file" in capsys.readouterr().err
    assert store_rows(tmp_path) == ([], [], [])


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value, its own included."""
    places = [path]
    if isinstance(value, dict):
        places += [p for key, item in value.items() for p in _paths(item, (*path, key))]
    elif isinstance(value, list):
        places += [p for index, item in enumerate(value) for p in _paths(item, (*path, index))]
    return places


def _replaced(document: Any, path: tuple[Any, ...], junk: Any) -> Any:
    if not path:
        return junk
    changed = copy.deepcopy(document)
    parent = changed
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = junk
    return changed


JUNK = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                 st.text(max_size=30), st.lists(st.integers(), max_size=3),
                 st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
                 st.sampled_from(["", "INSTALLED", "2026-13-01T00:00:00Z", "enterprises/x/devices/", "\x1b[2J"]))
PAGES = {manager: json.loads(page.read_text()) for manager, page in LISTINGS}


@seed(SEED)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(manager=st.sampled_from(sorted(PAGES)), place=st.integers(0, 10**6), junk=JUNK)
def test_garbage_anywhere_is_stored_whole_or_refused_naming_file_and_entry(  # noqa: PLR0917 - fixtures and draws
        tmp_path, exported, capsys, manager, place, junk):
    """Any field of a real page replaced by junk: the import either stores the page (the field is
    one it does not read, or the junk is a value it may hold) or exits 2 naming the file (and the
    entry, when the junk is inside one) with nothing stored: never a traceback, never half."""
    folder = Path(tempfile.mkdtemp(dir=tmp_path))  # a store of its own for each example
    paths = _paths(PAGES[manager])
    path = paths[place % len(paths)]
    (folder / "page.json").write_text(json.dumps(_replaced(PAGES[manager], path, junk)))
    capsys.readouterr()
    code = fleet(folder, exported, "import", manager, str(folder / "page.json"))
    out, err = capsys.readouterr()
    assert code in (0, 1, 2), f"seed {SEED}"
    if code == 2:
        assert f"error: {folder / 'page.json'}: " in err and "nothing of this file was stored" in err, f"seed {SEED}"
        if len(path) > 2:
            assert any(word in err for word in ("devices[", "value[", "event ")), f"seed {SEED}: {err}"
        assert not (folder / "fleet.db").exists() or store_rows(folder) == ([], [], []), f"seed {SEED}"
    else:  # stored whole: what it says it stored, and inventory hosts only
        with FleetStore(str(folder / "fleet.db")) as store:
            hosts = {report.host for report in store.latest()}
        reports = store_rows(folder)[0]
        assert out.startswith(f"{len(reports)} new device report(s) stored"), f"seed {SEED}"
        assert hosts <= set(STATES) and len(hosts) == len(reports), f"seed {SEED}"
