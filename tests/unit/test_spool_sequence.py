"""The report sequence the spool numbers every report with: inside what is signed, growing with
every put across restarts and processes, never given twice, started again under a new epoch when
the spool's state is gone. The fleet store orders a device's reports by it, not by its clock."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from banwatch.core.report.envelope import REPORT_FILE_SUFFIX, open_report
from banwatch.device.config import SpoolSettings
from banwatch.device.keys import load_report_key
from banwatch.device.report.spool import SEQUENCE_BLOCK, STATE_FILE, Spool, is_report_name, report_names
from tests.device_config import write_agent_config
from tests.unit.test_report_envelope import a_report

REPORT_NAME = re.compile(r"[^./][^/]*" + re.escape(REPORT_FILE_SUFFIX))


@pytest.fixture
def config(tmp_path: Path):
    return write_agent_config(tmp_path)


def sequences(config, spool: Spool) -> list[tuple[str, int]]:
    """(epoch, number) of every spooled report, verified against the device key, in put order."""
    enrolled = {"lab-ep-01": load_report_key(config).public_key()}
    found = [open_report(spool.read(name), enrolled)["sequence"] for name in spool.pending()]
    return sorted(((s["epoch"], s["number"]) for s in found), key=lambda s: s[1])


def state_file(config) -> Path:
    return Path(config.spool.directory) / STATE_FILE


def test_each_put_numbers_its_report_one_higher_in_one_epoch(config):
    spool = Spool.for_config(config)
    for _ in range(5):
        spool.put(a_report())
    numbered = sequences(config, spool)
    assert [number for _, number in numbered] == [1, 2, 3, 4, 5]
    assert len({epoch for epoch, _ in numbered}) == 1


def test_a_block_of_numbers_costs_one_state_write(config):
    """The put that starts a block writes the state; the rest of the block writes nothing more."""
    spool = Spool.for_config(config)
    spool.put(a_report())
    written = os.stat(state_file(config)).st_ino  # write_atomic replaces the file: a new inode each time
    for _ in range(20):
        spool.put(a_report())
    assert os.stat(state_file(config)).st_ino == written
    assert json.loads(state_file(config).read_text())["reserved"] == SEQUENCE_BLOCK


def test_the_sequence_survives_a_restart_and_never_repeats(config):
    """A restarted agent (a new Spool, here a new process) continues above every number reserved."""
    first = Spool.for_config(config)
    first.put(a_report())
    first.put(a_report())
    subprocess.run([sys.executable, "-c", PUT_ONE, config.path], check=True, timeout=60)
    Spool.for_config(config).put(a_report())
    numbered = sequences(config, first)
    assert len({epoch for epoch, _ in numbered}) == 1
    numbers = [number for _, number in numbered]
    assert numbers[:2] == [1, 2] and numbers[2] == SEQUENCE_BLOCK + 1 and numbers[3] == 2 * SEQUENCE_BLOCK + 1


def test_two_processes_putting_in_turn_keep_one_rising_sequence(config):
    """The agent and a `banwatch-agent scan --spool` share the spool: each put's number is above
    every earlier put's, whichever spool made it."""
    agent, scan = Spool.for_config(config), Spool.for_config(config)
    order = []
    for spool in (agent, scan, scan, agent, agent, scan):
        order.append(os.path.basename(spool.put(a_report())))
    enrolled = {"lab-ep-01": load_report_key(config).public_key()}
    numbers = [open_report(agent.read(name), enrolled)["sequence"]["number"] for name in order]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)


def test_a_wiped_spool_starts_a_new_epoch_from_one(config):
    spool = Spool.for_config(config)
    spool.put(a_report())
    (old_epoch, _), = sequences(config, spool)
    shutil.rmtree(config.spool.directory)  # a reinstall, or an admin clearing the state directory
    spool.put(a_report())
    (epoch, number), = sequences(config, spool)
    assert number == 1 and epoch != old_epoch


def test_a_state_from_before_sequences_keeps_its_drop_count_and_starts_an_epoch(config):
    spool = Spool.for_config(config)
    os.makedirs(config.spool.directory)
    state_file(config).write_text(json.dumps({"dropped": 2, "carried": 0, "carrier": None, "dropping": []}))
    spool.put(a_report())
    enrolled = {"lab-ep-01": load_report_key(config).public_key()}
    (name,) = spool.pending()
    report = open_report(spool.read(name), enrolled)
    assert report["delivery"] == {"dropped": 2} and report["sequence"]["number"] == 1


def test_dropping_reports_keeps_the_sequence(config):
    """The drop count is saved in the same state as the sequence: saving one keeps the other."""
    spool = Spool(SpoolSettings(config.spool.directory, 2, 64 << 20), load_report_key(config))
    for _ in range(6):
        spool.put(a_report())
    restarted = Spool(SpoolSettings(config.spool.directory, 2, 64 << 20), load_report_key(config))
    restarted.put(a_report())
    numbered = sequences(config, restarted)
    assert len({epoch for epoch, _ in numbered}) == 1
    (_, kept), (_, after_restart) = numbered  # which earlier report is kept goes by name (time, id)
    assert kept <= 6 and after_restart == SEQUENCE_BLOCK + 1


PUT_ONE = """
import sys, uuid
from banwatch.device.config import load_config
from banwatch.device.report.spool import Spool
Spool.for_config(load_config(sys.argv[1])).put({"schema": "banwatch.report/1", "report_id": str(uuid.uuid4()),
    "generated_at": "2026-11-26T10:00:00Z", "host": {"name": "lab-ep-01", "groups": []}})
"""
PUT_LOOP = """
import sys, uuid
from banwatch.device.config import load_config
from banwatch.device.report.spool import Spool
spool = Spool.for_config(load_config(sys.argv[1]))
while True:
    spool.put({"schema": "banwatch.report/1", "report_id": str(uuid.uuid4()), "generated_at": "2026-11-26T10:00:00Z",
               "host": {"name": "lab-ep-01", "groups": []}})
"""


def test_killed_between_reserving_and_writing_no_number_is_given_twice(config):
    """Puts SIGKILLed again and again, at whatever point: the numbers of the reports left are all
    different, and rise from one run to the next (gaps are fine)."""
    spool = Spool.for_config(config)
    runs = []
    for delay in (0.05, 0.2, 0.01, 0.3, 0.1):
        before = {n for _, n in sequences(config, spool)}
        process = subprocess.Popen([sys.executable, "-c", PUT_LOOP, config.path])
        deadline = time.monotonic() + 30
        while len(spool.pending()) <= len(before) and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        runs.append({n for _, n in sequences(config, spool)} - before)
    numbered = sequences(config, spool)
    assert len({epoch for epoch, _ in numbered}) == 1
    assert len({n for _, n in numbered}) == len(numbered)  # never twice
    assert all(runs) and all(max(a) < min(b) for a, b in zip(runs, runs[1:]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(st.characters(blacklist_characters="/\0"), min_size=1, max_size=20),
                          st.sampled_from([".report.json", "a.report.json", ".a.report.json", ".x.tmp", "..tmp",
                                           ".tmp", "dropped.json", ".lock", "20261126T100000Z-x.report.json",
                                           "../x.report.json", "a/b.report.json", "/x.report.json"]),
                          st.builds("{}{}".format, st.text(max_size=5), st.sampled_from([".report.json", ".tmp"]))
                          .filter(lambda n: "/" not in n and "\0" not in n)),
                max_size=30))
def test_the_report_name_test_says_what_the_name_pattern_says(names):
    """A spooled report's name, as a pattern: not a dot file, no directory, the suffix. `put`
    tests every name of the spool's listing with string methods instead: the same names."""
    assert report_names(names) == sorted(n for n in names if REPORT_NAME.fullmatch(n))
    assert [n for n in names if is_report_name(n)] == [n for n in names if REPORT_NAME.fullmatch(n)]
