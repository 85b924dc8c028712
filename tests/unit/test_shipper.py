"""The shipper against a real OpenSSH drop box: pinned host key, delivered once, retried, killed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from banwatch.core.errors import InputError
from banwatch.core.report.envelope import open_report
from banwatch.device.keys import init_keys
from banwatch.device.report.delivery import SpooledDelivery
from banwatch.device.report.ship import Backoff, Shipper, ShipResult
from banwatch.device.report.spool import Spool
from banwatch.device.report_key import load_report_key
from banwatch.device.service.daemon import Agent
from banwatch.device.service.status import read_json, status_path
from tests.device import Device, app, detection_report, unique_tag, wait_for
from tests.device import running as agent_running
from tests.device_config import write_agent_config
from tests.drop_box import DropBox, make_drop_box
from tests.unit.test_report_envelope import a_report

BIN = Path(sys.executable).parent

pytestmark = pytest.mark.skipif(not shutil.which("sshd") and not os.access("/usr/sbin/sshd", os.X_OK),
                                reason="openssh-server is not installed (make setup installs it)")


@pytest.fixture
def device(tmp_path: Path):
    """A device configured for a drop box that is set up but not started."""
    config = write_agent_config(tmp_path / "device")
    box = make_drop_box(tmp_path / "collector", [Path(config.ship_key + ".pub").read_text().strip()])
    config = write_agent_config(tmp_path / "device", collector_host="127.0.0.1", collector_port=box.port,
                                collector_user=box.user, collector_known_hosts=str(box.known_hosts),
                                collector_dir=str(box.incoming))
    return config, box


@pytest.fixture
def running(device) -> Iterator[tuple[object, DropBox]]:
    config, box = device
    box.start()
    try:
        yield config, box
    finally:
        box.stop()


def spool_reports(config, count: int) -> set[str]:
    spool = Spool.for_config(config)
    ids = set()
    for _ in range(count):
        report = a_report()
        spool.put(report)
        ids.add(report["report_id"])
    return ids


def arrived(config, box: DropBox) -> Counter[str]:
    """Report ids in the drop box, each opened with the device's enrolled key, counted."""
    enrolled = {"lab-ep-01": load_report_key(config).public_key()}
    return Counter(open_report(path.read_bytes(), enrolled)["report_id"] for path in box.reports())


def test_every_spooled_report_lands_once_and_leaves_the_spool(running):
    config, box = running
    ids = spool_reports(config, 3)
    result = Shipper(config.collector, Spool.for_config(config)).ship_once()
    assert result == ShipResult(sent=3, failed=0, pending=0)
    assert arrived(config, box) == Counter(dict.fromkeys(ids, 1))
    assert [p.name for p in box.incoming.iterdir() if not p.name.endswith(".report.json")] == []
    assert {p.stat().st_mode & 0o777 for p in box.reports()} == {0o400}  # the drop box's umask: never reopened
    assert Spool.for_config(config).pending() == []


def test_nothing_spooled_means_no_connection(device):
    config, _ = device  # the drop box is not even running
    assert Shipper(config.collector, Spool.for_config(config)).ship_once() == ShipResult()


def test_an_unpinned_host_key_is_refused_and_nothing_is_sent(running, tmp_path):
    config, box = running
    spool_reports(config, 2)
    other = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    key_type, key_data = other.with_suffix(".pub").read_text().split()[:2]
    box.known_hosts.write_text(f"[127.0.0.1]:{box.port} {key_type} {key_data}\n")
    result = Shipper(config.collector, Spool.for_config(config)).ship_once()
    assert (result.sent, result.failed, result.pending) == (0, 2, 2)
    assert "does not match the pinned one" in result.error
    box.known_hosts.write_text("")
    result = Shipper(config.collector, Spool.for_config(config)).ship_once()
    assert "not pinned" in result.error
    assert box.reports() == []


def test_a_missing_known_hosts_file_is_an_input_error(device):
    config, box = device
    spool_reports(config, 1)
    box.known_hosts.unlink()
    with pytest.raises(InputError, match="pinned host key file is missing"):
        Shipper(config.collector, Spool.for_config(config)).ship_once()


def test_a_report_an_interrupted_run_delivered_is_not_sent_twice(running):
    """The rename landed, then the run was cut off before the spool forgot the report."""
    config, box = running
    ids = spool_reports(config, 2)
    spool = Spool.for_config(config)
    first = spool.pending()[0]
    shutil.copyfile(Path(config.spool.directory) / first, box.incoming / first)
    result = Shipper(config.collector, spool).ship_once()
    assert (result.sent, result.failed, result.pending) == (2, 0, 0)
    assert arrived(config, box) == Counter(dict.fromkeys(ids, 1))


def test_the_cli_ships_once_and_says_so(running):
    config, box = running
    ids = spool_reports(config, 2)
    done = subprocess.run([str(BIN / "banwatch-agent"), "ship", "--config", config.path], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"sent": 2, "failed": 0, "pending": 0, "error": None}
    assert arrived(config, box) == Counter(dict.fromkeys(ids, 1))


def test_the_cli_without_a_collector_says_how_to_fix_it(tmp_path):
    config = write_agent_config(tmp_path)
    done = subprocess.run([str(BIN / "banwatch-agent"), "ship", "--config", config.path], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "no collector is configured" in done.stderr and "collect.yml" in done.stderr


def test_collector_down_then_back_every_report_arrives_once(device):
    config, box = device
    ids = spool_reports(config, 5)
    shipper = Shipper(config.collector, Spool.for_config(config), timeout=5)
    results: list[ShipResult] = []
    stop = threading.Event()
    thread = threading.Thread(target=shipper.ship_forever, args=(stop,),
                              kwargs={"backoff": Backoff(0.05, 0.3), "interval": 0.2, "on_result": results.append})
    thread.start()
    try:
        while not any(r.error for r in results):  # it has tried, and failed, while the collector is down
            time.sleep(0.02)
        box.start()
        deadline = time.monotonic() + 60
        while Spool.for_config(config).pending() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
        box.stop()
    assert not thread.is_alive()
    assert "cannot connect" in next(r.error for r in results if r.error)
    assert arrived(config, box) == Counter(dict.fromkeys(ids, 1))
    assert Spool.for_config(config).pending() == []


def test_backoff_is_exponential_with_full_jitter():
    backoff = Backoff(initial=2, maximum=60)
    assert [backoff.delay(n, lambda: 1.0) for n in (1, 2, 3, 4, 5, 6, 7)] == [2, 4, 8, 16, 32, 60, 60]
    assert backoff.delay(3, lambda: 0.25) == 2.0
    assert backoff.delay(1000, lambda: 0.5) == 30


def test_a_shipper_killed_at_random_points_never_loses_or_duplicates_a_report(running, chance):
    """SIGKILL `banwatch-agent ship` mid-batch, again and again: at the end every report is in the
    drop box exactly once (leftover .part files are not reports) and the spool is empty."""
    config, box = running
    ids: set[str] = set()
    command = [str(BIN / "banwatch-agent"), "ship", "--config", config.path]
    for _ in range(6):
        ids |= spool_reports(config, 15)
        before = len(box.reports())
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while len(box.reports()) == before and process.poll() is None:  # delivering, not starting up
            time.sleep(0.002)
        time.sleep(chance.uniform(0, 0.15))
        process.send_signal(signal.SIGKILL)
        process.wait()
    final = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert final.returncode == 0, final.stdout + final.stderr
    assert arrived(config, box) == Counter(dict.fromkeys(ids, 1))
    assert Spool.for_config(config).pending() == []
    assert all(p.name.endswith((".report.json", ".part")) for p in box.incoming.iterdir())


def test_the_agents_delivery_spools_then_ships_through_a_child_process(running):
    """What the daemon does with each report: signed into the spool, shipped by `banwatch-agent
    ship` in a child process (no SSH code in the agent), woken by the report itself."""
    config, box = running
    delivery = SpooledDelivery(config)
    delivery.start()
    try:
        report = detection_report()
        delivery.put(report)
        deadline = time.monotonic() + 30
        while (delivery.last_shipment or {}).get("sent") != 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert arrived(config, box) == Counter({report.report_id: 1})
        assert delivery.depth() == 0 and delivery.last_shipment == {"sent": 1, "failed": 0, "pending": 0,
                                                                    "error": None}
    finally:
        delivery.stop()


def test_a_shipper_attempt_that_raises_is_a_fault_until_a_later_one_delivers(running):
    """An exception in the shipper thread (not a collector away: a bug) neither ends the thread
    nor loses the report: it is kept as the delivery's fault, which the agent's status shows."""
    config, box = running
    delivery = SpooledDelivery(config)
    real, calls = delivery._ship_in_child, []

    def raising_first() -> ShipResult:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("planted by the test")
        return real()

    delivery.schedule.ship_once = raising_first
    report = detection_report()
    delivery.put(report)
    faults = []
    delivery.start()
    try:
        deadline = time.monotonic() + 30  # the backoff after one failure: up to 5 s
        while (delivery.last_shipment or {}).get("sent") != 1 and time.monotonic() < deadline:
            faults.append(delivery.fault)
            time.sleep(0.05)
        assert "RuntimeError: planted by the test" in faults
        assert arrived(config, box) == Counter({report.report_id: 1})
        assert delivery.fault is None and delivery.thread.is_alive()
    finally:
        delivery.stop()


def test_the_running_agent_never_loads_the_ssh_code():
    """The daemon's memory stays small: paramiko lives only in the short-lived `ship` process."""
    probe = "import sys, banwatch.device.cli.service; print('paramiko' in sys.modules)"  # what `run` imports
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_a_running_agent_maps_neither_the_ssh_key_code_nor_libsodium(tmp_path):
    """Started with no keys, scanning and reporting, the agent makes and signs with its report key
    and maps no bcrypt (which cryptography's SSH key format brings) and no libsodium (PyNaCl): those
    are the `ship` and `keys init` processes' (core/key_pem.py says what it saves)."""
    device = Device(tmp_path)
    tag = unique_tag()
    device.install([app(tag, process_names=[f"{tag}-app"])])
    device.write_config(mode="monitor", detection="polling", report_delay=0)
    agent = subprocess.Popen(device.agent_command(), stderr=subprocess.DEVNULL)
    try:
        wait_for((device.state_dir / "last-report.json").exists, timeout=30, what="the first report")
        maps = Path(f"/proc/{agent.pid}/maps").read_text()
    finally:
        agent.terminate()
        agent.wait(timeout=30)
    assert os.path.exists(device.config().device_key) and not os.path.exists(device.config().ship_key)
    loaded = {line.split()[-1] for line in maps.splitlines() if line.endswith(".so") or ".so." in line}
    assert not [path for path in loaded if "_bcrypt" in path or "_sodium" in path or "libsodium" in path], loaded


def test_in_the_background_shipping_yields_the_cpu(tmp_path):
    """What the daemon's shipments run as: niced, so a shipment never competes with the device's
    user (or an Ansible run) for the CPU."""
    config = write_agent_config(tmp_path)
    probe = ("import os, sys; from banwatch.device.cli.main import main; "
             f"code = main(['ship', '--background', '--config', {config.path!r}]); "
             "print(code, os.nice(0) - int(sys.argv[1]))")
    done = subprocess.run([sys.executable, "-c", probe, str(os.nice(0))], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.split() == ["2", "10"]  # no collector configured: refused, after the nice


def test_the_agents_status_tells_its_last_shipment(tmp_path):
    """`banwatch-agent status` shows what the running agent's shipper last did (the spool's depth
    alone cannot tell a collector that is away from one that takes every report)."""
    device = Device(tmp_path / "device")
    tag = unique_tag()
    device.install([app(tag, process_names=[f"{tag}-app"])])
    init_keys(device.config())
    box = make_drop_box(tmp_path / "collector", [Path(device.config().ship_key + ".pub").read_text().strip()])
    device.write_config(collector_host="127.0.0.1", collector_port=box.port, collector_user=box.user,
                        collector_known_hosts=str(box.known_hosts), collector_dir=str(box.incoming))
    config = device.config()
    box.start()
    try:
        with agent_running(Agent(config)):  # its own delivery: the spool, shipped to the drop box
            wait_for(lambda: ((read_json(status_path(config)) or {}).get("last_shipment") or {}).get("sent"),
                     timeout=60, what="the first shipment in the status file")
            done = subprocess.run([sys.executable, "-m", "banwatch.device.cli.main", "status", "--json",
                                   "--config", config.path], capture_output=True, text=True, timeout=60,
                                  check=False)
    finally:
        box.stop()
    shipment = json.loads(done.stdout)["last_shipment"]
    assert shipment["sent"] >= 1 and (shipment["failed"], shipment["error"]) == (0, None), shipment
    assert len(list(box.reports())) >= shipment["sent"]
