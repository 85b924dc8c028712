"""What each device manager knows an app by, from the ban list's match rules: the one place the
compilers and the coverage report both read, so coverage never promises what a document lacks."""

from __future__ import annotations

from banwatch.core import globs
from banwatch.core.policy.model import App


def android_packages(app: App) -> tuple[str, ...]:
    return tuple(sorted(set(app.match.android_packages)))


def ios_bundle_ids(app: App) -> tuple[str, ...]:
    return tuple(sorted(set(app.match.ios_bundle_ids)))


def windows_appx_families(app: App) -> tuple[str, ...]:
    return tuple(sorted(set(app.match.windows_appx_families)))


def windows_executable_paths(app: App) -> tuple[str, ...]:
    return tuple(sorted({path for path in app.match.executable_paths if globs.is_windows_path(path)}))


def windows_names(app: App) -> tuple[str, ...]:
    return windows_appx_families(app) + windows_executable_paths(app)


def santa_rules(app: App) -> tuple[tuple[str, str], ...]:
    """(rule_type, identifier) pairs, most specific first as Santa weighs them: binary hash,
    signing ID, Team ID."""
    return (*(("BINARY", sha) for sha in sorted(set(app.match.executable_sha256))),
            *(("SIGNINGID", signing) for signing in sorted(set(app.match.macos_signing_ids))),
            *(("TEAMID", team) for team in sorted(set(app.match.macos_team_ids))))


def santa_identifiers(app: App) -> tuple[str, ...]:
    return tuple(identifier for _kind, identifier in santa_rules(app))
