"""The report spool: sealed, crash-safe, bounded, and every dropped report is told exactly once."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from banwatch.core.report.envelope import open_report
from banwatch.device.config import SpoolSettings
from banwatch.device.report.spool import STATE_FILE, Spool
from banwatch.device.report_key import load_report_key
from tests.device_config import write_agent_config
from tests.unit.test_report_envelope import a_report


@pytest.fixture
def config(tmp_path: Path):
    return write_agent_config(tmp_path)


def spool_with(config, **bounds) -> Spool:
    settings = SpoolSettings(config.spool.directory, bounds.get("max_reports", 1000),
                             bounds.get("max_bytes", 64 * 1024 * 1024))
    return Spool(settings, load_report_key(config))


def payload(spool: Spool, name: str) -> dict:
    return json.loads(base64.b64decode(json.loads(spool.read(name))["payload"]))


def a_report_at(second: int) -> dict:
    report = a_report()
    report["generated_at"] = f"2026-11-26T10:00:{second:02d}Z"
    return report


def test_a_spooled_report_is_sealed_with_the_device_key(config):
    spool = Spool.for_config(config)
    report = a_report()
    path = spool.put(report)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert spool.pending() == [os.path.basename(path)]
    enrolled = {"lab-ep-01": load_report_key(config).public_key()}
    opened = open_report(spool.read(os.path.basename(path)), enrolled)
    assert opened == report | {"sequence": {"epoch": opened["sequence"]["epoch"], "number": 1}}


def test_pending_is_oldest_first(config):
    spool = Spool.for_config(config)
    names = [os.path.basename(spool.put(a_report_at(second))) for second in (30, 10, 20)]
    assert spool.pending() == sorted(names)
    assert [payload(spool, name)["generated_at"][-3:-1] for name in spool.pending()] == ["10", "20", "30"]


def test_over_the_count_the_oldest_go_and_the_next_report_says_how_many(config):
    spool = spool_with(config, max_reports=3)
    for second in range(5):
        spool.put(a_report_at(second))
    left = spool.pending()
    assert [payload(spool, name)["generated_at"][-3:-1] for name in left] == ["02", "03", "04"]
    assert "delivery" not in payload(spool, left[1])  # the put that dropped the first report
    assert payload(spool, left[2])["delivery"] == {"dropped": 1}
    assert spool.usage().dropped == 1  # dropped by the last put, told by the next
    spool.put(a_report_at(5))
    assert payload(spool, spool.pending()[-1])["delivery"] == {"dropped": 1}


def test_over_the_bytes_the_oldest_go(config):
    spool = spool_with(config, max_bytes=1024 * 1024)
    big = a_report_at(0)
    big["padding"] = "x" * 600_000
    spool.put(big)
    spool.put(a_report_at(1))
    assert spool.usage().reports == 2
    spool.put({**big, **a_report_at(2), "padding": "y" * 600_000})
    usage = spool.usage()
    assert usage.reports == 2 and usage.bytes <= 1024 * 1024 and usage.dropped == 1
    assert [payload(spool, name)["generated_at"][-3:-1] for name in spool.pending()] == ["01", "02"]


def test_a_dropped_report_hands_on_the_count_it_carried(config):
    spool = spool_with(config, max_reports=1)
    spool.put(a_report_at(0))
    spool.put(a_report_at(1))  # drops 00
    spool.put(a_report_at(2))  # tells 1, drops 01
    assert payload(spool, spool.pending()[0])["delivery"] == {"dropped": 1}
    spool.put(a_report_at(3))  # tells 1 (01), drops 02, which told 1: 2 to tell
    assert spool.usage().dropped == 2
    spool.put(a_report_at(4))
    assert payload(spool, spool.pending()[0])["delivery"] == {"dropped": 2}


def test_a_leftover_temp_file_is_ignored_and_removed_by_the_next_put(config):
    spool = Spool.for_config(config)
    first = os.path.basename(spool.put(a_report_at(0)))
    leftover = Path(config.spool.directory) / f".{first.replace('00Z', '09Z')}.k2j3h4.tmp"
    leftover.write_bytes(b'{"payloadType": "applic')  # a write cut short by a crash
    assert spool.pending() == [first]
    Spool.for_config(config).put(a_report_at(1))  # the agent, started again after the crash
    assert not leftover.exists()


def test_spools_of_several_processes_keep_the_bounds_exactly(config, chance):
    """Each put counts itself in the lock file, so a spool lists the directory again whenever
    another one put since; a deliverer's removals never make a put drop early."""
    limit = 5
    spools = [spool_with(config, max_reports=limit) for _ in range(3)]  # as three processes have
    directory = Path(config.spool.directory)
    for second in range(limit * 3):
        chance.choice(spools).put(a_report_at(second))
        assert len(list(directory.glob("*.report.json"))) == min(second + 1, limit)
    delivered = Spool.for_config(config, sealing=False)
    for name in delivered.pending()[:2]:
        delivered.remove(name)
    before = set(delivered.pending())
    added = os.path.basename(spools[0].put(a_report_at(limit * 3)))  # room again: nothing dropped
    assert set(delivered.pending()) == before | {added}


def write_state(config, **state) -> None:
    document = {"dropped": 0, "carried": 0, "carrier": None, "dropping": [], **state}
    (Path(config.spool.directory) / STATE_FILE).write_text(json.dumps(document))


def test_a_crash_before_the_carrier_was_written_leaves_the_count_to_tell(config):
    spool = Spool.for_config(config)
    spool.put(a_report_at(0))
    write_state(config, carried=4, carrier="20261126T100001Z-never-written.report.json")
    spool.put(a_report_at(2))
    assert payload(spool, spool.pending()[-1])["delivery"] == {"dropped": 4}
    assert spool.usage().dropped == 0


def test_a_crash_after_the_carrier_was_written_tells_the_count_once(config):
    spool = Spool.for_config(config)
    carrier = os.path.basename(spool.put(a_report_at(0)))
    write_state(config, dropped=1, carried=4, carrier=carrier)
    assert spool.pending() == []  # not shipped before it is settled
    spool.put(a_report_at(1))
    assert payload(spool, spool.pending()[-1])["delivery"] == {"dropped": 1}
    assert len(spool.pending()) == 2


def test_reports_counted_as_dropped_go_even_if_a_crash_kept_them(config):
    spool = Spool.for_config(config)
    kept = os.path.basename(spool.put(a_report_at(0)))
    write_state(config, dropped=1, dropping=[kept])
    assert spool.pending() == []
    spool.put(a_report_at(1))
    assert len(spool.pending()) == 1
    assert payload(spool, spool.pending()[0])["delivery"] == {"dropped": 1}


def test_remove_is_idempotent_and_refuses_other_names(config):
    spool = Spool.for_config(config)
    name = os.path.basename(spool.put(a_report()))
    spool.remove(name)
    spool.remove(name)
    assert spool.pending() == []
    with pytest.raises(ValueError, match="not a spooled report"):
        spool.remove("../agent.yml")


PUT_LOOP = """
import json, sys, uuid
from banwatch.device.config import load_config, SpoolSettings
from banwatch.device.report_key import load_report_key
from banwatch.device.report.spool import Spool
config = load_config(sys.argv[1])
spool = Spool(SpoolSettings(config.spool.directory, 4, 64 << 20), load_report_key(config))
log = open(sys.argv[2], "a")
n = int(sys.argv[3])
while True:
    n += 1
    report = {"schema": "banwatch.report/1", "report_id": str(uuid.uuid4()), "host": {"name": "lab-ep-01"},
              "generated_at": f"2026-11-26T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"}
    spool.put(report)
    log.write(report["report_id"] + "\\n"); log.flush()
"""


def test_killed_at_random_points_the_spool_keeps_whole_reports_and_counts_every_drop(config, tmp_path, chance):
    """Puts SIGKILLed in a loop: every file left is a whole sealed report, and reports kept plus
    reports told as dropped account for every completed put (at most one more per kill)."""
    enrolled = {"lab-ep-01": load_report_key(config).public_key()}
    log = tmp_path / "done.log"
    log.touch()
    kills = 0
    for round_number in range(5):
        done_before = len(log.read_text().split())
        process = subprocess.Popen([sys.executable, "-c", PUT_LOOP, config.path, str(log),
                                    str(round_number * 1000)])
        while len(log.read_text().split()) <= done_before and process.poll() is None:  # running, not starting
            time.sleep(0.005)
        time.sleep(chance.uniform(0, 0.05))
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
    spool = Spool(SpoolSettings(config.spool.directory, 4, 64 << 20), load_report_key(config))
    spool.put(a_report_at(59) | {"generated_at": "2026-11-26T23:59:59Z"})  # settles what the last kill left
    names = spool.pending()
    reports = [open_report(spool.read(name), enrolled) for name in names]
    told = sum(r.get("delivery", {}).get("dropped", 0) for r in reports) + spool.usage().dropped
    completed = len(log.read_text().split()) + 1  # and the settling put
    assert len(reports) == 4
    assert completed <= len(reports) + told <= completed + kills
    assert not [n for n in os.listdir(config.spool.directory) if n.endswith(".tmp")]
