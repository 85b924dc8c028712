"""Installed Windows programs, from the Uninstall keys (machine-wide, 32-bit view, per user)."""

from __future__ import annotations

from banwatch.device.sources.base import SourceContext, SourceUnavailable
from banwatch.device.sources.observations import KIND_PROGRAM, Observation
from banwatch.device.sources.windows_registry import registry_for, user_sids

UNINSTALL = "Microsoft\\Windows\\CurrentVersion\\Uninstall"
MACHINE_KEYS = (f"HKLM\\SOFTWARE\\{UNINSTALL}", f"HKLM\\SOFTWARE\\WOW6432Node\\{UNINSTALL}")


def collect(ctx: SourceContext) -> list[Observation]:
    registry = registry_for(ctx.registry)
    if registry is None:
        raise SourceUnavailable("not Windows")
    roots = [(key, "system") for key in MACHINE_KEYS]
    roots += [(f"HKU\\{sid}\\Software\\{UNINSTALL}", f"user:{sid}") for sid in user_sids(registry)]
    observations = []
    for root, scope in roots:
        for subkey in registry.subkeys(root):
            values = registry.values(f"{root}\\{subkey}")
            name = values.get("DisplayName")
            if not isinstance(name, str) or not name.strip():
                continue  # updates and components without a name are not programs
            observations.append(
                Observation(
                    "windows_programs", KIND_PROGRAM, name.strip(),
                    version=_text(values.get("DisplayVersion")),
                    path=_text(values.get("InstallLocation")),
                    identifier=subkey, scope=scope,
                    extra={k: v for k, v in (("publisher", _text(values.get("Publisher"))),) if v},
                )
            )
    return observations


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
