"""Snap packages: every /snap/<name>/current revision, with the version from its snap.yaml."""

from __future__ import annotations

import os

import yaml

from banwatch.device.sources.base import SourceContext, SourceUnavailable
from banwatch.device.sources.observations import KIND_PACKAGE, Observation

SNAP_ROOT = "snap"
META_LIMIT = 256 * 1024


def collect(ctx: SourceContext) -> list[Observation]:
    base = ctx.path(SNAP_ROOT)
    if not os.path.isdir(base):
        raise SourceUnavailable(f"no snaps at {base}")
    observations = []
    for name in sorted(os.listdir(base)):
        current = os.path.join(base, name, "current")
        if not os.path.islink(current):
            continue  # /snap/bin and anything that is not an installed snap
        revision = os.readlink(current)
        observations.append(
            Observation("snap", KIND_PACKAGE, name, version=_version(current), path=os.path.join(base, name),
                        extra={"revision": revision})
        )
    return observations


def _version(current: str) -> str | None:
    """The version snap.yaml states, when it is plain text or a number. The file comes with the
    snap, so it is untrusted: any failure to read it (not mounted, not UTF-8, not YAML, nested
    too deep) costs only the version, never the snap or the other snaps."""
    try:
        with open(os.path.join(current, "meta", "snap.yaml"), "rb") as handle:
            meta = yaml.safe_load(handle.read(META_LIMIT).decode("utf-8"))
    except (OSError, ValueError, RecursionError, yaml.YAMLError):
        return None  # the squashfs may not be mounted; the name and revision still stand
    version = meta.get("version") if isinstance(meta, dict) else None
    # Not str() of a list or mapping: aliases can make one whose text is exponentially long.
    return str(version) if isinstance(version, (str, int, float)) and not isinstance(version, bool) else None
