"""`banwatch fleet apps`: the review board's numbers, from agents' reports over several days and
managers' imported listings, in JSON, CSV, the table and the HTML page (rendered by Chromium)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import sqlite3
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from banwatch.cli import main
from banwatch.control.policy_source import load_policy_source
from banwatch.device.sources.observations import Observation
from banwatch.fleet.enrolled import load_enrolled
from banwatch.fleet.ingest import Ingest
from banwatch.fleet.store import APP_DAYS, APP_SEEN, DAILY_STATES, FleetStore
from tests.conftest import EXAMPLE_POLICY
from tests.fleet_reports import Fleet, tiktok_process
from tests.unit import test_fleet_import
from tests.unit.test_fleet_html import Tables, chromium, needs_chromium, png_pixels
from tests.unit.test_fleet_import import EXAMPLE_INVENTORY, LISTINGS, NOW

exported = test_fleet_import.exported  # the managers' documents, exported once per module: a fixture
DAY = dt.timedelta(days=1)
AGENT_HOSTS = {"lab-ep-01": ["general"], "lab-ep-02": ["general"], "lab-ep-05": ["press_office"]}
WINDOW = [(NOW.date() - dt.timedelta(days=29 - n)).isoformat() for n in range(30)]


def wechat_process(pid: int = 77) -> Observation:
    return Observation(source="processes", kind="process", name="WeChat", pid=pid, exe="/opt/wechat/WeChat")


def capcut_process() -> Observation:
    return Observation(source="processes", kind="process", name="CapCut", pid=91, exe="/opt/capcut/CapCut")


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("views", "policy_views", "imports"):
        monkeypatch.setattr(f"banwatch.fleet.cli.{module}.now_utc", lambda: NOW)


@pytest.fixture
def store(tmp_path: Path, exported: Path) -> Path:
    """Agents' reports over five days (one of them 62 days back, outside the window), then the
    managers' listings (the fixtures' day, one phone 40 days back)."""
    source = load_policy_source(EXAMPLE_POLICY, NOW.date())
    agents = Fleet(tmp_path / "agents", source, AGENT_HOSTS)
    plan = [("lab-ep-01", 3, [wechat_process()]), ("lab-ep-01", 2, [wechat_process()]), ("lab-ep-01", 0, []),
            ("lab-ep-02", 62, [capcut_process()]), ("lab-ep-02", 2, [wechat_process()]),
            ("lab-ep-02", 0, [wechat_process(), tiktok_process()]),
            ("lab-ep-05", 3, []), ("lab-ep-05", 0, [tiktok_process()])]
    for host, days_ago, seen in plan:
        agents.drop(agents.report(host, NOW - days_ago * DAY - dt.timedelta(hours=1), seen))
    with FleetStore(str(tmp_path / "fleet.db"), create=True) as fleet_store:
        Ingest(fleet_store, load_enrolled(str(agents.enrolled)), now=lambda: NOW).run(str(agents.dropbox))
    for manager, page in LISTINGS:
        assert fleet(tmp_path, exported, "import", manager, str(page)) in (0, 1)
    return tmp_path


def fleet(tmp_path: Path, exported: Path, *args: str) -> int:
    config = tmp_path / "fleet.yml"
    config.write_text(f"store: {tmp_path / 'fleet.db'}\ninventory: {EXAMPLE_INVENTORY}\npolicy: {EXAMPLE_POLICY}\n"
                      f"export: {exported}\n")
    return main(["fleet", args[0], "--config", str(config), "--group", "managed", *args[1:]] if args[0] != "import"
                else ["fleet", "import", "--config", str(config), *args[1:]])


def apps_json(tmp_path: Path, exported: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    capsys.readouterr()
    assert fleet(tmp_path, exported, "apps", "--format", "json", *extra) == 0
    return json.loads(capsys.readouterr().out)


def holders(tmp_path: Path, app: str) -> dict[str, str]:
    """Hosts whose latest report has `app`, with its source: read from the store's rows directly,
    to check the view's counts against."""
    with sqlite3.connect(tmp_path / "fleet.db") as db:
        rows = db.execute("SELECT host, source, findings FROM hosts").fetchall()
    return {host: source for host, source, findings in rows if any(f["app"] == app for f in json.loads(findings))}


def test_every_app_of_the_ban_list_with_its_devices_now_where_since_when_and_by_day(store, exported, capsys):
    shown = apps_json(store, exported, capsys)
    assert shown["window"] == {"first_day": "2026-11-03", "last_day": "2026-12-02", "days": 30}
    apps = {row["app"]: row for row in shown["apps"]}
    assert list(apps) == ["tiktok", "wechat", "capcut", "temu"]  # the ban list's order
    assert all([d["day"] for d in row["daily"]] == WINDOW for row in apps.values())
    wechat = apps["wechat"]  # lab-ep-02 and the fully managed Android phone have it; lab-ep-01 no more
    assert (wechat["status"], wechat["devices"], wechat["by_source"]) == (
        "under_review", 2, {"agent": 1, "android_management": 1})
    assert wechat["by_group"] == {"android_phones": 1, "general": 1, "managed": 1}
    assert (wechat["first_seen"], wechat["last_seen"]) == ("2026-11-29T11:00:00Z", "2026-12-02T11:00:00Z")
    assert {d["day"]: d["devices"] for d in wechat["daily"] if d["devices"]} == {
        "2026-11-29": 1, "2026-11-30": 2, "2026-12-02": 2}
    tiktok = apps["tiktok"]  # two agents, and four managed devices (three of them exempt)
    assert tiktok["by_source"] == {"agent": 2, "android_management": 2, "apple_mdm": 1, "intune": 1}
    assert tiktok["by_group"]["press_office"] == 4
    assert {d["day"]: d["devices"] for d in tiktok["daily"] if d["devices"]} == {"2026-12-02": 6}
    for row in (tiktok, wechat):
        assert row["devices"] == len(holders(store, row["app"])) == sum(row["by_source"].values())
    capcut = apps["capcut"]  # seen 62 days back only: before the window, on no device now
    assert (capcut["devices"], capcut["first_seen"], capcut["last_seen"]) == (0, "2026-10-01T11:00:00Z",
                                                                                 "2026-10-01T11:00:00Z")
    assert not any(d["devices"] for d in capcut["daily"])
    assert apps["temu"] == {**apps["temu"], "devices": 0, "first_seen": None, "last_seen": None,
                            "by_group": {}, "by_source": {}}


def test_compliance_over_time_is_the_share_of_reporting_hosts_compliant_each_day(store, exported, capsys):
    days = {d["day"]: d for d in apps_json(store, exported, capsys)["compliance"]}
    assert list(days) == WINDOW
    # WeChat is under review: a report that finds it is compliant
    assert days["2026-11-29"] == {"day": "2026-11-29", "hosts": 2, "compliant": 2, "share": 1.0}
    assert days["2026-11-30"] == {"day": "2026-11-30", "hosts": 2, "compliant": 2, "share": 1.0}
    assert days["2026-11-15"] == {"day": "2026-11-15", "hosts": 0, "compliant": 0, "share": None}
    with sqlite3.connect(store / "fleet.db") as db:  # the fixtures' day: every report of it, from the rows
        states = db.execute("SELECT host, state FROM reports WHERE generated_at >= '2026-12-02'").fetchall()
    hosts = {host for host, _ in states}
    not_compliant = {host for host, state in states if state != "compliant"}
    assert (days["2026-12-02"]["hosts"], days["2026-12-02"]["compliant"]) == (len(hosts), len(hosts - not_compliant))


def test_status_picks_the_apps_and_since_sets_the_window(store, exported, capsys):
    shown = apps_json(store, exported, capsys, "--status", "banned", "--since", "3")
    assert [row["app"] for row in shown["apps"]] == ["tiktok"]
    assert [d["day"] for d in shown["apps"][0]["daily"]] == WINDOW[-3:]
    assert shown["window"]["first_day"] == "2026-11-30" and len(shown["compliance"]) == 3
    under_review = apps_json(store, exported, capsys, "--status", "under_review")
    assert [row["app"] for row in under_review["apps"]] == ["wechat", "capcut", "temu"]


def test_json_csv_and_table_show_the_same_numbers(store, exported, capsys):
    documents = apps_json(store, exported, capsys)["apps"]
    expected = [[d["app"], d["status"], str(d["devices"]), ", ".join(f"{k} {v}" for k, v in d["by_group"].items()),
                 ", ".join(f"{k} {v}" for k, v in d["by_source"].items()), d["first_seen"] or "",
                 d["last_seen"] or "", " ".join(str(x["devices"]) for x in d["daily"])] for d in documents]
    fleet(store, exported, "apps", "--format", "csv")
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0][:3] == ["app", "status", "devices now"] and rows[1:] == expected
    fleet(store, exported, "apps")
    table = capsys.readouterr().out.splitlines()
    lines = {line.split()[0]: re.split(r"\s{2,}", line) for line in table[2:2 + len(expected)]}
    for row in expected:  # the table shows "-" for nothing, and cuts a long cell short with "…"
        shown = lines[row[0]]
        assert len(shown) == len(row)
        assert all(cell == (want or "-") or (cell.endswith("…") and want.startswith(cell[:-1]))
                   for cell, want in zip(shown, row))


@pytest.mark.parametrize("option", [
    ("--since", "-3", "--since: '-3' days"), ("--since", "0", "--since: '0' days"),
    ("--since", "ten", "--since: 'ten' days"), ("--since", "99999999999", "--since: '99999999999' days"),
    ("--since", "٣", "--since: '٣' days"), ("--status", "tolerated", "--status: unknown status 'tolerated'")])
def test_a_bad_option_exits_2_with_one_line(store, exported, capsys, option):
    name, value, named = option
    capsys.readouterr()
    assert fleet(store, exported, "apps", name, value) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1 and named in captured.err


class Bars(HTMLParser):
    """The data of each chart's bars, by the id of the element the chart is in (an app's row, or
    the compliance section)."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: list[list[dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "svg":
            self.charts.append([])
        elif tag == "rect":
            self.charts[-1].append({k: v for k, v in attrs if k.startswith("data-")})


@needs_chromium
def test_the_rendered_page_shows_the_apps_and_compliance_as_the_json_does(store, exported, capsys):
    shown = apps_json(store, exported, capsys)
    fleet(store, exported, "report", "--html", str(store / "fleet.html"))
    dom = chromium(store, "--dump-dom", (store / "fleet.html").as_uri()).stdout.decode()
    tables, bars = Tables(), Bars()
    tables.feed(dom)
    bars.feed(dom)
    rows = [cells for cells in tables.tables["apps"] if cells]
    assert [cells[:7] for cells in rows] == [
        [d["app"], d["status"], str(d["devices"]), ", ".join(f"{k} {v}" for k, v in d["by_group"].items()) or "-",
         ", ".join(f"{k} {v}" for k, v in d["by_source"].items()) or "-", d["first_seen"] or "-",
         d["last_seen"] or "-"] for d in shown["apps"]]
    *app_charts, compliance = bars.charts
    assert [[{"data-day": d["day"], "data-devices": str(d["devices"])} for d in a["daily"]] for a in shown["apps"]] \
        == app_charts
    assert [{"data-day": d["day"], "data-hosts": str(d["hosts"]), "data-compliant": str(d["compliant"])}
            for d in shown["compliance"]] == compliance
    shot = store / "apps.png"
    chromium(store, "--window-size=1280,2400", f"--screenshot={shot}", (store / "fleet.html").as_uri())
    _, _, colours = png_pixels(shot.read_bytes())
    assert (0xB2, 0x6A, 0x00) in colours and (0x2E, 0x7D, 0x32) in colours  # under-review and compliant bars


@pytest.mark.parametrize(("query", "plan"), [
    (APP_DAYS, "SEARCH reports USING INDEX reports_with_findings (generated_at>?)"),
    (APP_SEEN, "SEARCH reports USING INDEX reports_with_findings (generated_at>?)"),
    (DAILY_STATES, "SEARCH reports USING COVERING INDEX reports_by_time (generated_at>?)")])
def test_the_queries_over_time_read_an_index_not_every_report(tmp_path, query, plan):
    """A store holds millions of reports: each query searches one of the indexes by time (and the
    day's counts read the index alone)."""
    with FleetStore(str(tmp_path / "fleet.db"), create=True) as fleet_store:
        steps = [row[3] for row in fleet_store.db.execute(f"EXPLAIN QUERY PLAN {query}",
                                                          ("2026-11-03",) * ("?" in query))]
    assert plan in steps and not any(step.startswith("SCAN reports") for step in steps)
