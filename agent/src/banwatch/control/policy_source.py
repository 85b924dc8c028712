"""Read and validate a policy source directory: `banlist.yml` and `exemptions.yml`.

Every problem is collected (file, line, entry, fix) and raised together as one
`InputError`; nothing is returned unless both files are valid.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from typing import Any

from banwatch.core.checker import Checker
from banwatch.core.errors import InputError, Problem
from banwatch.core.policy.entries import UNIQUE_EXEMPTION_FIX, read_apps, read_exemption, unique_entries
from banwatch.core.policy.model import DEFAULT_MAX_EXEMPTION_DAYS, App, Exemption
from banwatch.core.safe_yaml import Document, Path, load_yaml_file

BANLIST_FILE = "banlist.yml"
EXEMPTIONS_FILE = "exemptions.yml"
SCHEMA_VERSION = 1


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


def load_policy_source(directory: str | os.PathLike[str], today: dt.date | None = None) -> PolicySource:
    """Validate a policy source; `today` decides which exemptions count as expired or too long."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    folder = os.fspath(directory)
    if not os.path.isdir(folder):
        raise InputError.single(
            folder, "not a directory", f"point to a directory holding {BANLIST_FILE} and {EXEMPTIONS_FILE}"
        )
    problems: list[Problem] = []
    docs: dict[str, Document] = {}
    for name in (BANLIST_FILE, EXEMPTIONS_FILE):
        try:
            docs[name] = load_yaml_file(os.path.join(folder, name))
        except InputError as exc:
            problems.extend(exc.problems)
    apps: tuple[App, ...] = ()
    declared: set[str] = set()
    if BANLIST_FILE in docs:
        apps, declared = _read_banlist(Checker(docs[BANLIST_FILE], problems))
    register = None
    if EXEMPTIONS_FILE in docs:
        register = _read_register(Checker(docs[EXEMPTIONS_FILE], problems), declared, today)
    if problems or register is None:
        raise InputError(problems)
    exemptions, max_days, never_groups, never_hosts = register
    return PolicySource(
        directory=folder,
        apps=apps,
        exemptions=exemptions,
        max_exemption_days=max_days,
        never_exempt_groups=never_groups,
        never_exempt_hosts=never_hosts,
        digest=source_digest(folder),
    )


def source_digest(folder: str) -> str:
    """SHA-256 over both files' names and bytes: which source a scan or policy came from."""
    digest = hashlib.sha256()
    for name in (BANLIST_FILE, EXEMPTIONS_FILE):
        with open(os.path.join(folder, name), "rb") as handle:
            data = handle.read()
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return "sha256:" + digest.hexdigest()


def _schema(check: Checker, top: dict[str, Any]) -> None:
    version = top.get("schema")
    if version != SCHEMA_VERSION:
        check.add(("schema",), None, f"schema is {version!r}; this banwatch reads schema {SCHEMA_VERSION}",
                  f"set 'schema: {SCHEMA_VERSION}'")


def _read_banlist(check: Checker) -> tuple[tuple[App, ...], set[str]]:
    """The valid apps, and every id the file declares (so an app with a mistake in it does
    not also make each of its exemptions look orphaned)."""
    top = check.mapping(check.doc.data, (), None, required=("schema", "apps"))
    if top is None:
        return (), set()
    _schema(check, top)
    return read_apps(check, top)


Register = tuple[tuple[Exemption, ...], int, frozenset[str], frozenset[str]]


def _read_register(check: Checker, known_apps: set[str], today: dt.date) -> Register | None:
    top = check.mapping(
        check.doc.data, (), None,
        required=("schema", "exemptions"),
        optional=("max_exemption_days", "never_exempt"),
    )
    if top is None:
        return None
    _schema(check, top)
    max_days = (check.whole_number(top, "max_exemption_days", (), None, low=1, high=3650)
                or DEFAULT_MAX_EXEMPTION_DAYS)
    never_groups: tuple[str, ...] = ()
    never_hosts: tuple[str, ...] = ()
    if "never_exempt" in top:
        never = check.mapping(top["never_exempt"], ("never_exempt",), "never_exempt", optional=("groups", "hosts"))
        if never is not None:
            never_groups = check.text_list(never, "groups", ("never_exempt",), "never_exempt")
            never_hosts = check.text_list(never, "hosts", ("never_exempt",), "never_exempt")
    entries = top.get("exemptions")
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        check.add(("exemptions",), None, "'exemptions' must be a list",
                  "write one '- id: …' entry per exemption, or 'exemptions: []'")
        return None
    rules = _RegisterRules(known_apps, max_days, today, frozenset(never_groups), frozenset(never_hosts))
    exemptions = []
    for exemption, path, entry in unique_entries(check, entries, "exemptions", "exemption",
                                                  read=read_exemption, fix=UNIQUE_EXEMPTION_FIX):
        _check_exemption_rules(check, exemption, path, entry, rules)
        exemptions.append(exemption)
    return tuple(exemptions), max_days, frozenset(never_groups), frozenset(never_hosts)


@dataclass(frozen=True)
class _RegisterRules:
    """What every exemption is checked against."""

    known_apps: set[str]
    max_days: int
    today: dt.date
    never_groups: frozenset[str]
    never_hosts: frozenset[str]


def _check_exemption_rules(check: Checker, exemption: Exemption, path: Path, entry: str, rules: _RegisterRules) -> None:
    known_apps, max_days, today = rules.known_apps, rules.max_days, rules.today
    if exemption.app not in known_apps:
        close = [a for a in known_apps if a.startswith(exemption.app[:3])]
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        check.add((*path, "app"), entry, f"app '{exemption.app}' is not on the ban list{hint}",
                  f"use an app id from {BANLIST_FILE}, or add the app there first")
    start = exemption.approved_on or today
    if exemption.approved_on and exemption.expires < exemption.approved_on:
        check.add((*path, "expires"), entry,
                  f"expires {exemption.expires} is before approved_on {exemption.approved_on}",
                  "correct one of the dates")
    elif not exemption.expired(today) and (exemption.expires - start).days > max_days:
        since = f"approved_on {start}" if exemption.approved_on else f"today ({start})"
        check.add((*path, "expires"), entry,
                  f"expires {exemption.expires} is {(exemption.expires - start).days} days after {since}, "
                  f"more than the maximum of {max_days}",
                  f"set 'expires' no later than {start + dt.timedelta(days=max_days)} and renew it when it runs out")
    for group in exemption.groups:
        if group in rules.never_groups:
            check.add((*path, "groups"), entry, f"group '{group}' is marked never exemptable",
                      "remove the group from this exemption; hosts in it can never be exempted")
    for host in exemption.hosts:
        if host in rules.never_hosts:
            check.add((*path, "hosts"), entry, f"host '{host}' is marked never exemptable",
                      "remove the host from this exemption")
