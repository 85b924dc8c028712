"""Observations → findings: which banned (or under-review) app each observation is.

The rules, their precedence (most specific first: hash, path, name, command line) and
their glob semantics are written down in one place, docs/policy.md; this module follows
it. One observation yields at most one finding per app, naming the most specific rule.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from banwatch.core.globs import PatternSet
from banwatch.core.policy.model import PACKAGE_MANAGERS, App
from banwatch.device.sources.observations import Observation

IDENTITY_CACHE_SIZE = 8192


@dataclass(frozen=True)
class Finding:
    app: App
    observation: Observation
    rule: str
    pattern: str


def _names_of(exe: str | None) -> list[str]:
    names = []
    if exe:
        base = exe.replace("\\", "/").rsplit("/", 1)[-1]
        names.append(base)
        if base.lower().endswith(".exe"):
            names.append(base[:-4])
    return names


class Matcher:
    def __init__(self, apps: Iterable[App]) -> None:
        self.apps = tuple(apps)
        self._identity_cache: dict[tuple[str | None, str | None, str], list[tuple[str, str, str]]] = {}
        by_id = {app.id: app for app in self.apps}
        self._by_id = by_id

        def entries(get: Callable[[App], Iterable[str]]) -> list[tuple[str, str]]:
            return [(pattern, app.id) for app in self.apps for pattern in get(app)]

        self.sha256: dict[str, list[str]] = {}
        for digest, app_id in entries(lambda a: a.match.executable_sha256):
            self.sha256.setdefault(digest, []).append(app_id)
        self.paths = PatternSet(entries(lambda a: a.match.executable_paths), path=True)
        self.process_names = PatternSet(entries(lambda a: a.match.process_names))
        self.command_line = PatternSet(entries(lambda a: a.match.command_line))
        self.packages = {
            manager: PatternSet(entries(lambda a, m=manager: a.match.packages.get(m, ())))
            for manager in PACKAGE_MANAGERS
        }
        self.bundle_ids = PatternSet(entries(lambda a: a.match.macos_bundle_ids))
        self.bundle_names = PatternSet(entries(lambda a: a.match.macos_bundle_names))
        self.windows_programs = PatternSet(entries(lambda a: a.match.windows_programs))
        self.appx = PatternSet(entries(lambda a: a.match.windows_appx_families))
        self._by_source: dict[str, Callable[[Observation], list[tuple[str, str, str]]]] = {
            "processes": self._process_hits,
            "executables": self._process_hits,
            "macos_apps": self._bundle_hits,
            "windows_programs": lambda o: self._hits([("windows_programs", self.windows_programs, [o.name])]),
            "windows_appx": lambda o: self._hits([("windows_appx_families", self.appx, [o.identifier])]),
        }
        for manager in PACKAGE_MANAGERS:
            self._by_source[manager] = lambda o, m=manager: self._hits([(f"packages.{m}", self.packages[m], [o.name])])

    @property
    def needs_hashes(self) -> bool:
        return bool(self.sha256)

    def wanted_sources(self) -> list[str]:
        """The sources that can find something this policy names; the rest need not run."""
        wanted = []
        if self.sha256 or self.paths or self.process_names or self.command_line:
            wanted.append("processes")
        wanted += [manager for manager in PACKAGE_MANAGERS if self.packages[manager]]
        if self.bundle_ids or self.bundle_names:
            wanted.append("macos_apps")
        if self.windows_programs:
            wanted.append("windows_programs")
        if self.appx:
            wanted.append("windows_appx")
        return wanted

    def match(self, observation: Observation) -> list[Finding]:
        hits = self._by_source.get(observation.source, lambda _o: [])(observation)
        findings = []
        seen: set[str] = set()
        for rule, pattern, app_id in hits:  # hits come most specific first
            if app_id not in seen:
                seen.add(app_id)
                findings.append(Finding(self._by_id[app_id], observation, rule, pattern))
        return findings

    def match_all(self, observations: Iterable[Observation]) -> list[Finding]:
        return [finding for observation in observations for finding in self.match(observation)]

    @staticmethod
    def _hits(checks: list[tuple[str, PatternSet[str], list[str | None]]]) -> list[tuple[str, str, str]]:
        hits = []
        for rule, patterns, texts in checks:
            if not patterns:
                continue
            for text in texts:
                if text:
                    hits.extend((rule, pattern, app_id) for pattern, app_id in patterns.match(text))
        return hits

    def _process_hits(self, obs: Observation) -> list[tuple[str, str, str]]:
        hits = [("executable_sha256", obs.sha256, app_id) for app_id in self.sha256.get(obs.sha256 or "", ())]
        argv = obs.cmdline or []
        hits += self._identity_hits(obs.exe, argv[0] if argv else None, obs.name)
        if self.command_line:
            hits += self._hits([("command_line", self.command_line, argv[1:])])
        return hits

    def _identity_hits(self, exe: str | None, argv0: str | None, name: str) -> list[tuple[str, str, str]]:
        """Path and name hits, remembered per (exe, argv[0], name): many processes share them."""
        key = (exe, argv0, name)
        cached = self._identity_cache.get(key)
        if cached is None:
            names = [*_names_of(exe), *_names_of(argv0), name]
            cached = self._hits([
                ("executable_paths", self.paths, [exe]),
                ("process_names", self.process_names, list(dict.fromkeys(names))),
            ])
            if len(self._identity_cache) >= IDENTITY_CACHE_SIZE:
                self._identity_cache.clear()
            self._identity_cache[key] = cached
        return cached

    def _bundle_hits(self, obs: Observation) -> list[tuple[str, str, str]]:
        return self._hits([
            ("macos_bundle_ids", self.bundle_ids, [obs.identifier]),
            ("macos_bundle_names", self.bundle_names,
             [obs.extra.get("bundle_name") or os.path.basename(obs.path or "")]),
        ])
