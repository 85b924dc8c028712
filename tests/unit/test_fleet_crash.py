"""`fleet ingest` killed (SIGKILL) at random points, again and again: at the end every report is
in the store exactly once, none is lost, and the drop box is empty."""

from __future__ import annotations

import copy
import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid

from banwatch.control.policy_source import load_policy_source
from banwatch.core.report.envelope import report_file_name, seal_report
from banwatch.core.timestamps import isoformat
from banwatch.fleet.defaults import sibling_dirs
from tests.conftest import EXAMPLE_POLICY
from tests.fleet_reports import DEMO_HOSTS, Fleet, tiktok_process

REPORTS = 2500  # several batches of 1,000: kills land between commits, moves and batches
KILLS = 6


def ingest_process(root) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "banwatch.cli", "fleet", "ingest", "--from", "dropbox",
                             "--enrolled", "enrolled", "--store", "fleet.db"], cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_every_report_exactly_once_across_kills(tmp_path, chance):
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    fleet = Fleet(tmp_path, load_policy_source(EXAMPLE_POLICY, now.date()), DEMO_HOSTS)
    hosts = sorted(DEMO_HOSTS)
    templates = {host: fleet.report(host, now, [tiktok_process()] if host == "lab-ep-01" else []) for host in hosts}
    ids = set()
    for index in range(REPORTS):
        host = hosts[index % len(hosts)]
        report = copy.deepcopy(templates[host])
        report.update(report_id=str(uuid.uuid4()), generated_at=isoformat(now - dt.timedelta(seconds=index)))
        (fleet.dropbox / report_file_name(report)).write_bytes(seal_report(report, fleet.keys[host]))
        ids.add(report["report_id"])

    for _ in range(KILLS):
        process = ingest_process(tmp_path)
        time.sleep(chance.uniform(0.2, 1.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
    final = ingest_process(tmp_path)
    assert final.wait(timeout=600) == 0

    with sqlite3.connect(tmp_path / "fleet.db") as db:
        stored = [row[0] for row in db.execute("SELECT report_id FROM reports")]
        assert db.execute("SELECT count(*) FROM refused").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM envelopes").fetchone() == (REPORTS,)
        assert db.execute("SELECT count(*) FROM hosts").fetchone() == (len(hosts),)
    assert len(stored) == REPORTS and set(stored) == ids
    assert os.listdir(fleet.dropbox) == []
    archive = sibling_dirs(str(tmp_path / "fleet.db"))[1]
    assert sum(len(files) for _, _, files in os.walk(archive)) == REPORTS
