"""When a package database changed: a cheap stamp (paths, sizes, times) per package source.

The agent compares stamps every `package_check_interval` seconds and rescans only the
package sources whose stamp moved: a handful of stat calls instead of reading databases.
"""

from __future__ import annotations

import os

from banwatch.device.sources import brew, dpkg, flatpak, rpm, snap
from banwatch.device.sources.base import SourceContext

# What changes when each package manager installs or removes something.
WATCHED: dict[str, tuple[str, ...]] = {
    "dpkg": (f"{dpkg.DATABASE}/status", f"{dpkg.DATABASE}/updates"),
    "rpm": rpm.DATABASE_DIRS,
    "snap": (snap.SNAP_ROOT,),
    "flatpak": (f"{flatpak.SYSTEM_INSTALLATION}/app",),
    "brew": tuple(f"{prefix}/{folder}" for prefix in brew.PREFIXES for folder in ("Cellar", "Caskroom")),
}

Stamp = tuple[tuple[str, int, int], ...]


def _entry(path: str) -> tuple[str, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return path, info.st_size, info.st_mtime_ns


def stamp(name: str, ctx: SourceContext) -> Stamp:
    """A directory counts with the files directly in it (an rpm or sqlite database rewrites those)."""
    entries = []
    for relative in WATCHED.get(name, ()):
        path = ctx.path(relative)
        entries.append(_entry(path))
        if os.path.isdir(path):
            try:
                children = sorted(os.listdir(path))
            except OSError:
                children = []
            entries.extend(_entry(os.path.join(path, child)) for child in children)
    return tuple(entry for entry in entries if entry is not None)


class PackageWatch:
    """Remembers each watched source's stamp; `changed()` names those that moved since last asked."""

    def __init__(self, names: list[str], ctx: SourceContext | None = None) -> None:
        self.ctx = ctx or SourceContext()
        self.names = [name for name in names if name in WATCHED]
        self.stamps = {name: stamp(name, self.ctx) for name in self.names}

    def changed(self) -> list[str]:
        moved = []
        for name in self.names:
            current = stamp(name, self.ctx)
            if current != self.stamps[name]:
                self.stamps[name] = current
                moved.append(name)
        return moved
