"""What every source shares: the context it runs in and the signal that it cannot run here."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from banwatch.device.sources.exe_hash import HashCache
    from banwatch.device.sources.windows_registry import RegistryReader


class SourceUnavailable(Exception):
    """The source has nothing to read on this device (no dpkg, not Windows, …): not an error."""


@dataclass
class SourceContext:
    """Where sources look. `root` lets tests and offline scans point at a directory tree."""

    root: str = "/"
    proc: str = "/proc"
    details: bool = True  # fill costly per-process fields (user, start time) for every process
    hash_executables: bool = False
    hash_cache: HashCache | None = None
    registry: RegistryReader | None = None
    timeout: float = 60.0
    home_dirs: tuple[str, ...] = field(default=("home", "Users"))

    def path(self, *parts: str) -> str:
        """A path under the scan root; `parts` are relative to it."""
        return os.path.join(self.root, *(part.lstrip("/") for part in parts))

    def user_homes(self) -> list[tuple[str, str]]:
        """(user name, home directory) for each home folder under the root, plus root's."""
        homes: list[tuple[str, str]] = []
        for top in self.home_dirs:
            base = self.path(top)
            try:
                names = sorted(os.listdir(base))
            except OSError:
                continue
            homes.extend((name, os.path.join(base, name)) for name in names
                         if os.path.isdir(os.path.join(base, name)))
        if os.path.isdir(self.path("root")):
            homes.append(("root", self.path("root")))
        return homes
