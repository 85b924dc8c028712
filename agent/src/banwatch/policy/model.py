"""The policy source as plain data: the ban list and the exemption register."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

SEVERITIES = ("critical", "high", "medium", "low")
ACTIONS = ("report", "kill", "quarantine")
STATUSES = ("banned", "under_review")
PACKAGE_MANAGERS = ("dpkg", "rpm", "snap", "flatpak", "brew")
DEFAULT_MAX_EXEMPTION_DAYS = 365


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


@dataclass(frozen=True)
class PolicySource:
    """A validated policy source directory."""

    directory: str
    apps: tuple[App, ...]
    exemptions: tuple[Exemption, ...]
    max_exemption_days: int
    never_exempt_groups: frozenset[str]
    never_exempt_hosts: frozenset[str]
    digest: str

    def app(self, app_id: str) -> App | None:
        return next((app for app in self.apps if app.id == app_id), None)

    def active_exemptions(self, today: dt.date) -> tuple[Exemption, ...]:
        return tuple(e for e in self.exemptions if not e.expired(today))

    def expired_exemptions(self, today: dt.date) -> tuple[Exemption, ...]:
        return tuple(e for e in self.exemptions if e.expired(today))
