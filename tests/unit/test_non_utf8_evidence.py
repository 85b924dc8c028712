"""Bytes that are not UTF-8, as a user can put them in a process's name, arguments and path:
real processes, scanned by the real command line and the real running agent, sealed, spooled,
ingested and shown. None of them may stop a report, and none may be lost."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from banwatch.control.policy_source import load_policy_source
from banwatch.core import signing
from banwatch.core.policy.model import App, MatchRules
from banwatch.core.report.envelope import MAX_REPORT_BYTES, open_report, seal_report
from banwatch.core.report.wire_text import (
    MAX_FINDINGS,
    MAX_PAYLOAD_BYTES,
    OMITTED,
    RAW_BYTES,
    TRUNCATED,
    escaped,
    original_bytes,
    wire_report,
)
from banwatch.device.detect.matcher import Matcher
from banwatch.device.detect.verdicts import HostIdentity, decide
from banwatch.device.keys import init_keys
from banwatch.device.report.finding import ReportedFinding
from banwatch.device.report.spool import Spool
from banwatch.device.report_key import load_report_key
from banwatch.device.service.daemon import Agent
from banwatch.device.sources import processes
from banwatch.device.sources.observations import Observation
from tests.conftest import EXAMPLE_POLICY
from tests.device import Device, app, running, unique_tag, wait_for
from tests.fleet_reports import Fleet

BIN = Path(sys.executable).parent
linux_only = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")


def odd_program(folder: Path, name: bytes, subfolder: bytes = b"bin\xfe\xff") -> bytes:
    """A copy of the shell at a path whose folder and file name may hold bytes that are not UTF-8
    (a shell, because it keeps running whatever arguments it is given)."""
    directory = os.fsencode(folder) + b"/" + subfolder
    os.makedirs(directory, exist_ok=True)
    target = directory + b"/" + name
    shell = shutil.which("sh")
    assert shell
    shutil.copy2(os.path.realpath(shell), os.fsdecode(target))
    return target


def start(program: bytes, *arguments: bytes) -> tuple[subprocess.Popen[bytes], list[bytes]]:
    """The program running with these arguments (after a script that waits), once /proc shows them."""
    argv = [program, b"-c", b"sleep 300; :", b"banned", *arguments]
    proc = subprocess.Popen(argv)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{proc.pid}/cmdline", "rb") as shown:
                if shown.read().split(b"\0")[:-1] == argv:
                    break
        except OSError:
            pass
        time.sleep(0.01)
    return proc, argv


def raw(evidence: dict[str, Any], pointer: str) -> bytes:
    return base64.b64decode(evidence[RAW_BYTES][pointer])


def spooled(device: Device) -> list[dict[str, Any]]:
    config = device.config()
    spool = Spool.for_config(config)
    key = {device.host: load_report_key(config).public_key()}
    return [open_report(spool.read(name), key) for name in spool.pending()]


@linux_only
def test_a_scan_spools_a_banned_process_whose_path_and_arguments_are_not_utf8(tmp_path: Path) -> None:
    tag = unique_tag()
    device = Device(tmp_path)
    init_keys(device.config())
    device.install([app(tag, action="report", process_names=[f"{tag}-app*"])])
    exe = odd_program(tmp_path, f"{tag}-app".encode() + b"\xff")
    argument = b"--token=\xfe\xff\x1b[31m"
    proc, argv = start(exe, argument)
    try:
        done = subprocess.run([str(BIN / "banwatch-agent"), "scan", "--spool", "--config", str(device.config_path),
                               "--format", "json"], capture_output=True, timeout=60, check=False)
        seen = subprocess.run([str(BIN / "banwatch-agent"), "software", "--source", "processes", "--format", "json"],
                              capture_output=True, timeout=60, check=True)
    finally:
        proc.kill()
        proc.wait()
    assert done.returncode == 1, done.stderr.decode(errors="replace")  # a violation, no traceback
    assert b"Traceback" not in done.stderr
    printed = json.loads(done.stdout)
    [report] = spooled(device)
    assert {key: report[key] for key in printed} == printed  # what is shown is what was signed
    [finding] = [f for f in report["findings"] if f["evidence"].get("pid") == proc.pid]
    evidence = finding["evidence"]
    assert evidence["exe"] == escaped(exe) and evidence["exe"].endswith(f"{tag}-app\\xff")
    assert raw(evidence, "/exe") == exe
    assert evidence["cmdline"][4] == "--token=\\xfe\\xff\x1b[31m"
    assert [raw(evidence, f"/cmdline/{index}") for index in (0, 4)] == [exe, argument]
    assert evidence["cmdline"][1:4] == [arg.decode() for arg in argv[1:4]]
    [listed] = [o for o in json.loads(seen.stdout.decode("utf-8")) if o.get("pid") == proc.pid]
    assert (listed["exe"], raw(listed, "/exe")) == (evidence["exe"], exe)  # `inventory` shows the same


@linux_only
def test_the_running_agent_kills_and_reports_odd_bytes_and_every_report_after_them(tmp_path: Path) -> None:
    """The writer thread used to die on the first such report, and every later one was lost."""
    tag = unique_tag()
    device = Device(tmp_path)
    device.install([app(tag, process_names=[f"{tag}-*"])])
    device.write_config(detection="polling", poll_interval=1, mode="enforce", report_delay=0)
    odd, _ = start(odd_program(tmp_path, f"{tag}-odd".encode() + b"\xff\xfe"), b"\xc3\x28")
    with running(Agent(device.config())) as agent:
        assert odd.wait(10) == -signal.SIGTERM  # the kill acts on the exact bytes of the path
        plain, _ = start(odd_program(tmp_path, f"{tag}-plain".encode(), b"bin"))
        assert plain.wait(10) == -signal.SIGTERM
        wait_for(lambda: {f["evidence"]["pid"] for r in spooled(device) for f in r["findings"]} >= {odd.pid,
                                                                                                      plain.pid},
                 what="both detections in the spool")
        assert agent.status["last_error"] is None and agent.outbox.writer.is_alive()
    findings = {f["evidence"]["pid"]: f for r in spooled(device) for f in r["findings"]}
    assert (findings[odd.pid]["outcome"], findings[plain.pid]["outcome"]) == ("killed", "killed")
    assert raw(findings[odd.pid]["evidence"], "/cmdline/4") == b"\xc3\x28"
    assert RAW_BYTES not in findings[plain.pid]["evidence"]
    last = json.loads((device.state_dir / "last-report.json").read_bytes().decode("utf-8"))
    assert last["findings"]  # the newest report on the device, in UTF-8 too


def test_every_view_shows_escaped_evidence_safely(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    fleet = Fleet(tmp_path, load_policy_source(EXAMPLE_POLICY, now.date()), {"lab-ep-40": ["general"]})
    odd = Observation(source="processes", kind="process", name="TikTok\udcff\x1b]0;x\x07", pid=77,
                      exe="/opt/\udcfe/TikTok", cmdline=["TikTok", "\udcff\x1b[2J"])
    fleet.drop(fleet.report("lab-ep-40", now, [odd]))

    def fleet_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "banwatch.cli", "fleet", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, check=False)

    ingested = fleet_cli("ingest", "--from", str(fleet.dropbox), "--enrolled", str(fleet.enrolled))
    assert ingested.returncode == 0, ingested.stderr
    table = fleet_cli("status")
    assert table.returncode == 1 and "violation" in table.stdout
    assert "(pid 77 TikTok\\xff ]0;x )" in table.stdout and "\x1b" not in table.stdout
    [row] = json.loads(fleet_cli("status", "--format", "json").stdout)
    assert row["state"] == "violation"
    [cells] = csv.DictReader(io.StringIO(fleet_cli("status", "--format", "csv").stdout))
    assert "TikTok\\xff" in cells["findings / why"] and "\x1b" not in cells["findings / why"]
    page = fleet_cli("report", "--html", "fleet.html")
    assert page.returncode == 0, page.stderr
    html = (tmp_path / "fleet.html").read_text(encoding="utf-8")
    assert "TikTok\\xff" in html and "\x1b" not in html


SIGNER = Ed25519PrivateKey.generate()
device_text = st.lists(st.binary(max_size=40).map(os.fsdecode) | st.text(max_size=20), max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.binary(min_size=1, max_size=40).map(os.fsdecode), exe=st.binary(max_size=80).map(os.fsdecode),
       cmdline=device_text, error=st.text(max_size=30))
def test_any_device_text_seals_and_its_bytes_come_back(name: str, exe: str, cmdline: list[str], error: str) -> None:
    """Whatever a process carries, the sealed report verifies, is UTF-8, and every original
    byte comes back from its escaped form and `raw_bytes`."""
    key = SIGNER
    report = {"schema": "banwatch.report/1", "report_id": "0" * 8 + "-0000-0000-0000-" + "0" * 12,
              "host": {"name": "lab-ep-01"}, "errors": [{"source": "processes", "error": error}],
              "findings": [{"app": "tiktok", "evidence": {"name": name, "exe": exe, "cmdline": cmdline}}]}
    sealed = seal_report(report, key)
    sealed.decode("utf-8")
    opened = open_report(sealed, {"lab-ep-01": key.public_key()})
    evidence = opened["findings"][0]["evidence"]
    found = {"name": name, "exe": exe, **{f"cmdline/{i}": arg for i, arg in enumerate(cmdline)}}
    for field, original in found.items():
        shown = evidence[field] if "/" not in field else evidence["cmdline"][int(field.split("/")[1])]
        pointer = "/" + field
        assert (raw(evidence, pointer) if pointer in evidence.get(RAW_BYTES, {}) else shown.encode()) == \
            original_bytes(original)
    assert opened["errors"][0]["error"] == escaped(original_bytes(error))
    assert wire_report(opened) is opened  # once clean, always clean



TIKTOK_BY_PREFIX = Matcher([App("tiktok", "TikTok", "test ban", "critical", "kill", "banned",
                                MatchRules(process_names=("TikTok*",)))])
process_bytes = st.binary(min_size=1, max_size=60).filter(lambda b: b"\0" not in b and b"/" not in b)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(suffix=st.binary(max_size=20).filter(lambda b: b"\0" not in b and b"/" not in b),
       folder=process_bytes, arguments=st.lists(st.binary(max_size=40), max_size=5))
def test_odd_bytes_in_proc_never_hide_a_banned_process(tmp_path_factory, suffix, folder, arguments) -> None:
    """A process table written as real files (comm, cmdline, the exe link) with arbitrary bytes:
    the name that starts like a banned one is still found, and its report seals."""
    proc = tmp_path_factory.mktemp("proc")
    entry = os.fsencode(proc / "4242")
    os.mkdir(entry)
    name = b"TikTok" + suffix
    exe = b"/opt/" + folder + b"/" + name
    with open(entry + b"/comm", "wb") as comm:
        comm.write(name[:15] + b"\n")
    with open(entry + b"/cmdline", "wb") as cmdline:
        cmdline.write(b"\0".join([exe, *arguments]) + b"\0")
    os.symlink(exe, entry + b"/exe")
    observation = processes.read_process(str(proc), 4242)
    assert observation is not None and os.fsencode(observation.exe or "") == exe
    findings = TIKTOK_BY_PREFIX.match(observation)
    assert [f.app.id for f in findings] == ["tiktok"]
    verdicts = decide(findings, (), HostIdentity("lab-ep-01", frozenset({"general"})), dt.date(2026, 11, 24))
    report = {"schema": "banwatch.report/1", "report_id": "0" * 8 + "-0000-0000-0000-" + "0" * 12,
              "host": {"name": "lab-ep-01"},
              "findings": [ReportedFinding.from_verdict(v).to_document() for v in verdicts]}
    opened = open_report(seal_report(report, SIGNER), {"lab-ep-01": SIGNER.public_key()})
    evidence = opened["findings"][0]["evidence"]
    assert (raw(evidence, "/exe") if "/exe" in evidence.get(RAW_BYTES, {}) else evidence["exe"].encode()) == exe


def scan_to_spool(device: Device) -> None:
    done = subprocess.run([str(BIN / "banwatch-agent"), "scan", "--spool", "--config", str(device.config_path),
                           "--format", "json"], capture_output=True, timeout=120, check=False)
    assert done.returncode == 1, done.stderr.decode(errors="replace")  # violations, and no traceback


@linux_only
def test_huge_arguments_and_hundreds_of_processes_never_make_a_report_the_fleet_refuses(tmp_path: Path) -> None:
    """A user can make a process's arguments megabytes long, or start a banned app hundreds of
    times: the report is bounded (what was cut is named), still seals, and the fleet stores it."""
    tag = unique_tag()
    device = Device(tmp_path)
    config = device.config()
    init_keys(config)
    device.install([app(tag, action="report", process_names=[f"{tag}-app"])])
    program = odd_program(tmp_path, f"{tag}-app".encode(), b"bin")
    spool = Spool.for_config(config)
    key = {device.host: load_report_key(config).public_key()}
    huge, _ = start(program, *[b"\xff" * 100_000] * 12)  # each under the kernel's 128 KiB; 1.2 MB in all
    try:
        scan_to_spool(device)
    finally:
        huge.kill()
        huge.wait()
    [first] = spool.pending()
    [finding] = open_report(spool.read(first), key)["findings"]
    assert finding["evidence"][TRUNCATED]["/cmdline/4"] == 100_000 and len(spool.read(first)) <= MAX_REPORT_BYTES

    many = [start(program)[0] for _ in range(141)]
    try:
        scan_to_spool(device)
    finally:
        for proc in many:
            proc.kill()
            proc.wait()
    [second] = [name for name in spool.pending() if name != first]
    report = open_report(spool.read(second), key)
    assert report["summary"]["violation"] == 141  # every one counted
    assert len(report["findings"]) == MAX_FINDINGS
    assert report[OMITTED] == {"count": 41, "by_app_and_verdict": {f"{tag} violation": 41}}

    fleet = tmp_path / "fleet"
    (fleet / "dropbox").mkdir(parents=True)
    (fleet / "enrolled").mkdir()
    for name in (first, second):
        (fleet / "dropbox" / name).write_bytes(spool.read(name))
    (fleet / "enrolled" / f"{device.host}.pub").write_bytes(Path(config.device_key[:-4] + ".pub").read_bytes())
    ingest = subprocess.run([str(BIN / "banwatch"), "fleet", "ingest", "--from", "dropbox", "--enrolled", "enrolled"],
                            cwd=fleet, capture_output=True, text=True, timeout=120, check=False)
    assert ingest.returncode == 0 and "2 new report(s) stored" in ingest.stdout, ingest.stdout + ingest.stderr
    status = subprocess.run([str(BIN / "banwatch"), "fleet", "status"], cwd=fleet, capture_output=True, text=True,
                            timeout=120, check=False)
    assert status.returncode == 1 and f"{device.host}  violation" in status.stdout


big_text = st.one_of(st.binary(max_size=30_000).map(os.fsdecode), st.text(max_size=3000),
                     st.integers(0, 40_000).map(lambda n: "\x1b" * n))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(findings=st.lists(st.fixed_dictionaries({
    "app": st.sampled_from(["tiktok", "wechat"]), "verdict": st.sampled_from(["violation", "exempt", "under_review"]),
    "evidence": st.fixed_dictionaries({"exe": big_text, "cmdline": st.lists(big_text, max_size=8)})}),
    max_size=160), error=big_text)
def test_any_report_is_made_to_fit_keeping_violations_first(findings: list[dict[str, Any]], error: str) -> None:
    report = {"schema": "banwatch.report/1", "findings": findings, "errors": [{"source": "dpkg", "error": error}],
              "summary": {"violation": sum(f["verdict"] == "violation" for f in findings)}}
    wired = wire_report(report)
    payload = signing.canonical_json(wired)  # never raises
    assert len(payload) <= MAX_PAYLOAD_BYTES and wire_report(wired) is wired
    omitted = wired.get(OMITTED, {"count": 0, "by_app_and_verdict": {}})
    assert len(wired["findings"]) + omitted["count"] == len(findings)
    kept_violations = sum(f["verdict"] == "violation" for f in wired["findings"])
    if omitted["count"]:  # what is cut first is never a violation while others stay
        assert kept_violations == report["summary"]["violation"] or all(
            f["verdict"] == "violation" for f in wired["findings"])
    assert wired["summary"] == report["summary"]
