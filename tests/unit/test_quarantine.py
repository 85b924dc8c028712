"""Quarantine as any user: the file leaves, its manifest says how to put it back, restore is exact."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from banwatch.core.errors import InputError
from banwatch.device.act.quarantine import QuarantineError, QuarantineStore, capture
from tests.device import banned_copy, wait_exec

linux_only = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")


@linux_only
def test_quarantine_then_restore_is_byte_exact_with_mode_and_time(tmp_path: Path) -> None:
    binary = banned_copy(tmp_path / "apps", "bwt-app")
    binary.chmod(0o710)
    original, before = binary.read_bytes(), binary.stat()
    proc = subprocess.Popen([str(binary), "60"])
    wait_exec(proc, str(binary))
    held = capture(proc.pid, str(binary))
    proc.kill()
    proc.wait()
    store = QuarantineStore(str(tmp_path / "state"))
    manifest = store.put(held, app="bwt", policy_version=7, pid=proc.pid)
    held.close()
    assert not binary.exists()
    assert manifest["original_path"] == str(binary) and manifest["policy_version"] == 7
    assert (manifest["uid"], manifest["mode"], manifest["size"]) == (before.st_uid, 0o710, len(original))
    assert oct((tmp_path / "state" / "quarantine").stat().st_mode & 0o777) == "0o700"
    assert [entry["id"] for entry in store.entries()] == [manifest["id"]]

    store.restore(manifest["id"])
    after = binary.stat()
    assert binary.read_bytes() == original
    assert (after.st_uid, after.st_gid, after.st_mode, after.st_mtime_ns) == (
        before.st_uid, before.st_gid, before.st_mode, before.st_mtime_ns)
    assert store.entries()[0]["restored_at"]


def quarantined(tmp_path: Path) -> tuple[QuarantineStore, dict, Path]:
    binary = banned_copy(tmp_path / "apps", "bwt-app")
    held = capture(os.getpid(), str(binary))
    store = QuarantineStore(str(tmp_path / "state"))
    manifest = store.put(held, app="bwt", policy_version=1, pid=None)
    held.close()
    return store, manifest, binary


@linux_only
def test_restore_refuses_and_changes_nothing_when_something_is_in_the_way(tmp_path: Path) -> None:
    store, manifest, binary = quarantined(tmp_path)
    binary.write_text("a new file, not ours to overwrite")
    with pytest.raises(InputError, match=r"something is at .* now.*move it away first"):
        store.restore(manifest["id"])
    assert binary.read_text() == "a new file, not ours to overwrite"


@linux_only
def test_restore_refuses_an_altered_copy_and_an_unknown_id(tmp_path: Path) -> None:
    store, manifest, binary = quarantined(tmp_path)
    payload = Path(store.directory) / f"{manifest['id']}.bin"
    payload.chmod(0o600)
    with open(payload, "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(InputError, match="no longer has SHA-256"):
        store.restore(manifest["id"])
    assert not binary.exists()
    with pytest.raises(InputError, match=r"no quarantined file with id .\.\./etc."):
        store.restore("../etc")


def test_capture_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    with pytest.raises(QuarantineError, match="not a regular file"):
        capture(os.getpid(), str(tmp_path))
    with pytest.raises(QuarantineError, match="not an absolute path"):
        capture(os.getpid(), "relative/app")
