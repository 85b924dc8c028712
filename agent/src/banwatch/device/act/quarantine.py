"""Quarantine: a banned executable moved out of reach, with what it takes to put it back exactly.

The file is opened, and its directory reached through `/proc/<pid>/root`, while the process
still runs (before the kill): that sees the file in the process's own mount namespace, and
unlinks it there even when the agent's service sandbox shows the rest of the system
read-only. The copy (mode 0400, in `<state_dir>/quarantine`, mode 0700) is made durable, the
manifest (original path, owner, mode, times, SHA-256, policy version) written atomically, and
only then is the original unlinked. `restore` puts the same bytes, owner, mode and
modification time back, and refuses when something else now sits at the original path.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import stat
import tempfile
import uuid
from dataclasses import dataclass
from typing import Any

from banwatch.core.atomic import fsync_directory, write_atomic
from banwatch.core.digest import Sha256
from banwatch.core.errors import InputError
from banwatch.core.timestamps import isoformat

QUARANTINE_DIR = "quarantine"
CHUNK = 1024 * 1024
_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")


class QuarantineError(Exception):
    """The file could not be quarantined; the message says why (it stays where it was)."""


@dataclass
class Capture:
    """A file held open before its process is killed: the path it had, its directory and itself."""

    path: str
    dir_fd: int
    name: str
    fd: int

    def close(self) -> None:
        os.close(self.fd)
        os.close(self.dir_fd)


def capture(pid: int, path: str) -> Capture:
    """Hold `path` as process `pid` sees it; QuarantineError when it is not a regular file there."""
    if not os.path.isabs(path):
        raise QuarantineError(f"{path} is not an absolute path")
    directory, name = os.path.split(path)
    try:
        dir_fd = os.open(f"/proc/{pid}/root{directory}", os.O_PATH | os.O_DIRECTORY)
    except OSError:  # the process is gone already: the agent's own view is all there is
        try:
            dir_fd = os.open(directory, os.O_PATH | os.O_DIRECTORY)
        except OSError as exc:
            raise QuarantineError(f"cannot open {directory}: {exc.strerror}") from None
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        os.close(dir_fd)
        raise QuarantineError(f"cannot open {path}: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        os.close(dir_fd)
        raise QuarantineError(f"{path} is not a regular file")
    return Capture(path, dir_fd, name, fd)


def _copy_hashing(source_fd: int, target_fd: int) -> str:
    digest = Sha256()
    offset = 0
    while block := os.pread(source_fd, CHUNK, offset):
        digest.update(block)
        os.write(target_fd, block)
        offset += len(block)
    os.fsync(target_fd)
    return digest.hexdigest()


def _file_sha256(path: str) -> str:
    digest = Sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


class QuarantineStore:
    def __init__(self, state_dir: str) -> None:
        self.directory = os.path.join(state_dir, QUARANTINE_DIR)

    def _paths(self, quarantine_id: str) -> tuple[str, str]:
        return (os.path.join(self.directory, f"{quarantine_id}.json"),
                os.path.join(self.directory, f"{quarantine_id}.bin"))

    def put(self, held: Capture, *, app: str, policy_version: int | None, pid: int | None) -> dict[str, Any]:
        """Move the held file into quarantine; its manifest. QuarantineError leaves it in place."""
        info = os.fstat(held.fd)
        try:
            entry = os.stat(held.name, dir_fd=held.dir_fd, follow_symlinks=False)
        except OSError as exc:
            raise QuarantineError(f"{held.path} vanished before it was quarantined: {exc.strerror}") from None
        if (entry.st_dev, entry.st_ino) != (info.st_dev, info.st_ino):
            raise QuarantineError(f"{held.path} was replaced by another file since the detection")
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        now = dt.datetime.now(dt.timezone.utc)
        quarantine_id = f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        manifest_path, payload_path = self._paths(quarantine_id)
        target = os.open(f"{payload_path}.tmp", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o400)
        try:
            sha256 = _copy_hashing(held.fd, target)
        finally:
            os.close(target)
        os.replace(f"{payload_path}.tmp", payload_path)
        manifest = {"id": quarantine_id, "original_path": held.path, "uid": info.st_uid, "gid": info.st_gid,
                    "mode": stat.S_IMODE(info.st_mode), "size": info.st_size, "mtime_ns": info.st_mtime_ns,
                    "sha256": sha256, "quarantined_at": isoformat(now), "app": app,
                    "policy_version": policy_version, "pid": pid}
        write_atomic(manifest_path, json.dumps(manifest, indent=2).encode(), 0o600)
        try:
            os.unlink(held.name, dir_fd=held.dir_fd)
        except OSError as exc:
            os.unlink(manifest_path)
            os.unlink(payload_path)
            raise QuarantineError(f"cannot remove {held.path}: {exc.strerror}") from None
        return manifest

    def entries(self) -> list[dict[str, Any]]:
        """Every manifest, oldest first (restored ones too, marked with `restored_at`)."""
        try:
            names = sorted(name for name in os.listdir(self.directory) if name.endswith(".json"))
        except FileNotFoundError:
            return []
        manifests = []
        for name in names:
            with open(os.path.join(self.directory, name), encoding="utf-8") as handle:
                manifests.append(json.load(handle))
        return manifests

    def restore(self, quarantine_id: str) -> dict[str, Any]:
        """Put the file back exactly; InputError (and nothing changed) when it cannot be."""
        manifest_path, payload_path = self._paths(quarantine_id)
        if not _ID.match(quarantine_id) or not os.path.exists(manifest_path):
            raise InputError.single(self.directory, f"no quarantined file with id {quarantine_id!r}",
                                    "'banwatch-agent quarantine list' shows the ids", entry=quarantine_id)
        with open(manifest_path, encoding="utf-8") as handle:
            manifest = json.load(handle)
        target = manifest["original_path"]
        problem = self._restore_problem(manifest, payload_path, target)
        if problem:
            raise InputError.single(manifest_path, problem[0], problem[1], entry=quarantine_id)
        folder = os.path.dirname(target)
        fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".restore", dir=folder)
        try:
            with open(payload_path, "rb") as payload:
                _copy_hashing(payload.fileno(), fd)
            os.fchown(fd, manifest["uid"], manifest["gid"])
            os.fchmod(fd, manifest["mode"])  # after fchown, which clears set-id bits
            os.close(fd)
            os.utime(temp, ns=(manifest["mtime_ns"], manifest["mtime_ns"]))
            os.link(temp, target)  # never over a file that appeared meanwhile
        finally:
            os.unlink(temp)
        fsync_directory(folder)
        manifest["restored_at"] = isoformat(dt.datetime.now(dt.timezone.utc))
        write_atomic(manifest_path, json.dumps(manifest, indent=2).encode(), 0o600)
        os.unlink(payload_path)
        return manifest

    @staticmethod
    def _restore_problem(manifest: dict[str, Any], payload_path: str, target: str) -> tuple[str, str] | None:
        if manifest.get("restored_at"):
            return f"already restored to {target} at {manifest['restored_at']}", "nothing to do"
        if not os.path.exists(payload_path):
            return f"the quarantined copy {payload_path} is missing", "restore the file from a backup"
        if _file_sha256(payload_path) != manifest["sha256"]:
            return (f"the quarantined copy {payload_path} no longer has SHA-256 {manifest['sha256']}",
                    "it was altered; restore the file from a backup")
        if os.path.lexists(target):
            return f"something is at {target} now", "move it away first, then restore"
        if not os.path.isdir(os.path.dirname(target)):
            return f"the directory {os.path.dirname(target)} is gone", "create it (with its owner and mode) first"
        return None
