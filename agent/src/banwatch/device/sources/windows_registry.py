"""The one door to the Windows registry, so the parsing above it is tested on any OS.

`WinRegistry` reads the live registry through `winreg` (Windows only). `RecordedRegistry`
serves a JSON export of the same keys, recorded from a real machine, for tests and for
offline analysis. Keys are written as full paths: `HKLM\\SOFTWARE\\…`, `HKU\\<sid>\\…`.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Protocol


class RegistryReader(Protocol):
    def subkeys(self, key: str) -> list[str]:
        """Names of the direct subkeys of `key` (empty when the key does not exist)."""

    def values(self, key: str) -> dict[str, Any]:
        """Value name → data for `key` (empty when the key does not exist)."""


class RecordedRegistry:
    """A registry recorded as {"HKLM\\\\path\\\\to\\\\key": {"Value": data, …}, …}."""

    def __init__(self, keys: dict[str, dict[str, Any]]) -> None:
        self._keys = {self._fold(key): values for key, values in keys.items()}
        self._children: dict[str, set[str]] = {}
        for key in keys:
            parts = key.split("\\")
            for depth in range(1, len(parts)):
                self._children.setdefault(self._fold("\\".join(parts[:depth])), set()).add(parts[depth])

    @classmethod
    def from_file(cls, path: str) -> RecordedRegistry:
        with open(path, encoding="utf-8") as handle:
            return cls(json.load(handle))

    @staticmethod
    def _fold(key: str) -> str:
        return key.lower()  # registry keys are case-insensitive

    def subkeys(self, key: str) -> list[str]:
        return sorted(self._children.get(self._fold(key), ()))

    def values(self, key: str) -> dict[str, Any]:
        return dict(self._keys.get(self._fold(key), {}))


class WinRegistry:  # pragma: no cover - runs on Windows only
    """The live registry, read-only."""

    def __init__(self) -> None:
        import winreg  # noqa: PLC0415 - only importable on Windows

        self._winreg = winreg
        self._hives = {"HKLM": winreg.HKEY_LOCAL_MACHINE, "HKU": winreg.HKEY_USERS}

    def _open(self, key: str) -> Any:
        hive, _, path = key.partition("\\")
        return self._winreg.OpenKey(self._hives[hive], path, 0, self._winreg.KEY_READ)

    def subkeys(self, key: str) -> list[str]:
        try:
            with self._open(key) as handle:
                count = self._winreg.QueryInfoKey(handle)[0]
                return [self._winreg.EnumKey(handle, index) for index in range(count)]
        except OSError:
            return []

    def values(self, key: str) -> dict[str, Any]:
        try:
            with self._open(key) as handle:
                count = self._winreg.QueryInfoKey(handle)[1]
                return {name: data for name, data, _ in (self._winreg.EnumValue(handle, i) for i in range(count))}
        except OSError:
            return {}


def registry_for(recorded: RegistryReader | None) -> RegistryReader | None:
    """The recorded registry if one was given, the live one on Windows, else None."""
    if recorded is not None:
        return recorded
    return WinRegistry() if sys.platform == "win32" else None


def user_sids(registry: RegistryReader) -> list[str]:
    """Loaded user hives under HKU, skipping the `_Classes` twins and well-known services."""
    return [sid for sid in registry.subkeys("HKU") if sid.startswith("S-1-5-21-") and not sid.endswith("_Classes")]
