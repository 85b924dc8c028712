"""SHA-256 of executables, cached by file identity so an unchanged binary is hashed once.

The key is (device, inode, size, mtime): replacing or editing the file changes it. On
Linux the file is opened through /proc/<pid>/exe, which reaches binaries in other mount
namespaces and binaries deleted after they started.
"""

from __future__ import annotations

import os
from collections import OrderedDict

from banwatch.core.digest import Sha256

CHUNK = 1024 * 1024
MAX_ENTRIES = 4096


class HashCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._digests: OrderedDict[tuple[int, int, int, int], str] = OrderedDict()
        self.hashed = 0  # how many files were actually read: tells a cache hit from a miss

    def for_process(self, pid: int | None, exe: str | None, proc_root: str = "/proc") -> str | None:
        """Digest of a process's executable, or None when it cannot be read."""
        candidates = []
        if pid is not None and os.path.isdir(proc_root):
            candidates.append(f"{proc_root}/{pid}/exe")
        if exe:
            candidates.append(exe)
        for path in candidates:
            digest = self.for_path(path)
            if digest is not None:
                return digest
        return None

    def for_path(self, path: str) -> str | None:
        try:
            with open(path, "rb") as handle:
                info = os.fstat(handle.fileno())
                key = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
                cached = self._digests.get(key)
                if cached is not None:
                    self._digests.move_to_end(key)
                    return cached
                digest = Sha256()
                while block := handle.read(CHUNK):
                    digest.update(block)
        except OSError:
            return None
        self.hashed += 1
        self._digests[key] = digest.hexdigest()
        if len(self._digests) > self.max_entries:
            self._digests.popitem(last=False)
        return self._digests[key]
