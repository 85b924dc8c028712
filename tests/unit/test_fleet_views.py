"""The views over a store ingested from the demo fleet: exact states, exemptions, rollouts."""

from __future__ import annotations

import datetime as dt

import pytest

from banwatch.control.ansible_inventory import InventoryHost
from banwatch.control.policy_source import load_policy_source
from banwatch.fleet.cell_texts import agent_text, policy_text
from banwatch.fleet.enrolled import load_enrolled
from banwatch.fleet.ingest import Ingest
from banwatch.fleet.store import FleetStore, LatestReport
from banwatch.fleet.views import (
    APPLIED,
    BLOCKED,
    EXPIRED,
    HAS,
    NOT_YET,
    PENDING,
    REJECTED,
    FleetHost,
    exemption_view,
    fleet_hosts,
    rollout_rows,
    state_counts,
    status_rows,
    status_table,
)
from tests.conftest import EXAMPLE_POLICY, example_documents
from tests.fleet_reports import DEMO_HOSTS, DEMO_STATES, Fleet, demo_fleet, tiktok_process

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(hours=24)
NOW_TEXT = "2026-11-24T12:00:00Z"


@pytest.fixture
def source():
    return load_policy_source(EXAMPLE_POLICY, NOW.date())


@pytest.fixture
def store(tmp_path, source):
    fleet = demo_fleet(tmp_path, source, NOW)
    with FleetStore(str(tmp_path / "fleet.db"), create=True) as opened:
        Ingest(opened, load_enrolled(str(fleet.enrolled)), now=lambda: NOW).run(str(fleet.dropbox))
        yield opened


def inventory() -> dict[str, InventoryHost]:
    return {name: InventoryHost(name, set(groups)) for name, groups in DEMO_HOSTS.items()}


def test_every_demo_host_has_its_exact_state(store):
    rows = status_rows(fleet_hosts(store.latest(), inventory()), NOW, DAY)
    assert {row.host: row.state for row in rows} == DEMO_STATES
    by_host = {row.host: row for row in rows}
    assert by_host["lab-ep-01"].findings == ("tiktok violation (pid 4242 TikTok)",)
    assert by_host["lab-ep-05"].findings == ("tiktok exempt EX-2026-014 (pid 4242 TikTok)",)
    assert by_host["lab-ep-07"].reason.startswith("rejected a policy: rollback: version 6")
    assert by_host["lab-ep-08"].reason == "source failed: dpkg: dpkg database unreadable"
    assert by_host["lab-ep-04"].reason == "no report for 2 d (expected within 1 d)"
    assert by_host["lab-ep-02"].cells()[2:5] == ("agent", "0.1.0", "v7")
    assert {key: by_host["lab-ep-02"].document()[key] for key in ("agent_version", "policy_version", "policy_state")} \
        == {"agent_version": "0.1.0", "policy_version": 7, "policy_state": "valid"}
    assert state_counts(row.state for row in rows) == {"violation": 3, "error": 2, "stale": 1, "unreported": 1,
                                                       "exempt": 1, "compliant": 1}


def test_a_longer_stale_interval_brings_the_host_back(store):
    rows = status_rows(fleet_hosts(store.latest(), inventory()), NOW, 3 * DAY)
    assert {row.host: row.state for row in rows}["lab-ep-04"] == "compliant"


def test_a_violation_is_never_hidden_by_age(store):
    rows = status_rows(fleet_hosts(store.latest(), inventory()), NOW + 5 * DAY, DAY)
    states = {row.host: row.state for row in rows}
    assert states["lab-ep-01"] == "violation" and states["lab-ep-02"] == "stale"
    assert next(r for r in rows if r.host == "lab-ep-01").reason.endswith("(last report 5 d ago)")


def test_without_an_inventory_the_reporting_hosts_are_the_fleet(store):
    rows = status_rows(fleet_hosts(store.latest(), None), NOW, DAY)
    assert [row.host for row in rows] == sorted(h for h in DEMO_HOSTS if h != "lab-ep-09")
    assert rows[0].groups == ("general",)


def test_a_reporting_host_missing_from_the_inventory_is_shown(store):
    partial = {name: host for name, host in inventory().items() if name != "lab-ep-02"}
    rows = status_rows(fleet_hosts(store.latest(), partial), NOW, DAY)
    missing = next(row for row in rows if row.host == "lab-ep-02")
    assert missing.state == "compliant" and missing.in_inventory is False


def test_exemptions_applied_pending_expired_and_uncovered(store, source):
    rows, uncovered = exemption_view(source, fleet_hosts(store.latest(), inventory()), now=NOW, stale_after=DAY,
                                     expiring_days=14)
    by_id = {row.id: row for row in rows}
    press = by_id["EX-2026-014"]
    assert press.status == "active" and press.days_left == 280
    assert [(h.host, h.cover, h.app_present, h.state) for h in press.hosts] == [
        ("lab-ep-05", APPLIED, True, "exempt")]
    assert [(h.host, h.cover, h.in_inventory) for h in by_id["EX-2026-022"].hosts] == [
        ("ws-intel-03.corp.example.gov", PENDING, False)]
    assert by_id["EX-2025-031"].status == "expired"
    assert [h.cover for h in by_id["EX-2025-031"].hosts] == [EXPIRED]
    assert sorted((u.app, u.host) for u in uncovered) == [("tiktok", "lab-ep-01"), ("tiktok", "lab-ep-03"),
                                                          ("tiktok", "lab-ep-06")]


def test_a_new_exemption_is_pending_until_a_report_carries_it(store, write_policy):
    banlist, register = example_documents()
    register["exemptions"].append({
        "id": "EX-2026-099", "app": "tiktok", "hosts": ["lab-ep-02"], "reason": "Pilot.", "approved_by": "CISO",
        "ticket": "SEC-9999", "approved_on": "2026-11-20", "expires": "2026-12-01"})
    source = load_policy_source(write_policy(banlist, register), NOW.date())
    rows, _ = exemption_view(source, fleet_hosts(store.latest(), inventory()), now=NOW, stale_after=DAY,
                             expiring_days=14)
    new = next(row for row in rows if row.id == "EX-2026-099")
    assert new.status == "expiring" and new.days_left == 7
    assert [(h.host, h.cover, h.app_present) for h in new.hosts] == [("lab-ep-02", PENDING, False)]


def test_an_exemption_never_covers_a_never_exemptable_host(tmp_path, source):
    fleet_root = tmp_path / "mixed"  # a host in the press office and classified at once
    fleet = Fleet(fleet_root, source, {"ws-press-09": ["press_office", "classified"]})
    fleet.drop(fleet.report("ws-press-09", NOW, [tiktok_process()]))
    with FleetStore(str(fleet_root / "fleet.db"), create=True) as store:
        Ingest(store, load_enrolled(str(fleet.enrolled)), now=lambda: NOW).run(str(fleet.dropbox))
        hosts = fleet_hosts(store.latest(), None)
    rows, uncovered = exemption_view(source, hosts, now=NOW, stale_after=DAY, expiring_days=14)
    press = next(row for row in rows if row.id == "EX-2026-014")
    assert [(h.host, h.cover, h.state) for h in press.hosts] == [("ws-press-09", BLOCKED, "violation")]
    assert [u.host for u in uncovered] == ["ws-press-09"]


def test_policy_rollout(store):
    hosts = fleet_hosts(store.latest(), inventory())
    rows = {row.host: row for row in rollout_rows(hosts, policy_version=7)}
    assert rows["lab-ep-02"].status == HAS and rows["lab-ep-09"].status == "unreported"
    newer = {row.host: row for row in rollout_rows(hosts, policy_version=8)}
    assert newer["lab-ep-02"].status == NOT_YET and newer["lab-ep-02"].current == "7"
    assert newer["lab-ep-07"].status == REJECTED and newer["lab-ep-07"].detail.startswith("rollback: version 6")


def test_agent_rollout_is_exact_so_a_rollback_counts(store):
    hosts = fleet_hosts(store.latest(), inventory())
    assert {row.status for row in rollout_rows(hosts, agent_version="0.1.0") if row.host != "lab-ep-09"} == {HAS}
    older = rollout_rows(hosts, agent_version="0.0.9")
    assert {row.status for row in older} == {NOT_YET, "unreported"}


def test_dropped_reports_and_detection_are_shown(tmp_path, source):
    fleet = Fleet(tmp_path / "spool", source, {"lab-ep-20": ["general"]})
    fleet.drop(fleet.report("lab-ep-20", NOW, dropped=3, detection="polling"))
    with FleetStore(str(tmp_path / "spool" / "fleet.db"), create=True) as store:
        Ingest(store, load_enrolled(str(fleet.enrolled)), now=lambda: NOW).run(str(fleet.dropbox))
        (row,) = status_rows(fleet_hosts(store.latest(), None), NOW, DAY)
    document = row.document()
    assert (row.state, document["dropped_reports"], document["detection"]) == ("compliant", 3, "polling")
    assert row.detail_lines() == ["nothing banned found", "3 earlier report(s) dropped by the device's full spool"]
    assert row.cells() == ("lab-ep-20", "compliant", "agent", "0.1.0 (polling)", "v7", NOW_TEXT,
                           "nothing banned found; 3 earlier report(s) dropped by the device's full spool")


def test_a_status_row_says_how_the_policy_stands_and_when_nothing_is_known():
    report = LatestReport(host="ws-1", as_of=NOW_TEXT, state="compliant", reason="nothing banned found",
                          agent_text=agent_text("0.2.0", None), policy_text=policy_text(9, "expired"),
                          findings_text="", dropped=0, clock_text=None, source="agent", groups_text="general",
                          agent_version="0.2.0",
                          detection=None, policy_version=9, policy_state="expired", policy_rejection=None,
                          exemptions_text="", findings_json="[]", clock_ahead=0)
    (reported, silent) = status_rows([FleetHost("ws-1", report, True), FleetHost("ws-2", None, True, ("finance",))],
                                     NOW, DAY)
    assert reported.cells() == ("ws-1", "compliant", "agent", "0.2.0", "v9 expired", NOW_TEXT, "nothing banned found")
    assert reported.groups == ("general",) and reported.findings == ()
    assert silent.cells() == ("ws-2", "unreported", None, None, None, None, "never reported")
    assert silent.document() == {"host": "ws-2", "state": "unreported", "source": None, "reason": "never reported",
                                 "groups": ("finance",), "agent_version": None, "policy_version": None,
                                 "policy_state": None, "last_report": None, "findings": (), "dropped_reports": 0,
                                 "detection": None, "in_inventory": True, "generated_at": None,
                                 "clock_ahead": 0}


@pytest.mark.parametrize("with_inventory", [True, False], ids=["inventory", "no inventory"])
@pytest.mark.parametrize("now", [NOW, NOW + 5 * DAY], ids=["current", "days later"])
def test_the_table_read_from_stored_lines_is_the_table_built_from_whole_reports(store, now, with_inventory):
    """The status table reads only the texts made at ingest, and makes a row object only for a
    host whose report is old or not plain; a view of whole reports (the JSON document, the HTML
    page) says the same of every host, fresh, stale or an old violation."""
    hosts = inventory() if with_inventory else None
    table = status_table(fleet_hosts(store.latest_lines(), hosts), now, DAY)
    from_lines = status_rows(fleet_hosts(store.latest_lines(), hosts), now, DAY)
    from_reports = status_rows(fleet_hosts(store.latest(), hosts), now, DAY)
    assert table == [row.cells() for row in from_lines] == [row.cells() for row in from_reports] \
        == status_table(fleet_hosts(store.latest(), hosts), now, DAY)
    for row in from_reports:
        assert row.detail == "; ".join(row.detail_lines())
        assert row.entry.report is None or row.entry.report.findings_text == "; ".join(row.findings)
    assert {row.state for row in from_reports} >= ({"violation", "stale"} if now > NOW else
                                                   {"violation", "exempt", "error", "stale", "compliant"})


def test_a_view_of_whole_reports_is_refused_lines_only(store):
    (line_only, *_) = fleet_hosts(store.latest_lines(), None)
    with pytest.raises(TypeError, match="only the status table's line"):
        _ = line_only.groups
