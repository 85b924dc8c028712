"""A device's clock never decides alone which of its reports is the latest (issue 14).

Devices here are real spools on disk (`Spool.put` numbers and seals each report with the
host's enrolled key, as the agent does), shipped into a drop box as the shipper would; the
fleet side is the real ingest and the real views, through `banwatch fleet …` where an admin
meets them. Reports from an agent before sequences (`Fleet.drop`, unnumbered) are covered too.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from banwatch.control.policy_source import load_policy_source
from banwatch.core.errors import InputError
from banwatch.core.timestamps import isoformat, parse_time
from banwatch.device.config import SpoolSettings
from banwatch.device.report.spool import Spool
from banwatch.device.sources.observations import Observation
from banwatch.fleet import store as store_module
from banwatch.fleet.enrolled import load_enrolled
from banwatch.fleet.html import render_page
from banwatch.fleet.ingest import Ingest
from banwatch.fleet.store import FleetStore, LatestReport
from banwatch.fleet.views import fleet_hosts, status_rows, status_table
from tests.conftest import EXAMPLE_POLICY
from tests.fleet_reports import Fleet, tiktok_process
from tests.unit.test_fleet_html import Tables, chromium, needs_chromium

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.timezone.utc)
DAY, YEAR = dt.timedelta(days=1), dt.timedelta(days=365)
HOST = "lab-ep-30"


class Device:
    """One host's agent as far as reports go: a real spool on disk, sealing with the key the
    fleet enrolled for the host; `ship` moves what is spooled into the drop box, as the shipper does."""

    def __init__(self, fleet: Fleet, host: str = HOST) -> None:
        self.fleet, self.host = fleet, host
        self.folder = fleet.root / "devices" / host / "spool"
        self.spool = self._spool()

    def _spool(self) -> Spool:
        return Spool(SpoolSettings(str(self.folder), 1000, 64 << 20), self.fleet.keys[self.host])

    def scan(self, at: dt.datetime, observations: Sequence[Observation] = ()) -> str:
        """A scan at `at` by the device's clock, spooled; the report id."""
        report = self.fleet.report(self.host, at, observations)
        self.spool.put(report)
        return str(report["report_id"])

    def ship(self) -> list[Path]:
        shipped = []
        for name in self.spool.pending():
            shipped.append(self.fleet.dropbox / name)
            shipped[-1].write_bytes(self.spool.read(name))
            self.spool.remove(name)
        return shipped

    def reinstall(self) -> None:
        """The agent installed afresh: its state directory, and the spool's sequence, are gone."""
        shutil.rmtree(self.folder)
        self.spool = self._spool()


def a_fleet(root: Path, today: dt.date | None = None) -> Fleet:
    return Fleet(root, load_policy_source(EXAMPLE_POLICY, today or NOW.date()),
                 {HOST: ["general"], "lab-ep-31": ["general"]})


def ingest_at(fleet: Fleet, moment: dt.datetime) -> None:
    with FleetStore(str(fleet.root / "fleet.db"), create=True) as store:
        Ingest(store, load_enrolled(str(fleet.enrolled)), now=lambda: moment).run(str(fleet.dropbox))


def latest(fleet: Fleet) -> dict[str, LatestReport]:
    with FleetStore(str(fleet.root / "fleet.db")) as store:
        return {report.host: report for report in store.latest()}


def latest_id(fleet: Fleet, host: str = HOST) -> str:
    with sqlite3.connect(fleet.root / "fleet.db") as db:
        return db.execute("SELECT report_id FROM hosts WHERE host = ?", (host,)).fetchone()[0]


def banwatch(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "banwatch.cli", "fleet", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def status(root: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], dict[str, str]]:
    """`fleet status` as a table, and the host's JSON object and CSV row."""
    table = banwatch(root, "status")
    (document,) = [d for d in json.loads(banwatch(root, "status", "--format", "json").stdout) if d["host"] == HOST]
    (row,) = [r for r in csv.DictReader(io.StringIO(banwatch(root, "status", "--format", "csv").stdout))
              if r["host"] == HOST]
    return table, document, row


def real_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


# --- through the command line, as an admin meets it ------------------------------------------

@pytest.mark.parametrize("numbered", [True, False], ids=["agent numbers its reports", "agent before sequences"])
def test_a_clean_report_dated_years_ahead_then_a_violation_shows_the_violation(tmp_path, numbered):
    fleet = a_fleet(tmp_path, real_now().date())
    device = Device(fleet)
    ahead = real_now() + 3 * YEAR
    if numbered:
        device.scan(ahead)
        device.ship()
    else:
        fleet.drop(fleet.report(HOST, ahead))
    assert banwatch(tmp_path, "ingest", "--from", "dropbox", "--enrolled", "enrolled").returncode == 0
    arrived = real_now()

    table, document, row = status(tmp_path)
    assert table.returncode == 0, table.stderr
    (line,) = [line for line in table.stdout.splitlines() if line.startswith(HOST)]
    assert line.split()[1] == "compliant" and "clock skew: dated" in line
    assert document["generated_at"] == isoformat(ahead)
    assert document["last_report"] <= isoformat(arrived) < isoformat(ahead)  # as of its arrival
    assert document["clock_ahead"] >= 3 * 365 * 86400 - 60
    assert "clock skew: dated " + isoformat(ahead) in row["findings / why"]
    assert row["last report"] == document["last_report"]

    # The device's clock is put right; its next scan finds TikTok running.
    violation_at = real_now() + dt.timedelta(seconds=1)  # after the first report's arrival, by its own clock
    if numbered:
        device.scan(violation_at, [tiktok_process()])
        device.ship()
    else:
        fleet.drop(fleet.report(HOST, violation_at, [tiktok_process()]))
    assert banwatch(tmp_path, "ingest", "--from", "dropbox", "--enrolled", "enrolled").returncode == 0
    table, document, row = status(tmp_path)
    assert table.returncode == 1  # a host in violation
    (line,) = [line for line in table.stdout.splitlines() if line.startswith(HOST)]
    assert line.split()[1] == "violation" and "clock skew" not in line
    assert (document["state"], document["clock_ahead"], row["state"]) == ("violation", 0, "violation")


def test_a_clock_set_back_still_shows_the_violation(tmp_path):
    """Numbered reports: the one made after is the latest, however early its clock dates it."""
    fleet = a_fleet(tmp_path, real_now().date())
    device = Device(fleet)
    device.scan(real_now())
    device.ship()
    assert banwatch(tmp_path, "ingest", "--from", "dropbox", "--enrolled", "enrolled").returncode == 0
    device.scan(real_now() - 2 * YEAR, [tiktok_process()])  # the clock set back two years
    device.ship()
    assert banwatch(tmp_path, "ingest", "--from", "dropbox", "--enrolled", "enrolled").returncode == 0
    table, document, _ = status(tmp_path)
    assert table.returncode == 1
    assert document["state"] == "violation" and "(last report 730 d ago)" in document["reason"]


def test_the_clock_tolerance_is_an_ingest_option(tmp_path):
    fleet = a_fleet(tmp_path, real_now().date())
    fleet.drop(fleet.report(HOST, real_now() + dt.timedelta(minutes=10)))
    bad = banwatch(tmp_path, "ingest", "--from", "dropbox", "--enrolled", "enrolled", "--clock-tolerance", "-1")
    assert bad.returncode == 2 and "--clock-tolerance: -1 minutes" in bad.stderr and "Fix:" in bad.stderr
    assert banwatch(tmp_path, "ingest", "--from", "dropbox", "--enrolled", "enrolled",
                    "--clock-tolerance", "15").returncode == 0
    _, document, _ = status(tmp_path)
    assert document["clock_ahead"] == 0 and document["last_report"] == document["generated_at"]


# --- ordering ---------------------------------------------------------------------------------

ENOUGH = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@ENOUGH
@given(scans=st.lists(st.tuples(st.integers(-10 * 365, 10 * 365), st.integers(-900, 900), st.booleans()),
                      min_size=1, max_size=7),
       seed=st.integers(0, 2**32 - 1))
def test_a_clock_jumping_both_ways_never_decides_the_latest(scans, seed):
    """Scans dated anywhere from ten years back to ten years ahead (days, and seconds around the
    tolerance), delivered in any order over several ingests: the host's latest is always the last
    scan, and exactly the reports dated past their arrival by more than the tolerance show skew."""
    with tempfile.TemporaryDirectory() as folder:
        fleet = a_fleet(Path(folder))
        device = Device(fleet)
        made, ids, dated = {}, [], {}
        for index, (days, seconds, violation) in enumerate(scans):
            true_time = NOW + index * dt.timedelta(minutes=10)
            at = true_time + dt.timedelta(days=days, seconds=seconds)
            ids.append(device.scan(at, [tiktok_process()] if violation else ()))
            made[ids[-1]], dated[ids[-1]] = true_time, isoformat(at)
        chance = random.Random(seed)  # noqa: S311 - an arrival order, not a secret
        files = device.ship()
        chance.shuffle(files)
        held = Path(folder) / "held"
        held.mkdir()
        for path in files:
            path.rename(held / path.name)
        cuts = sorted(chance.sample(range(1, len(files)), chance.randint(0, len(files) - 1)))
        arrival = NOW
        for start, end in zip([0, *cuts], [*cuts, len(files)]):
            chunk = files[start:end]
            for path in chunk:
                (held / path.name).rename(path)
            newest = max(made[report_id] for report_id in ids if any(report_id in p.name for p in chunk))
            arrival = max(arrival, newest) + dt.timedelta(seconds=chance.randint(1, 900))
            ingest_at(fleet, arrival)
        assert latest_id(fleet) == ids[-1]
        assert latest(fleet)[HOST].state == ("violation" if scans[-1][2] else "compliant")
        with sqlite3.connect(fleet.root / "fleet.db") as db:
            stored = db.execute("SELECT report_id, generated_at, received_at, clock_ahead FROM reports").fetchall()
        assert sorted(r[0] for r in stored) == sorted(ids)
        for report_id, generated_at, received_at, ahead in stored:
            skewed = parse_time(generated_at) - parse_time(received_at)
            assert generated_at == dated[report_id]
            assert ahead == (skewed.total_seconds() if skewed > dt.timedelta(minutes=5) else 0)
        host = latest(fleet)[HOST]
        assert host.generated_at == dated[ids[-1]]
        assert host.as_of == (dated[ids[-1]] if not host.clock_ahead else
                              isoformat(parse_time(dated[ids[-1]]) - dt.timedelta(seconds=host.clock_ahead)))


def test_reports_in_one_ingest_are_ordered_by_their_numbers_too(tmp_path):
    """Several reports of a host in one batch (a device back from days offline): the last made wins."""
    fleet = a_fleet(tmp_path)
    device = Device(fleet)
    device.scan(NOW + 5 * YEAR)
    last = device.scan(NOW - YEAR, [tiktok_process()])
    device.ship()
    ingest_at(fleet, NOW + dt.timedelta(hours=1))
    assert latest_id(fleet) == last and latest(fleet)[HOST].state == "violation"


def test_a_reinstalled_device_starts_again_and_its_old_reports_never_come_back(tmp_path):
    """A reinstall wipes the spool's sequence: the numbers start again under a new epoch, which
    supersedes the old one, even when a report of the old epoch arrives after it."""
    fleet = a_fleet(tmp_path)
    device = Device(fleet)
    for hour in range(3):
        device.scan(NOW + dt.timedelta(hours=hour))
    device.ship()
    ingest_at(fleet, NOW + dt.timedelta(hours=3))
    straggler = device.scan(NOW + dt.timedelta(hours=3))  # number 4, held up somewhere on its way
    (late,) = device.ship()
    late.rename(tmp_path / late.name)
    device.reinstall()
    violation = device.scan(NOW + dt.timedelta(hours=4), [tiktok_process()])  # number 1 again
    device.ship()
    ingest_at(fleet, NOW + dt.timedelta(hours=5))
    assert latest_id(fleet) == violation
    (tmp_path / late.name).rename(late)
    ingest_at(fleet, NOW + dt.timedelta(hours=6))
    assert latest_id(fleet) == violation and latest(fleet)[HOST].state == "violation"
    with sqlite3.connect(fleet.root / "fleet.db") as db:
        assert db.execute("SELECT sequence FROM reports WHERE report_id = ?", (straggler,)).fetchone() == (4,)
    cleared = device.scan(NOW + dt.timedelta(hours=7))
    device.ship()
    ingest_at(fleet, NOW + dt.timedelta(hours=8))
    assert latest_id(fleet) == cleared


def test_an_agent_upgraded_to_numbered_reports_is_followed(tmp_path):
    """From unnumbered reports to numbered ones: the first numbered report takes over by its time
    (bounded by its arrival), then the numbers rule; a late unnumbered report changes nothing."""
    fleet = a_fleet(tmp_path)
    fleet.drop(fleet.report(HOST, NOW - dt.timedelta(hours=2)))
    ingest_at(fleet, NOW - dt.timedelta(hours=2))
    device = Device(fleet)
    numbered = device.scan(NOW, [tiktok_process()])
    device.ship()
    ingest_at(fleet, NOW)
    assert latest_id(fleet) == numbered
    fleet.drop(fleet.report(HOST, NOW - dt.timedelta(hours=1)))  # made before the upgrade, late
    ingest_at(fleet, NOW + dt.timedelta(hours=1))
    assert latest_id(fleet) == numbered


def test_unnumbered_reports_dated_ahead_are_taken_as_of_their_arrival(tmp_path):
    """An agent before sequences: a report dated years ahead pins its host no longer; the next
    report made after it arrived takes its place."""
    fleet = a_fleet(tmp_path)
    fleet.drop(fleet.report(HOST, NOW + 4 * YEAR))
    ingest_at(fleet, NOW)
    next_one = fleet.report(HOST, NOW + dt.timedelta(minutes=10), [tiktok_process()])
    fleet.drop(next_one)
    ingest_at(fleet, NOW + dt.timedelta(minutes=11))
    assert latest_id(fleet) == next_one["report_id"]


# --- staleness and the views ------------------------------------------------------------------

def test_a_host_whose_clock_runs_ahead_goes_stale_from_its_arrival(tmp_path):
    fleet = a_fleet(tmp_path)
    fleet.drop(fleet.report(HOST, NOW + 3 * YEAR))
    fleet.drop(fleet.report("lab-ep-31", NOW + 3 * YEAR, [tiktok_process()]))
    ingest_at(fleet, NOW)
    with FleetStore(str(tmp_path / "fleet.db")) as store:
        hosts = fleet_hosts(store.latest(), None)
        lines = fleet_hosts(store.latest_lines(), None)
    fresh = {row.host: row for row in status_rows(hosts, NOW + dt.timedelta(hours=1), DAY)}
    assert fresh[HOST].state == "compliant" and fresh[HOST].last_report == isoformat(NOW)
    later = {row.host: row for row in status_rows(hosts, NOW + 2 * DAY, DAY)}
    assert (later[HOST].state, later[HOST].reason) == ("stale", "no report for 2 d (expected within 1 d)")
    assert later["lab-ep-31"].state == "violation" and later["lab-ep-31"].reason.endswith("(last report 2 d ago)")
    skew = f"clock skew: dated {isoformat(NOW + 3 * YEAR)}, 1095 d after it arrived"
    assert later[HOST].detail_lines() == ["no report for 2 d (expected within 1 d)", skew]
    for now in (NOW + dt.timedelta(hours=1), NOW + 2 * DAY):  # the table read from lines says the same
        assert status_table(lines, now, DAY) == [row.cells() for row in status_rows(hosts, now, DAY)]


@needs_chromium
def test_the_html_report_shows_clock_skew(tmp_path):
    fleet = a_fleet(tmp_path)
    fleet.drop(fleet.report(HOST, NOW + 3 * YEAR))
    fleet.drop(fleet.report("lab-ep-31", NOW))
    ingest_at(fleet, NOW)
    with FleetStore(str(tmp_path / "fleet.db")) as store:
        rows = status_rows(fleet_hosts(store.latest(), None), NOW, DAY)
    page = tmp_path / "fleet.html"
    page.write_text(render_page(generated_at=isoformat(NOW), store="fleet.db", status=rows, exemptions=None,
                                uncovered=[], refused=0))
    parsed = Tables()
    parsed.feed(chromium(tmp_path, "--dump-dom", page.as_uri()).stdout.decode())
    hosts = {row[0]: row for row in parsed.tables["hosts"] if row}
    assert hosts[HOST][6] == f"{isoformat(NOW)} clock skew"  # the last report cell, with its badge
    assert hosts[HOST][7].endswith(f"clock skew: dated {isoformat(NOW + 3 * YEAR)}, 1095 d after it arrived")
    assert "clock skew" not in " ".join(hosts["lab-ep-31"])


# --- the store upgrade --------------------------------------------------------------------------

@pytest.mark.parametrize("version", [3, 4])
def test_a_failed_upgrade_leaves_the_earlier_store_as_it_was(tmp_path, monkeypatch, version):
    """The upgrade is one transaction: cut short at its last step, nothing of it remains."""
    from tests.unit.test_fleet_ingest import make_earlier  # noqa: PLC0415 - the earlier schema, built once

    fleet = a_fleet(tmp_path)
    fleet.drop(fleet.report(HOST, NOW))
    ingest_at(fleet, NOW)
    make_earlier(str(tmp_path / "fleet.db"), version)
    with sqlite3.connect(tmp_path / "fleet.db") as db:
        before = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        reports = db.execute("SELECT * FROM reports").fetchall()
    steps = store_module._upgrade_statements
    monkeypatch.setattr(store_module, "_upgrade_statements", lambda v: [*steps(v), "SELECT no_such_function()"])
    with pytest.raises(InputError, match="not a usable fleet store"):
        FleetStore(str(tmp_path / "fleet.db"))
    with sqlite3.connect(tmp_path / "fleet.db") as db:
        assert db.execute("PRAGMA user_version").fetchone() == (version,)
        assert db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall() == before
        assert db.execute("SELECT * FROM reports").fetchall() == reports
    monkeypatch.undo()
    assert latest(fleet)[HOST].state == "compliant"  # and the next open upgrades it
