"""The entries of a ban list and an exemption register, checked one by one: the same rules hold
for the policy source people edit and for the signed payload a device gets, so a device never
enforces what `banwatch policy check` would refuse."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from banwatch.core import globs
from banwatch.core.checker import Checker
from banwatch.core.policy.model import (
    ACTIONS,
    EXPORT_ONLY_KEYS,
    PACKAGE_MANAGERS,
    SEVERITIES,
    STATUSES,
    App,
    Exemption,
    MatchRules,
)
from banwatch.core.safe_yaml import Path

_APP_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

_EXEMPTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")

_REVERSE_DNS = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_*-]+)+$")

_ANDROID_PACKAGE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")

_APPX_FAMILY = re.compile(r"^[A-Za-z0-9.-]{3,50}_[a-z0-9]{13}$")

_TEAM_ID = re.compile(r"^[A-Z0-9]{10}$")

_SIGNING_ID = re.compile(r"^(?:[A-Z0-9]{10}|platform):[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


# How each glob-valued match key is checked: (kind of text, extra check or None).

_GLOB_KEYS = {
    "process_names": "name",
    "executable_paths": "path",
    "command_line": "argument",
    "macos_bundle_ids": "bundle id",
    "macos_bundle_names": "bundle name",
    "windows_programs": "program name",
}

_ID_KEYS = {
    "executable_sha256": (_SHA256, "a SHA-256 is 64 hexadecimal characters"),
    "windows_appx_families": (_APPX_FAMILY, "an AppX family is Name_publisherid, e.g. Vendor.App_6yccndn6064se"),
    "android_packages": (_ANDROID_PACKAGE, "an Android package id looks like com.example.app"),
    "ios_bundle_ids": (_REVERSE_DNS, "an iOS bundle id looks like com.example.app"),
    "domains": (_DOMAIN, "write a bare domain such as example.com (subdomains are covered)"),
    "macos_team_ids": (_TEAM_ID, "an Apple Team ID is 10 upper-case letters and digits, e.g. EQHXZ8M8AV"),
    "macos_signing_ids": (_SIGNING_ID, "a signing ID is TEAMID:signing.id or platform:signing.id, "
                                       "e.g. EQHXZ8M8AV:com.google.Chrome"),
}

MATCH_KEYS = (*_GLOB_KEYS, *_ID_KEYS, "packages")

UNIQUE_EXEMPTION_FIX = "give each exemption a unique id; keep expired ones under their old id"


def read_apps(check: Checker, top: dict[str, Any]) -> tuple[tuple[App, ...], set[str]]:
    entries = top.get("apps")
    if not isinstance(entries, list) or not entries:
        if "apps" in top:
            check.add(("apps",), None, "'apps' must be a non-empty list", "list at least one app under 'apps:'")
        return (), set()
    apps = [app for app, _path, _entry in unique_entries(check, entries, "apps", "app", read=_read_app,
                                                         fix="give each app a unique id")]
    declared = {raw["id"] for raw in entries if isinstance(raw, dict) and isinstance(raw.get("id"), str)}
    return tuple(apps), declared

T = TypeVar("T", App, Exemption)


def unique_entries(check: Checker, entries: list[Any], section: str, kind: str, *,
                    read: Callable[[Checker, Any, Path, str], T | None], fix: str) -> list[tuple[T, Path, str]]:
    """Each valid entry of a list section with its path and name, refusing a repeated id."""
    found: list[tuple[T, Path, str]] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(entries):
        path: Path = (section, index)
        item_id = raw.get("id") if isinstance(raw, dict) else None
        entry = f"{kind} '{item_id}'" if isinstance(item_id, str) else f"{section} entry {index + 1}"
        item = read(check, raw, path, entry)
        if item is None:
            continue
        if item.id in seen:
            check.add((*path, "id"), entry, f"duplicate {kind} id (first used in entry {seen[item.id] + 1})", fix)
            continue
        seen[item.id] = index
        found.append((item, path, entry))
    return found


def _read_app(check: Checker, raw: Any, path: Path, entry: str) -> App | None:
    fields = check.mapping(
        raw, path, entry,
        required=("id", "name", "reason", "severity", "action", "match"),
        optional=("status",),
    )
    if fields is None:
        return None
    before = len(check.problems)
    app_id = check.text(fields, "id", path, entry)
    if app_id is not None and not _APP_ID.match(app_id):
        check.add((*path, "id"), entry, f"id '{app_id}' is not a valid app id",
                  "use lower-case letters, digits, '-' and '_' (at most 64), e.g. 'tiktok'")
    name = check.text(fields, "name", path, entry)
    reason = check.text(fields, "reason", path, entry)
    severity = check.choice(fields, "severity", path, entry, SEVERITIES)
    action = check.choice(fields, "action", path, entry, ACTIONS)
    status = check.choice(fields, "status", path, entry, STATUSES) if "status" in fields else "banned"
    if status == "under_review" and action not in (None, "report"):
        check.add((*path, "action"), entry, f"an app under review cannot have action '{action}'",
                  "use 'action: report' until the app is banned (status: banned)")
    match = _read_match(check, fields.get("match"), (*path, "match"), entry) if "match" in fields else None
    if len(check.problems) > before or None in (app_id, name, reason, severity, action, status, match):
        return None
    return App(app_id, name, reason, severity, action, status, match)  # type: ignore[arg-type]


def _read_match(check: Checker, raw: Any, path: Path, entry: str) -> MatchRules | None:
    fields = check.mapping(raw, path, entry, optional=MATCH_KEYS)
    if fields is None:
        return None
    # The rules present, in the documented order (so the problems are in it too).
    values: dict[str, Any] = {}
    for key, kind in _GLOB_KEYS.items():
        if key in fields:
            values[key] = _globs(check, fields, key, path, entry, kind=kind)
    for key, (pattern, fix) in _ID_KEYS.items():
        if key in fields:
            values[key] = _identifiers(check, fields, key, path, entry, rule=(pattern, fix))
    values["packages"] = _packages(check, fields, path, entry)
    rules = MatchRules(**values)
    if not any(values.values()):
        check.add(path, entry, "the match block is empty, so this app can never be found",
                  "add at least one rule, e.g. 'process_names: [\"Name\"]'")
        return None
    if not any(value for key, value in values.items() if key not in EXPORT_ONLY_KEYS):
        check.add(path, entry, "the match block names only Santa's Team and signing IDs, which agents never use",
                  "add a rule agents match too, e.g. 'macos_bundle_names: [\"Name.app\"]'")
        return None
    return rules


def _globs(check: Checker, fields: dict[str, Any], key: str, path: Path, entry: str, *, kind: str) -> tuple[str, ...]:
    items = check.text_list(fields, key, path, entry)
    for index, pattern in enumerate(items):
        where = (*path, key, index)
        if globs.too_broad(pattern):
            check.add(where, entry, f"the {kind} glob '{pattern}' in '{key}' could match everything",
                      f"name at least {globs.MIN_LITERAL_CHARS} literal characters, e.g. 'TikTok*'")
        elif key == "executable_paths" and not (pattern.startswith(("/", "**")) or globs.is_windows_path(pattern)):
            check.add(where, entry, f"executable path '{pattern}' is not absolute",
                      "start it with '/', a drive letter such as 'C:\\', or '**/'")
        elif key == "process_names" and "/" in pattern:
            check.add(where, entry, f"process name '{pattern}' contains '/'",
                      "put paths under 'executable_paths' and keep names bare")
        elif key == "macos_bundle_names" and not pattern.lower().endswith(".app"):
            check.add(where, entry, f"bundle name '{pattern}' does not end in .app",
                      "write the bundle's folder name, e.g. 'TikTok LIVE Studio.app'")
    return items


def _identifiers(check: Checker, fields: dict[str, Any], key: str, path: Path, entry: str, *,
                 rule: tuple[re.Pattern[str], str]) -> tuple[str, ...]:
    pattern, fix = rule
    items = check.text_list(fields, key, path, entry)
    normalised = []
    for index, item in enumerate(items):
        value = item.lower() if key in ("executable_sha256", "domains") else item
        if not pattern.match(value):
            check.add((*path, key, index), entry, f"'{item}' is not a valid entry for '{key}'", fix)
        normalised.append(value)
    return tuple(normalised)


def _packages(check: Checker, fields: dict[str, Any], path: Path, entry: str) -> dict[str, tuple[str, ...]]:
    if "packages" not in fields:
        return {}
    managers = check.mapping(fields["packages"], (*path, "packages"), entry, optional=PACKAGE_MANAGERS)
    if managers is None:
        return {}
    return {
        manager: names
        for manager in PACKAGE_MANAGERS
        if (names := _globs(check, managers, manager, (*path, "packages"), entry, kind=f"{manager} package"))
    }


def read_exemption(check: Checker, raw: Any, path: Path, entry: str) -> Exemption | None:
    fields = check.mapping(
        raw, path, entry,
        required=("id", "app", "reason", "approved_by", "ticket", "expires"),
        optional=("hosts", "groups", "approved_on"),
    )
    if fields is None:
        return None
    before = len(check.problems)
    ex_id = check.text(fields, "id", path, entry)
    if ex_id is not None and not _EXEMPTION_ID.match(ex_id):
        check.add((*path, "id"), entry, f"id '{ex_id}' is not a valid exemption id",
                  "use letters, digits, '.', '-' and '_' (at most 64), e.g. 'EX-2026-001'")
    app = check.text(fields, "app", path, entry)
    hosts = check.text_list(fields, "hosts", path, entry)
    groups = check.text_list(fields, "groups", path, entry)
    if not hosts and not groups and "hosts" not in fields and "groups" not in fields:
        check.add(path, entry, "the exemption names no hosts and no groups",
                  "add 'hosts: [name]' and/or 'groups: [group]'")
    elif not hosts and not groups:
        check.add(path, entry, "'hosts' and 'groups' are both empty", "name at least one host or group")
    reason = check.text(fields, "reason", path, entry)
    approved_by = check.text(fields, "approved_by", path, entry)
    ticket = check.text(fields, "ticket", path, entry)
    expires = check.date(fields, "expires", path, entry)
    approved_on = check.date(fields, "approved_on", path, entry)
    if len(check.problems) > before or None in (ex_id, app, reason, approved_by, ticket, expires):
        return None
    return Exemption(ex_id, app, hosts, groups, reason, approved_by, ticket, expires, approved_on)  # type: ignore[arg-type]
