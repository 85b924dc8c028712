"""Ingest: real signed reports from a drop box into a real SQLite store, each exactly once."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from banwatch.control.policy_source import load_policy_source
from banwatch.core.errors import InputError
from banwatch.core.report.envelope import MAX_REPORT_BYTES, seal_report
from banwatch.fleet.defaults import legacy_refused_dir, sibling_dirs
from banwatch.fleet.enrolled import load_enrolled
from banwatch.fleet.ingest import PARTIAL_UPLOAD_AGE, Ingest, batch_bounds, ingest_lock
from banwatch.fleet.store import SCHEMA_VERSION, FleetStore
from tests.conftest import EXAMPLE_POLICY
from tests.fleet_reports import DEMO_HOSTS, Fleet, demo_fleet, tiktok_process

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def fleet(tmp_path):
    return demo_fleet(tmp_path, load_policy_source(EXAMPLE_POLICY, NOW.date()), NOW)


def ingest(fleet: Fleet, store_path=None):
    with FleetStore(str(store_path or fleet.root / "fleet.db"), create=True) as store:
        return Ingest(store, load_enrolled(str(fleet.enrolled)), now=lambda: NOW).run(str(fleet.dropbox))


def rows(fleet: Fleet, query: str, *params: str) -> list[tuple]:
    with sqlite3.connect(fleet.root / "fleet.db") as db:
        return db.execute(query, params).fetchall()


def archived(fleet: Fleet) -> list[str]:
    return sorted(os.listdir(os.path.join(sibling_dirs(str(fleet.root / "fleet.db"))[1], "2026-11-24")))


def test_every_report_is_stored_and_leaves_the_drop_box(fleet):
    dropped = sorted(os.listdir(fleet.dropbox))
    result = ingest(fleet)
    assert (result.new, result.copies, result.refused) == (9, 0, [])
    assert os.listdir(fleet.dropbox) == []
    assert archived(fleet) == dropped
    assert rows(fleet, "SELECT count(*) FROM reports") == [(9,)]
    assert rows(fleet, "SELECT count(*) FROM envelopes") == [(9,)]
    reported = {host for host in DEMO_HOSTS if host != "lab-ep-09"}
    assert {h for (h,) in rows(fleet, "SELECT host FROM hosts")} == reported


def test_the_latest_report_is_the_newest_generated_whatever_the_arrival_order(fleet):
    ingest(fleet)
    late_old = fleet.report("lab-ep-01", NOW - dt.timedelta(hours=3))
    fleet.drop(late_old)
    assert ingest(fleet).new == 1
    (latest,) = rows(fleet, "SELECT r.generated_at, r.verdict FROM hosts h JOIN reports r USING (report_id) "
                            "WHERE h.host = 'lab-ep-01'")
    assert latest == ("2026-11-24T12:00:00Z", "violation")
    assert rows(fleet, "SELECT count(*) FROM reports WHERE host = 'lab-ep-01'") == [(3,)]


def test_a_copy_is_recorded_never_counted_twice(fleet):
    """The state a crash between commit and move leaves: stored reports still in the drop box."""
    ingest(fleet)
    archive = os.path.join(sibling_dirs(str(fleet.root / "fleet.db"))[1], "2026-11-24")
    for name in archived(fleet):
        shutil.copy(os.path.join(archive, name), fleet.dropbox / name)
    result = ingest(fleet)
    assert (result.new, result.copies, result.refused) == (0, 9, [])
    assert rows(fleet, "SELECT count(*), min(copies), max(copies) FROM reports") == [(9, 2, 2)]
    assert os.listdir(fleet.dropbox) == []


def test_two_copies_in_one_batch_count_once(fleet):
    report = fleet.report("lab-ep-02", NOW + dt.timedelta(minutes=5))
    fleet.drop(report)
    fleet.drop(report, name="copy-" + report["report_id"] + ".report.json")
    result = ingest(fleet)
    assert (result.new, result.copies) == (10, 1)


def test_a_replayed_id_with_other_content_is_refused(fleet):
    ingest(fleet)
    original_id = rows(fleet, "SELECT report_id FROM hosts WHERE host = 'lab-ep-02'")[0][0]
    replay = fleet.report("lab-ep-02", NOW + dt.timedelta(minutes=10), [tiktok_process()])
    replay["report_id"] = original_id
    fleet.drop(replay, name="replay.report.json")
    result = ingest(fleet)
    assert result.new == 0 and [q.reason for q in result.refused] == [
        f"replay: report id {original_id} was already ingested with other content"]
    assert rows(fleet, "SELECT verdict FROM reports WHERE report_id = ?", original_id) == [("compliant",)]


def bad_files(fleet: Fleet) -> dict[str, str]:
    """file name → the reason it must be refused for."""
    good = fleet.report("lab-ep-02", NOW)
    forged = fleet.report("lab-ep-01", NOW)  # lab-ep-02 speaking for lab-ep-01
    fleet.drop(forged, signer="lab-ep-02", name="forged.report.json")
    (fleet.dropbox / "unsigned.report.json").write_text(json.dumps(good))
    (fleet.dropbox / "corrupt.report.json").write_bytes(seal_report(good, fleet.keys["lab-ep-02"])[:-40])
    (fleet.dropbox / "oversized.report.json").write_bytes(b" " * (MAX_REPORT_BYTES + 1))
    stranger = dict(good, host={"name": "ws-unknown", "groups": []})
    fleet.drop(stranger, signer="lab-ep-02", name="stranger.report.json")
    shapeless = dict(good, report_id=str(uuid.uuid4()), findings="none")
    fleet.drop(shapeless, name="shapeless.report.json")
    os.symlink(fleet.enrolled / "lab-ep-02.pub", fleet.dropbox / "link.report.json")
    return {"forged.report.json": "not signed by lab-ep-01's enrolled key", "unsigned.report.json": "malformed",
            "corrupt.report.json": "malformed", "oversized.report.json": "oversized",
            "stranger.report.json": "unknown device: no key is enrolled for host 'ws-unknown'",
            "shapeless.report.json": "malformed: findings is not a list",
            "link.report.json": "not a regular file"}


def test_forged_unsigned_corrupt_oversized_files_are_refused_with_the_reason(fleet):
    expected = bad_files(fleet)
    result = ingest(fleet)
    assert result.new == 9
    reasons = {os.path.basename(q.file): q.reason for q in result.refused}
    assert reasons.keys() == expected.keys()
    for name, reason in expected.items():
        assert reason in reasons[name], name
    stored = dict(rows(fleet, "SELECT file, reason FROM refused"))
    assert {os.path.basename(f) for f in stored} == expected.keys()
    refused_dir = sibling_dirs(str(fleet.root / "fleet.db"))[0]
    assert sorted(n.split("-", 1)[1] for n in os.listdir(refused_dir)) == sorted(expected)
    assert os.path.islink(next(os.path.join(refused_dir, n) for n in os.listdir(refused_dir) if "link" in n))
    assert rows(fleet, "SELECT count(*) FROM reports") == [(9,)]
    assert os.listdir(fleet.dropbox) == []


def test_uploads_in_flight_and_other_files_are_left_alone(fleet):
    (fleet.dropbox / ".upload-1234.tmp").write_text("partial")
    (fleet.dropbox / "notes.txt").write_text("not a report")
    ingest(fleet)
    assert sorted(os.listdir(fleet.dropbox)) == [".upload-1234.tmp", "notes.txt"]


def test_reports_in_per_device_folders_are_found(fleet):
    folder = fleet.dropbox / "lab-ep-02"
    folder.mkdir()
    report = fleet.report("lab-ep-02", NOW + dt.timedelta(minutes=1))
    (folder / "r.report.json").write_bytes(seal_report(report, fleet.keys["lab-ep-02"]))
    assert ingest(fleet).new == 10


def test_nothing_moves_when_the_transaction_fails(fleet, tmp_path):
    store_path = fleet.root / "fleet.db"
    FleetStore(str(store_path), create=True).close()
    blocker = sqlite3.connect(store_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the store
    before = sorted(os.listdir(fleet.dropbox))
    try:
        with FleetStore(str(store_path), create=True, busy_timeout=0.05) as store, \
                pytest.raises(sqlite3.OperationalError, match="locked"):
            Ingest(store, load_enrolled(str(fleet.enrolled)), now=lambda: NOW).run(str(fleet.dropbox))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert sorted(os.listdir(fleet.dropbox)) == before
    assert ingest(fleet).new == 9


def test_one_ingest_at_a_time(fleet):
    store_path = str(fleet.root / "fleet.db")
    with ingest_lock(store_path), pytest.raises(InputError, match="another 'banwatch fleet ingest' is running"):
        ingest(fleet)


def test_a_bad_enrolled_key_stops_everything(fleet):
    (fleet.enrolled / "lab-ep-03.pub").write_text("not a key")
    with pytest.raises(InputError, match=r"lab-ep-03\.pub: not a PEM public key"):
        load_enrolled(str(fleet.enrolled))


def test_a_file_that_is_no_store_is_refused(tmp_path):
    path = tmp_path / "fleet.db"
    path.write_text("this is not SQLite" * 100)
    with pytest.raises(InputError, match="not a usable fleet store"):
        FleetStore(str(path))


def test_worker_processes_store_the_same_as_in_process(fleet):
    """Large ingests check files in forked workers; force that path on the demo fleet."""
    expected = bad_files(fleet)
    with FleetStore(str(fleet.root / "fleet.db"), create=True) as store:
        result = Ingest(store, load_enrolled(str(fleet.enrolled)), now=lambda: NOW, parallel_from=1).run(
            str(fleet.dropbox))
    assert result.new == 9 and {os.path.basename(q.file) for q in result.refused} == expected.keys()
    assert rows(fleet, "SELECT count(*) FROM reports") == [(9,)]
    assert os.listdir(fleet.dropbox) == []


def test_archived_files_are_named_by_their_verified_id(fleet):
    """A device naming its upload like another's report never overwrites that one in the archive."""
    ingest(fleet)
    taken = archived(fleet)[0]
    mine = fleet.report("lab-ep-02", NOW + dt.timedelta(minutes=1))
    fleet.drop(mine, name=taken)
    assert ingest(fleet).new == 1
    assert len(archived(fleet)) == 10 and taken in archived(fleet)
    assert any(mine["report_id"] in name for name in archived(fleet))


# `hosts` as banwatch before schema 4 kept it, made from today's: schema 1 kept only the report
# id per host; schema 2 a copy of the columns the views read, and no texts; schema 3 the texts too.
EARLIER_HOSTS = {
    1: ("host TEXT PRIMARY KEY, report_id TEXT NOT NULL, generated_at TEXT NOT NULL", "host, report_id, generated_at"),
    2: ("host TEXT PRIMARY KEY, report_id TEXT NOT NULL, generated_at TEXT NOT NULL, groups TEXT NOT NULL, "
        "agent_version TEXT NOT NULL, detection TEXT, policy_version INTEGER, policy_state TEXT, "
        "policy_rejection TEXT, exemptions TEXT NOT NULL, dropped INTEGER NOT NULL, findings TEXT NOT NULL, "
        "state TEXT NOT NULL, reason TEXT NOT NULL",
        "host, report_id, generated_at, groups, agent_version, detection, policy_version, policy_state, "
        "policy_rejection, exemptions, dropped, findings, state, reason"),
    3: ("host TEXT PRIMARY KEY, generated_at TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL, "
        "agent_text TEXT NOT NULL, policy_text TEXT, findings_text TEXT NOT NULL, dropped INTEGER NOT NULL, "
        "report_id TEXT NOT NULL, groups TEXT NOT NULL, agent_version TEXT NOT NULL, detection TEXT, "
        "policy_version INTEGER, policy_state TEXT, policy_rejection TEXT, exemptions TEXT NOT NULL, "
        "findings TEXT NOT NULL",
        "host, generated_at, state, reason, agent_text, policy_text, findings_text, dropped, report_id, groups, "
        "agent_version, detection, policy_version, policy_state, policy_rejection, exemptions, findings"),
}


EARLIER_VERSIONS = (*sorted(EARLIER_HOSTS), 4, 5, 6)
# Refused files as every schema before 5 named them, and the folder beside the store they were kept in.
QUARANTINE_NAMES = ("ALTER TABLE refused RENAME TO quarantine; "
                    "ALTER TABLE quarantine RENAME COLUMN refused_at TO quarantined_at; "
                    "ALTER TABLE ingests RENAME COLUMN refused TO quarantined; ")


def make_earlier(path: str, version: int) -> None:
    """The store as banwatch of schema `version` left it: before 4, `reports` without what schema
    4 added (report sequences and arrival), its index by generation time, and that schema's
    `hosts`; before 5, the refused files named `quarantine`, in `<store>-quarantine`; before 6, no
    report's `source` (every one was an agent's); before 7, no index of reports by time."""
    script = "DROP INDEX reports_by_time; DROP INDEX reports_with_findings; "
    script += "ALTER TABLE reports DROP COLUMN source; ALTER TABLE hosts DROP COLUMN source; " if version < 6 else ""
    script += QUARANTINE_NAMES if version < 5 else ""
    if version < 4:
        columns, copied = EARLIER_HOSTS[version]
        dropped = "".join(f"ALTER TABLE reports DROP COLUMN {c}; " for c in ("epoch", "sequence", "clock_ahead"))
        script += (f"DROP INDEX reports_by_epoch; {dropped}"  # noqa: S608 - the test's own names
                   "CREATE INDEX reports_by_host ON reports (host, generated_at); "
                   f"ALTER TABLE hosts RENAME TO hosts_now; CREATE TABLE hosts ({columns}) WITHOUT ROWID; "
                   f"INSERT INTO hosts SELECT {copied.replace('generated_at', 'as_of')} FROM hosts_now; "
                   "DROP TABLE hosts_now; ")
    with sqlite3.connect(path) as db:
        db.executescript(f"{script}PRAGMA user_version = {version};")
    refused = sibling_dirs(path)[0]
    if version < 5 and os.path.isdir(refused):
        os.rename(refused, legacy_refused_dir(path))


@pytest.mark.parametrize("version", EARLIER_VERSIONS)
def test_an_earlier_schema_store_is_brought_up_to_date_when_opened(fleet, version):
    """Opening it rebuilds `hosts`: each latest report's view columns, and the texts as ingest makes them."""
    fleet.drop(fleet.report("lab-ep-03", NOW + dt.timedelta(minutes=5), dropped=2, detection="fanotify"))
    ingest(fleet)
    path = str(fleet.root / "fleet.db")
    with FleetStore(path) as store:
        before = store.latest()
    make_earlier(path, version)
    with FleetStore(path) as store:
        assert store.latest() == before and len(before) == 8
    assert {r.findings_text for r in before} >= {"", "tiktok violation (pid 4242 TikTok)"}
    assert {(r.agent_text, r.dropped) for r in before if r.host == "lab-ep-03"} == {("0.1.0 (fanotify)", 2)}
    assert rows(fleet, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    late = fleet.report("lab-ep-02", NOW + dt.timedelta(minutes=2), [tiktok_process()])
    fleet.drop(late)
    ingest(fleet)
    with FleetStore(path) as store:
        latest = {report.host: report for report in store.latest()}
    assert latest["lab-ep-02"].state == "violation" and latest["lab-ep-02"].generated_at == "2026-11-24T12:02:00Z"


@pytest.mark.parametrize("version", [v for v in EARLIER_VERSIONS if v < 5])
def test_an_upgrade_keeps_every_file_refused_before_under_the_new_names(fleet, version):
    """Before schema 5 the refused files were `quarantine` (table, counts and folder): each is
    still listed, counted and kept after the upgrade, and the next refused file joins them."""
    refused_before = len(bad_files(fleet))
    ingest(fleet)
    path = str(fleet.root / "fleet.db")
    listed = rows(fleet, "SELECT * FROM refused"), rows(fleet, "SELECT * FROM ingests")
    refused_dir = sibling_dirs(path)[0]
    kept = sorted(os.listdir(refused_dir))
    make_earlier(path, version)
    assert not os.path.exists(refused_dir) and sorted(os.listdir(legacy_refused_dir(path))) == kept
    with FleetStore(path) as store:
        assert store.refused_count() == refused_before
    assert (rows(fleet, "SELECT * FROM refused"), rows(fleet, "SELECT * FROM ingests")) == listed
    assert sorted(os.listdir(refused_dir)) == kept and not os.path.exists(legacy_refused_dir(path))
    (fleet.dropbox / "junk.report.json").write_text("{}")
    assert len(ingest(fleet).refused) == 1
    assert rows(fleet, "SELECT count(*) FROM refused") == [(refused_before + 1,)]
    assert len(os.listdir(refused_dir)) == len(kept) + 1


def test_an_upgrade_joins_the_old_refused_folder_to_a_new_one_already_there(fleet):
    bad_files(fleet)
    ingest(fleet)
    path = str(fleet.root / "fleet.db")
    kept = set(os.listdir(sibling_dirs(path)[0]))
    make_earlier(path, 4)
    os.mkdir(sibling_dirs(path)[0])
    (Path(sibling_dirs(path)[0]) / "placed-by-hand").write_text("")
    FleetStore(path).close()
    assert set(os.listdir(sibling_dirs(path)[0])) == kept | {"placed-by-hand"}
    assert not os.path.exists(legacy_refused_dir(path))


def test_refused_files_that_cannot_move_stop_the_upgrade_with_the_reason(fleet):
    bad_files(fleet)
    ingest(fleet)
    path = str(fleet.root / "fleet.db")
    make_earlier(path, 4)
    Path(sibling_dirs(path)[0]).write_text("a file where the refused folder goes")
    with pytest.raises(InputError, match=r"fleet-quarantine: cannot move the refused files to .*fleet-refused"):
        FleetStore(path)
    assert rows(fleet, "PRAGMA user_version") == [(4,)] and os.listdir(legacy_refused_dir(path))


@pytest.mark.parametrize("version", sorted(EARLIER_HOSTS))
def test_an_upgrade_frees_a_host_an_earlier_store_pinned_by_a_clock_running_ahead(fleet, version):
    """Earlier stores kept the report of the latest device time: a clean report dated years ahead
    hid every later one. The upgrade chooses each host's latest again, by `as_of`, in one go."""
    ahead = fleet.report("lab-ep-02", NOW + dt.timedelta(days=3 * 365))
    fleet.drop(ahead)
    ingest(fleet)
    fleet.drop(fleet.report("lab-ep-02", NOW + dt.timedelta(hours=2), [tiktok_process()]))
    with FleetStore(str(fleet.root / "fleet.db"), create=True) as store:
        Ingest(store, load_enrolled(str(fleet.enrolled)), now=lambda: NOW + dt.timedelta(hours=2, minutes=1)).run(
            str(fleet.dropbox))
    path = str(fleet.root / "fleet.db")
    make_earlier(path, version)
    with sqlite3.connect(path) as db:  # pinned, as that banwatch chose
        db.execute("UPDATE hosts SET report_id = ?, generated_at = ? WHERE host = 'lab-ep-02'",
                   (ahead["report_id"], ahead["generated_at"]))
    with FleetStore(path) as store:
        latest = {report.host: report for report in store.latest()}
    assert (latest["lab-ep-02"].state, latest["lab-ep-02"].clock_ahead) == ("violation", 0)
    assert rows(fleet, "SELECT received_at, clock_ahead FROM reports WHERE report_id = ?", ahead["report_id"]) \
        == [("2026-11-24T12:00:00Z", 3 * 365 * 86400)]
    assert rows(fleet, "SELECT count(*) FROM reports WHERE clock_ahead > 0") == [(1,)]


def test_a_store_of_a_newer_schema_is_refused_untouched(fleet):
    ingest(fleet)
    with sqlite3.connect(fleet.root / "fleet.db") as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(InputError, match=f"schema version {SCHEMA_VERSION + 1}, this banwatch reads version "
                                         f"{SCHEMA_VERSION}"):
        FleetStore(str(fleet.root / "fleet.db"))
    assert rows(fleet, "PRAGMA user_version") == [(SCHEMA_VERSION + 1,)]


def test_batches_start_small_grow_and_cover_every_file_once():
    assert batch_bounds(0) == []
    assert batch_bounds(3) == [(0, 3)]
    bounds = batch_bounds(40_000)
    assert [end - start for start, end in bounds] == [500, 1000, 2000, 4000, 8000, 8000, 8000, 8000, 500]
    assert all(end == start for (_, end), (start, _) in zip(bounds, bounds[1:])) and bounds[-1][1] == 40_000


def test_partial_uploads_a_cut_connection_left_are_removed_once_old(fleet):
    """No device may delete in the drop box, so ingest clears what cut uploads left; never one in flight."""
    folder = fleet.dropbox / "lab-ep-01"
    folder.mkdir()
    old, fresh = folder / ".x.report.json.0a1b2c3d4e5f.part", folder / ".y.report.json.5f4e3d2c1b0a.part"
    old.write_bytes(b'{"half')
    fresh.write_bytes(b'{"half')
    hour_and_more = NOW.timestamp() - PARTIAL_UPLOAD_AGE - 60
    os.utime(old, (hour_and_more, hour_and_more))
    os.utime(fresh, (NOW.timestamp() - 5, NOW.timestamp() - 5))
    result = ingest(fleet)
    assert (result.new, result.partial_uploads_removed) == (9, 1)
    assert not old.exists() and fresh.exists()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_a_file_the_ingest_may_not_read_stays_and_the_fix_is_named(tmp_path):
    """Permissions, not a device, decide this: no traceback, the file is not refused (nothing can
    be copied of it), it stays for an ingest that may read it; every other report is stored."""
    fleet = Fleet(tmp_path, load_policy_source(EXAMPLE_POLICY, NOW.date()), {"lab-ep-01": ["general"],
                                                                               "lab-ep-02": ["general"]})
    readable = fleet.drop(fleet.report("lab-ep-01", NOW))
    locked = fleet.drop(fleet.report("lab-ep-02", NOW))
    os.chown(locked, 65534, 65534)
    locked.chmod(0o400)
    store = fleet.root / "fleet.db"
    # Root without the capabilities that pass over file permissions: as an ingest user would be.
    done = subprocess.run(["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--",
                           sys.executable, "-m", "banwatch.cli", "fleet", "ingest", "--store", str(store),
                           "--from", str(fleet.dropbox), "--enrolled", str(fleet.enrolled)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    [line] = [text for text in done.stderr.splitlines() if text.startswith("error:")]
    assert f"could not be read (Permission denied: {locked})" in line and "Fix: run the ingest as a user" in line
    assert locked.exists() and not readable.exists()
    assert rows(fleet, "SELECT host FROM reports") == [("lab-ep-01",)]
    assert rows(fleet, "SELECT count(*) FROM refused") == [(0,)]
