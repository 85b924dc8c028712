"""Flatpak apps, system-wide and per user (each user's ~/.local/share/flatpak)."""

from __future__ import annotations

import os

from banwatch.device.sources.base import SourceContext, SourceUnavailable
from banwatch.device.sources.flatpak_release import first_release_version
from banwatch.device.sources.observations import KIND_PACKAGE, Observation

SYSTEM_INSTALLATION = "var/lib/flatpak"
USER_INSTALLATION = ".local/share/flatpak"
METAINFO_LIMIT = 512 * 1024


def collect(ctx: SourceContext) -> list[Observation]:
    installations = [("system", ctx.path(SYSTEM_INSTALLATION))]
    installations += [(f"user:{user}", os.path.join(home, USER_INSTALLATION)) for user, home in ctx.user_homes()]
    present = [(scope, path) for scope, path in installations if os.path.isdir(os.path.join(path, "app"))]
    if not present:
        raise SourceUnavailable("no flatpak installation")
    observations = []
    for scope, installation in present:
        observations.extend(_apps(scope, installation))
    return observations


def _apps(scope: str, installation: str) -> list[Observation]:
    apps_dir = os.path.join(installation, "app")
    observations = []
    for app_id in sorted(os.listdir(apps_dir)):
        current = os.path.join(apps_dir, app_id, "current")
        if not os.path.islink(current):
            continue
        arch, _, branch = os.readlink(current).partition("/")
        deployed = os.path.join(apps_dir, app_id, arch, branch, "active")
        observations.append(
            Observation("flatpak", KIND_PACKAGE, app_id, version=_release(deployed, app_id), path=deployed,
                        identifier=app_id, scope=scope, extra={"arch": arch, "branch": branch})
        )
    return observations


def _release(deployed: str, app_id: str) -> str | None:
    """The newest <release version=…> of the app's AppStream metainfo, if it ships one."""
    for name in (f"{app_id}.metainfo.xml", f"{app_id}.appdata.xml"):
        for folder in ("metainfo", "appdata"):
            path = os.path.join(deployed, "files", "share", folder, name)
            try:
                with open(path, "rb") as handle:
                    version = first_release_version(handle.read(METAINFO_LIMIT))
            except OSError:
                continue
            if version:
                return version
    return None
