"""The registry of sources. Each source is one module with a `collect(ctx)` function.

`run_sources` runs the requested ones independently: one failing is recorded in its result
and never stops the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from banwatch.device.sources import (
    brew,
    dpkg,
    executables,
    flatpak,
    macos_apps,
    processes,
    rpm,
    snap,
    windows_appx,
    windows_programs,
)
from banwatch.device.sources.base import SourceContext, SourceUnavailable
from banwatch.device.sources.observations import Observation, SourceResult

Collector = Callable[[SourceContext], list[Observation]]

SOURCES: dict[str, Collector] = {
    "processes": processes.collect,
    "executables": executables.collect,
    "dpkg": dpkg.collect,
    "rpm": rpm.collect,
    "snap": snap.collect,
    "flatpak": flatpak.collect,
    "brew": brew.collect,
    "macos_apps": macos_apps.collect,
    "windows_programs": windows_programs.collect,
    "windows_appx": windows_appx.collect,
}
PACKAGE_SOURCES = ("dpkg", "rpm", "snap", "flatpak", "brew")


def run_source(name: str, ctx: SourceContext) -> SourceResult:
    started = time.perf_counter()
    try:
        observations = SOURCES[name](ctx)
        result = SourceResult(name, "ok", observations)
    except SourceUnavailable as exc:
        result = SourceResult(name, "unavailable", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a broken source must not stop the scan
        result = SourceResult(name, "error", error=f"{type(exc).__name__}: {exc}")
    result.duration_ms = (time.perf_counter() - started) * 1000
    return result


def run_sources(names: Iterable[str], ctx: SourceContext) -> list[SourceResult]:
    return [run_source(name, ctx) for name in names]
