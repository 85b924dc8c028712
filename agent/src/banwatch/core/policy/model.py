"""The ban list and the exemption register as plain data: what the control node reads from a
policy source and signs, and what a device enforces."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

SEVERITIES = ("critical", "high", "medium", "low")
ACTIONS = ("report", "kill", "quarantine")
STATUSES = ("banned", "under_review")
PACKAGE_MANAGERS = ("dpkg", "rpm", "snap", "flatpak", "brew")
DEFAULT_MAX_EXEMPTION_DAYS = 365
# Match keys only device managers use (`banwatch export`): left out of a device's payload, so an
# agent released before them still accepts the policy.
EXPORT_ONLY_KEYS = frozenset({"macos_team_ids", "macos_signing_ids"})


@dataclass(frozen=True)
class MatchRules:
    """How an app is recognised. Every list holds globs or literals, never regexes."""

    process_names: tuple[str, ...] = ()
    executable_paths: tuple[str, ...] = ()
    executable_sha256: tuple[str, ...] = ()
    command_line: tuple[str, ...] = ()
    packages: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    macos_bundle_ids: tuple[str, ...] = ()
    macos_bundle_names: tuple[str, ...] = ()
    windows_programs: tuple[str, ...] = ()
    windows_appx_families: tuple[str, ...] = ()
    android_packages: tuple[str, ...] = ()
    ios_bundle_ids: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    # For Santa on macOS (banwatch export), never in a device's payload: an Apple Team ID, and
    # signing IDs as `TEAMID:signing.id` or `platform:signing.id`.
    macos_team_ids: tuple[str, ...] = ()
    macos_signing_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class App:
    id: str
    name: str
    reason: str
    severity: str
    action: str
    status: str
    match: MatchRules

    @property
    def banned(self) -> bool:
        return self.status == "banned"


@dataclass(frozen=True)
class Exemption:
    id: str
    app: str
    hosts: tuple[str, ...]
    groups: tuple[str, ...]
    reason: str
    approved_by: str
    ticket: str
    expires: dt.date
    approved_on: dt.date | None = None

    def expired(self, today: dt.date) -> bool:
        """An exemption covers the app through the whole of its expiry day (UTC)."""
        return today > self.expires

    def covers(self, host: str, groups: frozenset[str]) -> bool:
        return host in self.hosts or not groups.isdisjoint(self.groups)
