"""Real processes under banned names, found by the process source and the full scan."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil

import pytest

from banwatch.control.policy_source import load_policy_source
from banwatch.device.detect.scan import scan
from banwatch.device.detect.verdicts import HostIdentity
from banwatch.device.sources import processes
from banwatch.device.sources.base import SourceContext
from banwatch.device.sources.exe_hash import HashCache
from tests.conftest import TODAY, example_documents
from tests.policies import device_policy, policy_info

linux_only = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
NOW = dt.datetime(TODAY.year, TODAY.month, TODAY.day, 12, tzinfo=dt.timezone.utc)


def by_pid(pid: int, ctx: SourceContext | None = None):
    return next(o for o in processes.collect(ctx or SourceContext(details=True)) if o.pid == pid)


@linux_only
def test_process_fields(spawn_named):
    proc = spawn_named("TikTok")
    obs = by_pid(proc.pid)
    assert obs.name == "TikTok"
    assert obs.exe.endswith("/bin/TikTok")
    assert obs.cmdline == [obs.exe, "300"]
    assert obs.user and obs.started_at > 0


@linux_only
def test_long_name_past_comm_limit_is_recovered(spawn_named):
    proc = spawn_named("TikTok LIVE Studio Launcher")
    with open(f"/proc/{proc.pid}/comm") as handle:
        assert handle.read().strip() == "TikTok LIVE Stu"  # what the kernel keeps
    assert by_pid(proc.pid).name == "TikTok LIVE Studio Launcher"


def scan_as(source, host, groups, issued_at=NOW):
    """The document of a scan of this machine as `host` would run it, with the policy built for that host."""
    policy = device_policy(source, host, groups, issued_at=issued_at)
    return scan(policy, HostIdentity(host, frozenset(groups)), now=NOW, policy_info=policy_info(policy)).to_document()


def findings_for(report, pid):
    return [f for f in report["findings"] if f["evidence"].get("pid") == pid]


@linux_only
def test_scan_finds_banned_names_long_names_and_paths_with_spaces(spawn_named, example_policy_dir):
    plain = spawn_named("TikTok")
    studio = spawn_named("TikTok LIVE Studio", folder="Program Files/TikTok LIVE Studio")
    harmless = spawn_named("notes")
    report = scan_as(load_policy_source(example_policy_dir, TODAY), "ws-fin-014", {"general"})
    assert report["summary"]["verdict"] == "violation"
    for proc in (plain, studio):
        (finding,) = findings_for(report, proc.pid)
        assert finding["app"] == "tiktok" and finding["verdict"] == "violation"
        assert finding["exemption"] is None
        assert finding["evidence"]["exe"] == os.readlink(f"/proc/{proc.pid}/exe")
        assert finding["evidence"]["cmdline"][1] == "300"
        assert finding["evidence"]["user"]
    assert " " in findings_for(report, studio.pid)[0]["evidence"]["exe"]
    assert findings_for(report, harmless.pid) == []
    assert report["sources"]["processes"]["status"] == "ok"


@linux_only
def test_exempt_group_and_expired_exemption(spawn_named, example_policy_dir):
    proc = spawn_named("TikTok")
    source = load_policy_source(example_policy_dir, TODAY)
    press = scan_as(source, "ws-press-01", {"press_office"})
    (finding,) = findings_for(press, proc.pid)
    assert (finding["verdict"], finding["exemption"]) == ("exempt", "EX-2026-014")
    assert finding["exemption_expires"] == "2027-08-31"
    assert press["summary"]["verdict"] == "compliant"
    # Issued before EX-2025-031 ran out (on 2025-12-31); scanned after: the device says it expired.
    expired_host = scan_as(source, "ws-events-11.corp.example.gov", {"general"}, issued_at=dt.datetime(
        2025, 12, 1, tzinfo=dt.timezone.utc))
    (finding,) = findings_for(expired_host, proc.pid)
    assert finding["verdict"] == "violation"
    assert finding["note"] == "exemption EX-2025-031 expired on 2025-12-31"
    classified = scan_as(source, "sec-1", {"classified", "press_office"})
    assert findings_for(classified, proc.pid)[0]["verdict"] == "violation"


@linux_only
def test_hash_rule_finds_a_renamed_copy(spawn_named, write_policy):
    sleep = shutil.which("sleep")
    with open(sleep, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    banlist, register = example_documents()
    banlist["apps"][0]["match"]["executable_sha256"] = [digest]
    proc = spawn_named("quarterly-report")
    report = scan_as(load_policy_source(write_policy(banlist, register), TODAY), "h", set())
    (finding,) = findings_for(report, proc.pid)
    assert finding["rule"] == {"kind": "executable_sha256", "pattern": digest}
    assert finding["evidence"]["sha256"] == digest


@linux_only
def test_hash_cache_reads_an_unchanged_binary_once(spawn_named, tmp_path):
    first = spawn_named("a")
    cache = HashCache()
    digest = cache.for_process(first.pid, None)
    assert digest and cache.hashed == 1
    assert cache.for_process(first.pid, None) == digest
    assert cache.hashed == 1
    second = tmp_path / "changed"
    second.write_bytes((tmp_path / "bin" / "a").read_bytes() + b"\0")  # other content is hashed anew
    assert cache.for_path(str(second)) != digest
    assert cache.hashed == 2
