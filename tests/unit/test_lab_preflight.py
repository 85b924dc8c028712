"""The lab's up-front check: which subordinate ids a user has, read from hostile files."""

from __future__ import annotations

from pathlib import Path

from banwatch_lab import preflight


def test_subordinate_range_by_name_or_uid(tmp_path: Path):
    table = tmp_path / "subuid"
    table.write_text("alice:100000:65536\n1001:200000:70000\n")
    assert preflight.subordinate_range(str(table), "alice", 1000) == (100000, 65536)
    assert preflight.subordinate_range(str(table), "bob", 1001) == (200000, 65536)
    assert preflight.subordinate_range(str(table), "carol", 1002) is None


def test_too_small_or_broken_ranges_are_no_range(tmp_path: Path):
    table = tmp_path / "subuid"
    table.write_bytes(b"alice:100000:1000\nalice:x:y\nalice:0:65536\nalice\n\xff\xfe:1:2\nalice:1:2:3\n")
    assert preflight.subordinate_range(str(table), "alice", 1000) is None
    assert preflight.subordinate_range(str(tmp_path / "missing"), "alice", 1000) is None


def test_a_setting_this_kernel_lacks_is_none():
    assert preflight.sysctl("kernel.banwatch_no_such_setting") is None
    assert isinstance(preflight.sysctl("kernel.pid_max"), int)
