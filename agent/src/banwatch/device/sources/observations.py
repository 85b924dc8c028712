"""What a source saw on the device: one plain record per process, package or bundle.

Like an osquery table, every source fills the same fields where it can and leaves the
rest as None, so the matcher and the report never need to know which platform they run on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

KIND_PROCESS = "process"
KIND_PACKAGE = "package"
KIND_BUNDLE = "bundle"
KIND_PROGRAM = "program"
KIND_EXECUTABLE = "executable"


@dataclass
class Observation:
    source: str
    kind: str
    name: str
    version: str | None = None
    path: str | None = None
    pid: int | None = None
    exe: str | None = None
    cmdline: list[str] | None = None
    user: str | None = None
    started_at: float | None = None
    sha256: str | None = None
    identifier: str | None = None  # bundle id, AppX family, package manager's full id
    scope: str | None = None  # "system" or "user:<name>" for per-user installs
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Only the fields the source filled, so JSON stays small and honest."""
        return {key: value for key, value in asdict(self).items() if value not in (None, {}, [])}


@dataclass
class SourceResult:
    """One source's outcome: its observations, or why it could not run."""

    name: str
    status: str  # "ok", "error", "unavailable" (not on this platform), "skipped" (not needed)
    observations: list[Observation] = field(default_factory=list)
    error: str | None = None
    duration_ms: float = 0.0
