"""AppX / MSIX packages (Store apps) by package family name, for all users and per user."""

from __future__ import annotations

from banwatch.device.sources.base import SourceContext, SourceUnavailable
from banwatch.device.sources.observations import KIND_PACKAGE, Observation
from banwatch.device.sources.windows_registry import registry_for, user_sids

ALL_USERS = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Appx\\AppxAllUserStore\\Applications"
PER_USER = ("Software\\Classes\\Local Settings\\Software\\Microsoft\\Windows\\CurrentVersion"
            "\\AppModel\\Repository\\Packages")


def collect(ctx: SourceContext) -> list[Observation]:
    registry = registry_for(ctx.registry)
    if registry is None:
        raise SourceUnavailable("not Windows")
    roots = [(ALL_USERS, "system")] + [(f"HKU\\{sid}\\{PER_USER}", f"user:{sid}") for sid in user_sids(registry)]
    observations = []
    for root, scope in roots:
        for full_name in registry.subkeys(root):
            parsed = parse_full_name(full_name)
            if parsed is None:
                continue
            name, version, arch, family = parsed
            observations.append(
                Observation("windows_appx", KIND_PACKAGE, name, version=version, identifier=family,
                            scope=scope, extra={"package_full_name": full_name, "arch": arch})
            )
    return observations


def parse_full_name(full_name: str) -> tuple[str, str, str, str] | None:
    """`Name_Version_Arch_ResourceId_PublisherId` → (name, version, arch, family name)."""
    parts = full_name.split("_")
    if len(parts) != 5 or not parts[0] or not parts[4]:
        return None
    name, version, arch, _resource, publisher = parts
    return name, version, arch, f"{name}_{publisher}"
