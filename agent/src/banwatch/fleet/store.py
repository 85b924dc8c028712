"""The fleet store: one SQLite file holding every report ever ingested and each host's latest.

`reports` has one row per report id, with what the views read; `envelopes` keeps each report
exactly as signed (so it can be verified again later) apart from the rows the views scan;
`hosts` holds each host's latest report (`UPSERT_LATEST` says which that is: never the device's
clock alone), its id, a copy of the columns the views read and the texts the status table shows
(`cell_texts`, made at ingest), so a view of 100,000 hosts is one ordered scan of one table, not
100,000 lookups into `reports`;
`refused` lists every file ingest refused (kept aside, beside the store), with the reason.
Commits are durable (WAL, synchronous=FULL) because ingest moves files away only after one.
A store of an earlier schema version is brought up to this one when it is opened.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple

from banwatch.core.errors import InputError
from banwatch.core.timestamps import isoformat, parse_time
from banwatch.fleet.cell_texts import agent_text, clock_text, findings_text, policy_text
from banwatch.fleet.defaults import CLOCK_TOLERANCE, legacy_refused_dir, sibling_dirs

# A report's `source` when the device's agent sent it; a managed device's is its manager's name.
AGENT = "agent"


class ReportRecord(NamedTuple):
    """One report as the store keeps it: its `reports` row, in the store's column order and
    encoded as stored (lists as comma-separated names or JSON), minus what its arrival adds
    (`Arrival`); then the texts the status table shows of it (`cell_texts`), kept in `hosts` only.
    Made where the report is checked (a worker process, on a large ingest), so the SQLite writer
    only adds the arrival."""

    report_id: str
    host: str
    groups: str  # comma-separated, sorted
    generated_at: str  # UTC, `YYYY-MM-DDTHH:MM:SSZ`: sorts as it reads; the device's clock
    content_sha256: str
    agent_version: str
    detection: str | None
    policy_version: int | None
    policy_digest: str | None
    policy_state: str | None
    policy_rejection: str | None
    exemptions: str  # comma-separated ids the report carries (in force, or covering a finding)
    verdict: str
    violations: int
    exempt: int
    source_errors: str  # JSON list of text
    dropped: int
    findings: str  # JSON list of compact findings
    state: str  # what the report states (`states.report_state`); staleness is added when viewed
    reason: str
    epoch: str | None  # the device's report sequence (`sequence.epoch`); None: an agent before sequences
    sequence: int | None  # `sequence.number`: grows with every report of the epoch
    agent_text: str
    policy_text: str | None
    findings_text: str
    source: str = AGENT  # who made the report: the agent, or the manager a listing was imported from


def clock_ahead(generated_at: str, received_at: str, tolerance: dt.timedelta = CLOCK_TOLERANCE) -> int:
    """Seconds a report was dated past its arrival, when that is more than `tolerance`; else 0."""
    ahead = parse_time(generated_at) - parse_time(received_at)
    return int(ahead.total_seconds()) if ahead > tolerance else 0


class Arrival:
    """What a report's arrival adds to its record: the time it was received, the time it is
    taken to be as of (`as_of`: its own, unless dated more than `tolerance` past its arrival,
    then its arrival's: nothing can be generated after it is received), by how many seconds its
    clock ran ahead, and that in words. One string comparison per report: canonical times sort
    as the moments do."""

    def __init__(self, received_at: dt.datetime, tolerance: dt.timedelta = CLOCK_TOLERANCE) -> None:
        self.received_at = isoformat(received_at)
        self.tolerance = tolerance
        self.latest_plausible = isoformat(parse_time(self.received_at) + tolerance)

    def columns(self, generated_at: str) -> tuple[str, str, int, str | None]:
        """(received_at, as_of, clock_ahead, clock_text) of a report dated `generated_at`."""
        if generated_at <= self.latest_plausible:
            return self.received_at, generated_at, 0, None
        ahead = clock_ahead(generated_at, self.received_at, self.tolerance)
        return self.received_at, self.received_at, ahead, clock_text(generated_at, ahead)


SCHEMA_VERSION = 7
# A host's latest report as the status table shows it (`ReportLine`): its name, what its state is
# judged from, its cells' texts. First in `hosts`, so the table reads the front of each row only.
# Kept for speed: `fleet status` reading all of `latest()` instead costs 26% more CPU on bench_fleet.
_LINE_COLUMNS = ("host", "as_of", "state", "reason", "agent_text", "policy_text", "findings_text", "dropped",
                 "clock_text", "source")
# The rest the views read of it (`LatestReport`); the report id stays the key to everything else.
_DETAIL_COLUMNS = ("groups", "agent_version", "detection", "policy_version", "policy_state", "policy_rejection",
                   "exemptions", "findings", "clock_ahead")
# What orders a host's reports (`UPSERT_LATEST`), kept with its latest.
_ORDER_COLUMNS = ("epoch", "sequence")
HOSTS_TABLE = """
CREATE TABLE hosts (
    host TEXT PRIMARY KEY,
    as_of TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    agent_text TEXT NOT NULL,
    policy_text TEXT,
    findings_text TEXT NOT NULL,
    dropped INTEGER NOT NULL,
    clock_text TEXT,
    source TEXT NOT NULL DEFAULT 'agent',
    report_id TEXT NOT NULL,
    groups TEXT NOT NULL,
    agent_version TEXT NOT NULL,
    detection TEXT,
    policy_version INTEGER,
    policy_state TEXT,
    policy_rejection TEXT,
    exemptions TEXT NOT NULL,
    findings TEXT NOT NULL,
    clock_ahead INTEGER NOT NULL,
    epoch TEXT,
    sequence INTEGER
) WITHOUT ROWID"""
# The columns schema 4 added to `reports`, as an upgrade adds them (hence the default).
_ADDED_REPORT_COLUMNS = (
    "epoch TEXT",  # the device's report sequence; NULL: an agent before sequences
    "sequence INTEGER",
    "clock_ahead INTEGER NOT NULL DEFAULT 0",  # seconds dated past its arrival, beyond the tolerance
)
# The column schema 6 added to `reports` and `hosts`: who made a report (`ReportRecord.source`).
_SOURCE_COLUMN = f"source TEXT NOT NULL DEFAULT '{AGENT}'"
# A report's `as_of` from its `reports` row (`hosts` keeps it as a column: staleness reads it).
AS_OF = "CASE WHEN clock_ahead THEN received_at ELSE generated_at END"
# What `fleet apps` and the page's compliance over time read, by time (schema 7): every report's
# host and state (a covering index: `as_of` is made from it, the rows are never read), and the
# reports with findings (few: most reports find nothing). By `generated_at`, not `as_of` (SQLite
# 3.40 reads the rows behind an index on an expression): a report's `as_of` is never later than
# its `generated_at`, so `generated_at >= day` picks out every report whose `as_of` may be (`SINCE`).
_TIME_INDEXES = ("CREATE INDEX reports_by_time ON reports (generated_at, clock_ahead, received_at, host, state)",
                 "CREATE INDEX reports_with_findings ON reports (generated_at) WHERE findings != '[]'")
# The reports since a day (`?`, `YYYY-MM-DD`): by the index, then exactly.
SINCE = f"generated_at >= ?1 AND {AS_OF} >= ?1"
# `fleet apps`' queries, each by one of `_TIME_INDEXES` (the tests read their plans): the apps of
# the reports with findings since a day, by day, and of all of them; every report's state since a day.
_FINDINGS = "FROM reports, json_each(reports.findings) AS f WHERE findings != '[]'"
APP_DAYS = (f"SELECT substr({AS_OF}, 1, 10) AS day, json_extract(f.value, '$.app') AS app, "
            f"count(DISTINCT host) {_FINDINGS} AND {SINCE} GROUP BY day, app")
APP_SEEN = (f"SELECT json_extract(f.value, '$.app') AS app, min({AS_OF}), max({AS_OF}) "
            f"{_FINDINGS} AND generated_at >= '' GROUP BY app")
DAILY_STATES = (f"SELECT substr({AS_OF}, 1, 10) AS day, count(DISTINCT host), "  # noqa: S608 - constants
                f"count(DISTINCT CASE WHEN state != 'compliant' THEN host END) FROM reports "
                f"WHERE {SINCE} GROUP BY day")
SCHEMA = HOSTS_TABLE + f""";
CREATE TABLE reports (
    report_id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    groups TEXT NOT NULL,  -- comma-separated
    generated_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    agent_version TEXT NOT NULL,
    detection TEXT,
    policy_version INTEGER,
    policy_digest TEXT,
    policy_state TEXT,
    policy_rejection TEXT,
    exemptions TEXT NOT NULL,  -- comma-separated ids
    verdict TEXT NOT NULL,
    violations INTEGER NOT NULL,
    exempt INTEGER NOT NULL,
    source_errors TEXT NOT NULL,
    dropped INTEGER NOT NULL,
    findings TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    copies INTEGER NOT NULL DEFAULT 1,
    {", ".join(_ADDED_REPORT_COLUMNS)},
    {_SOURCE_COLUMN}
);
-- Which epoch of a host's report sequence was stored first (`UPSERT_LATEST`).
CREATE INDEX reports_by_epoch ON reports (host, epoch);
""" + ";\n".join(_TIME_INDEXES) + """;
-- A rowid table: each large envelope is appended, only the small report-id index takes random inserts.
CREATE TABLE envelopes (report_id TEXT NOT NULL UNIQUE, envelope BLOB NOT NULL);
CREATE TABLE refused (
    id INTEGER PRIMARY KEY,
    file TEXT NOT NULL,
    stored_as TEXT NOT NULL,
    claimed_host TEXT,
    reason TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    refused_at TEXT NOT NULL,
    UNIQUE (sha256, file)
);
CREATE TABLE ingests (
    id INTEGER PRIMARY KEY,
    finished_at TEXT NOT NULL,
    source TEXT NOT NULL,
    new INTEGER NOT NULL,
    duplicates INTEGER NOT NULL,
    refused INTEGER NOT NULL
);
"""
# The texts a record carries for `hosts`: each made (at ingest, and by an upgrade, called from
# SQLite) by its function, from these columns.
# Kept for speed: made by the view instead (from the data columns, in one read), status costs 37% more CPU.
_TEXT_FUNCTIONS: dict[str, tuple[Callable[..., str | None], tuple[str, ...]]] = {
    "agent_text": (agent_text, ("agent_version", "detection")),
    "policy_text": (policy_text, ("policy_version", "policy_state")),
    "findings_text": (lambda findings: findings_text(_json_list(findings)), ("findings",)),
    "clock_text": (clock_text, ("generated_at", "clock_ahead")),
}
# A received report: a `ReportRecord`'s fields, then what its arrival adds (`Arrival.columns`).
_RECEIVED = (*ReportRecord._fields, "received_at", "as_of", "clock_ahead", "clock_text")
_REPORT_COLUMNS = tuple(c for c in _RECEIVED if c not in _TEXT_FUNCTIONS and c != "as_of")
INSERT_REPORT = (f"INSERT INTO reports ({', '.join(_REPORT_COLUMNS)}) "  # noqa: S608 - constant names only
                  f"VALUES ({', '.join('?' * len(_REPORT_COLUMNS))})")
_HOST_COLUMNS = (*_LINE_COLUMNS, "report_id", *_DETAIL_COLUMNS, *_ORDER_COLUMNS)
# Whether a report is newer than the host's latest. Its device's clock never decides that alone:
# - both carry a sequence of the same epoch: the higher number (the agent numbers every report);
# - of two epochs (the device was reinstalled, its numbers started again): the epoch the store
#   received first is the older, whatever the numbers (looked up only then, by `reports_by_epoch`);
# - either carries no sequence (an agent before sequences): the later `as_of`, a report's own
#   time but never one past its arrival (`Arrival`), so a clock running ahead pins nothing.
# Ties go to the higher report id, so they resolve the same way everywhere.
NEWER = """CASE
    WHEN excluded.epoch IS NULL OR hosts.epoch IS NULL
        THEN (excluded.as_of, excluded.report_id) > (hosts.as_of, hosts.report_id)
    WHEN excluded.epoch = hosts.epoch
        THEN (excluded.sequence, excluded.report_id) > (hosts.sequence, hosts.report_id)
    ELSE (SELECT min(rowid) FROM reports WHERE host = excluded.host AND epoch = excluded.epoch)
        > (SELECT min(rowid) FROM reports WHERE host = excluded.host AND epoch = hosts.epoch)
END"""
UPSERT_LATEST = (f"INSERT INTO hosts ({', '.join(_HOST_COLUMNS)}) "  # noqa: S608 - constant names only
                 f"VALUES ({', '.join('?' * len(_HOST_COLUMNS))}) ON CONFLICT (host) DO UPDATE SET "
                 + ", ".join(f"{c} = excluded.{c}" for c in _HOST_COLUMNS[1:])
                 + f" WHERE {NEWER}")
# A received report -> its `reports` row (as INSERT_REPORT takes it), and its `hosts` row.
report_row = itemgetter(*map(_RECEIVED.index, _REPORT_COLUMNS))
host_row = itemgetter(*map(_RECEIVED.index, _HOST_COLUMNS))
# Schemas 1 to 3 kept `reports` as 3 does and `hosts` their own way (it is made again); 4 differs
# from 5 in the refused files' names only; 5 from 6 in `source` (agent reports only); 6 from this
# one in the indexes by time.
_UPGRADABLE = (1, 2, 3, 4, 5, 6)
# Schema 5 named the refused files `refused`: they were `quarantine`, the device's word for a seized executable.
_RENAME_REFUSED = ("ALTER TABLE quarantine RENAME TO refused",
                   "ALTER TABLE refused RENAME COLUMN quarantined_at TO refused_at",
                   "ALTER TABLE ingests RENAME COLUMN quarantined TO refused")


def _upgrade_statements(version: int) -> list[str]:
    """A store of schema `version` → this schema: from before 4, `_sequence_statements` (which makes
    `hosts` again, with `source`); before 5, the refused files' new names; before 6, `source`,
    every report so far being an agent's; then the indexes by time."""
    source = (f"ALTER TABLE reports ADD COLUMN {_SOURCE_COLUMN}",
              *((f"ALTER TABLE hosts ADD COLUMN {_SOURCE_COLUMN}",) if version >= 4 else ()))
    return [*(_sequence_statements() if version < 4 else ()), *(_RENAME_REFUSED if version < 5 else ()),
            *(source if version < 6 else ()), *_TIME_INDEXES]


def _sequence_statements() -> list[str]:
    """A store before schema 4 → schema 4. Its reports predate sequences, so each host's latest is
    the one with the latest `as_of` (as `NEWER` orders them): a report that pinned its host with a
    clock running ahead pins it no longer. The arrival columns are made as ingest makes them."""
    values = {name: f"{name}({', '.join(columns)})" for name, (_, columns) in _TEXT_FUNCTIONS.items()}
    values["as_of"] = AS_OF
    values["source"] = f"'{AGENT}'"  # `reports` gains its `source` after this
    select = ", ".join(values.get(c, c) for c in _HOST_COLUMNS)
    newest = ("SELECT id FROM (SELECT rowid AS id, row_number() OVER (PARTITION BY host "  # noqa: S608
              f"ORDER BY {AS_OF} DESC, report_id DESC) AS place FROM reports) WHERE place = 1")
    return [*(f"ALTER TABLE reports ADD COLUMN {column}" for column in _ADDED_REPORT_COLUMNS),
            "UPDATE reports SET clock_ahead = clock_ahead(generated_at, received_at)",
            "DROP INDEX IF EXISTS reports_by_host",
            "CREATE INDEX reports_by_epoch ON reports (host, epoch)",
            "DROP TABLE hosts", HOSTS_TABLE,
            f"INSERT INTO hosts ({', '.join(_HOST_COLUMNS)}) SELECT {select} FROM reports "  # noqa: S608
            f"WHERE rowid IN ({newest})"]


class ReportLine(NamedTuple):
    """A host's newest report as the status table shows it: what its state is judged from, and
    its cells' texts as made at ingest. The row exactly as stored: a table of 100,000 hosts
    reads nine columns and builds nothing per cell."""

    host: str
    as_of: str  # its time (canonical UTC), never past its arrival: what staleness is judged by
    state: str  # what the report states; the view adds staleness (`states.StateJudge`)
    reason: str
    agent_text: str
    policy_text: str | None
    findings_text: str  # "" for no findings
    dropped: int
    clock_text: str | None  # None: dated no later than its arrival allows (`Arrival`)
    source: str  # `agent`, or the manager a listing was imported from


class LatestReport(NamedTuple):
    """Everything the views read of a host's newest report: a `ReportLine`'s fields, then the
    rest, as stored; lists are decoded only when asked for, as most hosts have none."""

    host: str
    as_of: str
    state: str
    reason: str
    agent_text: str
    policy_text: str | None
    findings_text: str
    dropped: int
    clock_text: str | None
    source: str
    groups_text: str
    agent_version: str
    detection: str | None
    policy_version: int | None
    policy_state: str | None
    policy_rejection: str | None
    exemptions_text: str
    findings_json: str
    clock_ahead: int  # seconds dated past its arrival, beyond the tolerance; 0 for most

    @property
    def generated_at(self) -> str:
        """The time the device's clock gave the report (kept as `as_of` and how far ahead it was)."""
        if not self.clock_ahead:
            return self.as_of
        return isoformat(parse_time(self.as_of) + dt.timedelta(seconds=self.clock_ahead))

    @property
    def groups(self) -> tuple[str, ...]:
        return _names(self.groups_text)

    @property
    def exemptions(self) -> tuple[str, ...]:
        return _names(self.exemptions_text)

    @property
    def findings(self) -> tuple[dict[str, Any], ...]:
        return _json_list(self.findings_json)


@dataclass(frozen=True)
class RefusedFile:
    """A drop-box file ingest refused, as kept aside (`stored_as`, in the refused folder)."""

    file: str
    stored_as: str
    claimed_host: str | None
    reason: str
    sha256: str


def _move_refused_files(store_path: str) -> None:
    """Files refused before schema 5 were kept in `<store>-quarantine` (`legacy_refused_dir`):
    they move to the refused folder, whose name `refused.stored_as` is taken relative to. Safe to
    repeat: a second run finds no old folder."""
    old, new = legacy_refused_dir(store_path), sibling_dirs(store_path)[0]
    try:
        try:
            os.rename(old, new)  # the new folder is not there, or is empty
        except FileNotFoundError:
            return
        except OSError:  # the new folder holds files too: the old one's join them
            for name in os.listdir(old):
                os.replace(os.path.join(old, name), os.path.join(new, name))
            os.rmdir(old)
    except OSError as exc:
        raise InputError.single(old, f"cannot move the refused files to {new} ({exc.strerror})",
                                "let this user write both folders, or move the files yourself, and open the "
                                "store again") from None


def _names(text: str) -> tuple[str, ...]:
    """Group names and exemption ids are kept comma-separated (`records` refuses commas in them)."""
    return tuple(text.split(",")) if text else ()


def _json_list(text: str) -> tuple[Any, ...]:
    return () if text == "[]" else tuple(json.loads(text))


class FleetStore:
    """An open fleet store; `create=True` makes it (and its schema) when it is not there yet."""

    def __init__(self, path: str, *, create: bool = False, busy_timeout: float = 5.0) -> None:
        """`busy_timeout`: seconds to wait while another process writes to the store."""
        self.path = path
        if create:
            folder = os.path.dirname(os.path.abspath(path))
            os.makedirs(folder, exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o640))
        elif not os.path.isfile(path):
            raise InputError.single(path, "no fleet store here",
                                    "run 'banwatch fleet ingest' first, or point --store at the store")
        try:
            uri = f"file:{os.path.abspath(path)}?mode=rw"
            self.db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=busy_timeout)
            self._prepare(create)
        except sqlite3.DatabaseError as exc:
            raise InputError.single(path, f"not a usable fleet store ({exc})",
                                    "point --store at a store 'banwatch fleet ingest' made") from None

    def _prepare(self, create: bool) -> None:
        self.db.execute("PRAGMA mmap_size = 1073741824")  # views read 100,000 rows: map, do not copy
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if create:
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = FULL")
            self.db.execute("PRAGMA cache_size = -65536")  # 64 MiB: the indexes of a large store stay in memory
            if version == 0:
                self.db.execute("BEGIN IMMEDIATE")
                if self.db.execute("PRAGMA user_version").fetchone()[0] == 0:
                    for statement in SCHEMA.split(";"):
                        if statement.strip():
                            self.db.execute(statement)
                    self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                self.db.execute("COMMIT")
                version = SCHEMA_VERSION
        if version in _UPGRADABLE:
            version = self._upgrade(version)
        if version != SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"schema version {version}, this banwatch reads version {SCHEMA_VERSION}")

    def _upgrade(self, version: int) -> int:
        """One transaction: a store is either still at its old schema or wholly at this one. The
        texts and the arrival columns are made by the functions ingest makes them with, called
        from SQLite. The refused files move first to their folder's new name (`_move_refused_files`)."""
        _move_refused_files(self.path)
        for name, (function, columns) in _TEXT_FUNCTIONS.items():
            self.db.create_function(name, len(columns), function, deterministic=True)
        self.db.create_function("clock_ahead", 2, clock_ahead, deterministic=True)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if self.db.execute("PRAGMA user_version").fetchone()[0] == version:  # not done meanwhile by another
                for statement in _upgrade_statements(version):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return SCHEMA_VERSION

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> FleetStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- ingest -------------------------------------------------------------------------------

    def begin(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def known_digests(self, report_ids: Sequence[str]) -> dict[str, str]:
        """Content digest of each of these report ids already in the store."""
        found: dict[str, str] = {}
        for start in range(0, len(report_ids), 500):
            chunk = report_ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT report_id, content_sha256 FROM reports WHERE report_id IN ({marks})"  # noqa: S608
            found.update(self.db.execute(query, chunk).fetchall())
        return found

    def add_reports(self, received: Sequence[tuple[ReportRecord, bytes]], arrival: Arrival) -> None:
        """New reports, each then its host's latest if it is newer than the one there (`NEWER`)."""
        columns = arrival.columns
        rows = [record + columns(record.generated_at) for record, _ in received]
        self.db.executemany(INSERT_REPORT, map(report_row, rows))
        self.db.executemany("INSERT INTO envelopes (report_id, envelope) VALUES (?, ?)",
                            [(r.report_id, envelope) for r, envelope in received])
        self.db.executemany(UPSERT_LATEST, map(host_row, rows))

    def count_copies(self, report_ids: Iterable[str]) -> None:
        """Another copy of reports already stored arrived: noted, never counted as a new report."""
        self.db.executemany("UPDATE reports SET copies = copies + 1 WHERE report_id = ?",
                            [(report_id,) for report_id in report_ids])

    def add_refused(self, files: Iterable[RefusedFile], refused_at: str) -> None:
        self.db.executemany(
            "INSERT OR IGNORE INTO refused (file, stored_as, claimed_host, reason, sha256, refused_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(r.file, r.stored_as, r.claimed_host, r.reason, r.sha256, refused_at) for r in files])

    def log_ingest(self, finished_at: str, source: str, new: int, duplicates: int, refused: int) -> None:
        self.db.execute("INSERT INTO ingests (finished_at, source, new, duplicates, refused) VALUES (?,?,?,?,?)",
                        (finished_at, source, new, duplicates, refused))

    # --- views --------------------------------------------------------------------------------

    def latest(self) -> list[LatestReport]:
        """Every host's newest report, by host name."""
        columns = ", ".join((*_LINE_COLUMNS, *_DETAIL_COLUMNS))
        return list(map(LatestReport._make, self.db.execute(f"SELECT {columns} FROM hosts ORDER BY host")))  # noqa: S608

    def latest_lines(self) -> list[ReportLine]:
        """Every host's newest report as the status table shows it, by host name."""
        columns = ", ".join(_LINE_COLUMNS)
        return list(map(ReportLine._make, self.db.execute(f"SELECT {columns} FROM hosts ORDER BY host")))  # noqa: S608

    def refused_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM refused").fetchone()[0])

    def last_ingest(self) -> str | None:
        row = self.db.execute("SELECT max(finished_at) FROM ingests").fetchone()
        return row[0] if row else None

    # --- over time (`fleet apps`) -------------------------------------------------------------

    def app_days(self, since: str) -> list[tuple[str, str, int]]:
        """(UTC day, app, distinct hosts that reported it that day) for every report since `since`
        (a day, `YYYY-MM-DD`), whatever its verdict (`APP_DAYS`)."""
        return self.db.execute(APP_DAYS, (since,)).fetchall()

    def app_seen(self) -> dict[str, tuple[str, str]]:
        """Each app ever reported: the first and the last time a report had it (`as_of`)."""
        return {app: (first, last) for app, first, last in self.db.execute(APP_SEEN)}

    def daily_states(self, since: str) -> list[tuple[str, int, int]]:
        """(UTC day, distinct hosts that reported that day, those of them with a report that day
        stating anything but `compliant`) since `since` (`DAILY_STATES`)."""
        return self.db.execute(DAILY_STATES, (since,)).fetchall()
