"""macOS application bundles: bundle id, name and version from each app's Info.plist."""

from __future__ import annotations

import os

from banwatch.device.sources.base import SourceContext, SourceUnavailable
from banwatch.device.sources.observations import KIND_BUNDLE, Observation

SYSTEM_FOLDERS = ("Applications", "Applications/Utilities", "System/Applications")
PLIST_LIMIT = 1024 * 1024


def collect(ctx: SourceContext) -> list[Observation]:
    folders = [("system", ctx.path(folder)) for folder in SYSTEM_FOLDERS]
    folders += [(f"user:{user}", os.path.join(home, "Applications")) for user, home in ctx.user_homes()]
    present = [(scope, folder) for scope, folder in folders if os.path.isdir(folder)]
    if not present:
        raise SourceUnavailable("no Applications folder")
    observations = []
    for scope, folder in present:
        for bundle in _bundles(folder):
            observation = read_bundle(bundle, scope)
            if observation is not None:
                observations.append(observation)
    return observations


def _bundles(folder: str) -> list[str]:
    """*.app in the folder and one level down (vendors put apps in their own subfolder)."""
    found = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.endswith(".app"):
            found.append(path)
        elif os.path.isdir(path) and not os.path.islink(path) and name != "Utilities":
            try:
                found.extend(os.path.join(path, inner) for inner in sorted(os.listdir(path)) if inner.endswith(".app"))
            except OSError:
                continue
    return found


def read_bundle(bundle: str, scope: str) -> Observation | None:
    folder_name = os.path.basename(bundle)
    info: dict[str, object] = {}
    try:
        with open(os.path.join(bundle, "Contents", "Info.plist"), "rb") as handle:
            import plistlib  # noqa: PLC0415 - macOS only: never resident in a Linux agent

            loaded = plistlib.loads(handle.read(PLIST_LIMIT))
        if isinstance(loaded, dict):
            info = loaded
    # The file is the app's own, so untrusted, and plistlib raises far more than it documents on
    # a damaged one (ExpatError, IndexError, LookupError, …): none of them may cost this bundle
    # or the others. A bundle without a readable Info.plist is still reported by its folder name.
    except Exception:  # noqa: BLE001, S110
        pass

    def text(key: str) -> str | None:
        value = info.get(key)
        return value if isinstance(value, str) and value else None

    executable = text("CFBundleExecutable")
    return Observation(
        "macos_apps", KIND_BUNDLE,
        text("CFBundleDisplayName") or text("CFBundleName") or folder_name[: -len(".app")],
        version=text("CFBundleShortVersionString") or text("CFBundleVersion"),
        path=bundle,
        exe=os.path.join(bundle, "Contents", "MacOS", executable) if executable else None,
        identifier=text("CFBundleIdentifier"),
        scope=scope,
        extra={"bundle_name": folder_name},
    )
