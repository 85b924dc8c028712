"""The agent service's smaller parts: configuration keys, the outbox, package watches, self-limits,
and the exec event parser."""

from __future__ import annotations

import io
import json
import struct
import sys
import time
from pathlib import Path

import pytest

from banwatch.core.errors import InputError
from banwatch.device.report.model import Report
from banwatch.device.report.outbox import BATCH_LIMIT, Outbox
from banwatch.device.service.log import agent_logger
from banwatch.device.service.watchdog import CPU_OVER, MEMORY_OVER, OK, RESTART, Watchdog
from banwatch.device.sources.base import SourceContext
from banwatch.device.sources.exec_events import PROC_EVENT_EXEC, parse_exec_events
from banwatch.device.sources.package_watch import PackageWatch
from tests.device import CollectingSink, Device, detection_report, reported_finding, wait_for


def test_existing_configuration_files_stay_valid_with_service_defaults(tmp_path: Path) -> None:
    config = Device(tmp_path).config()
    assert (config.mode, config.detection, config.poll_interval, config.kill_grace) == ("monitor", "auto", 5, 3)
    assert (config.cpu_limit_percent, config.memory_limit_mb, config.report_delay) == (10, 200, 5)


def test_bad_service_keys_name_the_file_line_and_fix(tmp_path: Path) -> None:
    device = Device(tmp_path)
    device.write_config(mode="lockdown", poll_interval=0, log_level="loud")
    with pytest.raises(InputError) as error:
        device.config()
    text = str(error.value)
    assert str(device.config_path) in text
    assert "'mode' is 'lockdown', which is not one of: monitor, enforce" in text
    assert "'poll_interval' must be a whole number from 1 to 3600" in text
    assert "'log_level' is 'loud'" in text


def test_outbox_holds_a_report_until_its_actions_finish_and_batches_detections() -> None:
    sink = CollectingSink()
    outbox = Outbox(sink)
    scan = outbox.hold(detection_report([reported_finding()]))
    scan.outstanding = 1
    first = outbox.batch(detection_report, delay=60)
    assert outbox.batch(detection_report, delay=60) is first  # one batch while it is open
    assert outbox.flush() == 0 and outbox.depth() == 2
    scan.outstanding = 0
    assert outbox.flush() == 1
    outbox.seal()  # SIGHUP: open batches leave now
    assert outbox.flush() == 1
    outbox.close()  # the writer thread has put both into the sink
    assert outbox.depth() == 0
    assert sink.reports[0]["summary"] == {"verdict": "violation", "violation": 1, "exempt": 0, "under_review": 0}
    assert len(sink.reports) == 2


def test_outbox_on_stop_hands_over_everything_and_says_what_was_unfinished() -> None:
    sink = CollectingSink()
    outbox = Outbox(sink)
    outbox.batch(detection_report, delay=300).outstanding = 1
    assert outbox.flush(everything=True) == 1
    outbox.close()
    assert sink.reports[0]["notes"] == ["1 action(s) still running when the agent stopped"]


def test_package_watch_sees_a_dpkg_database_change(tmp_path: Path) -> None:
    status = tmp_path / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_text("Package: a\nStatus: install ok installed\n")
    watch = PackageWatch(["dpkg", "rpm", "processes"], SourceContext(root=str(tmp_path)))
    assert watch.names == ["dpkg", "rpm"] and watch.changed() == []
    (tmp_path / "var/lib/dpkg/updates").mkdir()
    (tmp_path / "var/lib/dpkg/updates/0001").write_text("Package: b\nStatus: install ok installed\n")
    assert watch.changed() == ["dpkg"]
    assert watch.changed() == []


def test_watchdog_backs_off_over_cpu_and_asks_for_a_restart_when_memory_stays_high() -> None:
    dog = Watchdog(cpu_limit_percent=1, memory_limit_mb=100_000)
    burn_until = time.process_time() + 0.3
    while time.process_time() < burn_until:
        pass
    assert dog.check() == CPU_OVER and dog.backing_off and dog.episodes == 1

    def calm() -> bool:
        time.sleep(0.5)  # one reading's window: long enough that the test's own work stays under 1%
        return dog.check() == OK

    wait_for(calm, timeout=15, what="a reading under the CPU limit (other threads of this process may be busy)")
    assert not dog.backing_off
    tight = Watchdog(cpu_limit_percent=100, memory_limit_mb=1)
    assert [tight.check(), tight.check()] == [MEMORY_OVER, RESTART]
    assert tight.last["rss_mb"] > 1 and tight.last["limits"]["memory_mb"] == 1


def connector_datagram(what: int, pid: int, tgid: int, timestamp: int) -> bytes:
    body = struct.pack("=IIIIHH", 1, 1, 0, 0, 24, 0) + struct.pack("=IIQII", what, 0, timestamp, pid, tgid)
    return struct.pack("=IHHII", 16 + len(body), 3, 0, 0, 0) + body


def test_exec_events_are_parsed_and_other_events_skipped() -> None:
    fork = connector_datagram(0x1, 10, 10, 5)
    exec_ = connector_datagram(PROC_EVENT_EXEC, 12, 11, 7)
    events = parse_exec_events(fork) + parse_exec_events(exec_)
    assert [(e.pid, e.timestamp_ns) for e in events] == [(11, 7)]  # the thread group, not the thread


def test_log_lines_are_json_objects(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    earlier = io.StringIO()
    monkeypatch.setattr(sys, "stderr", earlier)
    log = agent_logger("info")
    earlier.close()  # the stream the logger first met is gone: lines go to the stderr of now
    monkeypatch.undo()
    log.info("detected", extra={"fields": {"pid": 42}})
    log.debug("not shown at info")
    (line,) = capsys.readouterr().err.splitlines()
    document = json.loads(line)
    assert (document["level"], document["message"], document["pid"]) == ("info", "detected", 42)


class FullDiskOnce(CollectingSink):
    """A sink whose disk is full the first time: the report must be kept and put again."""

    def put(self, report: Report) -> None:
        if not hasattr(self, "failed"):
            self.failed = True
            raise OSError(28, "No space left on device")
        super().put(report)


def test_outbox_keeps_a_report_the_sink_refused_and_puts_it_again() -> None:
    sink = FullDiskOnce()
    outbox = Outbox(sink)
    outbox.hold(detection_report())
    assert outbox.flush() == 1
    assert outbox.close()
    assert len(sink.reports) == 1
    assert "No space left" in str(outbox.failures.get_nowait())


def test_a_full_detection_batch_is_due_at_once_and_a_new_one_opens() -> None:
    outbox = Outbox(CollectingSink())
    first = outbox.batch(detection_report, delay=300)
    first.report.findings.extend(reported_finding(pid=pid) for pid in range(BATCH_LIMIT))
    second = outbox.batch(detection_report, delay=300)
    assert second is not first
    assert outbox.flush() == 1 and outbox.depth() >= 1  # the full one left, the new one waits
    outbox.close()
