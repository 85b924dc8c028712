"""Which ban-list app an installed app is, by what its manager lists it as.

The ban list's own identifiers, the ones `banwatch export` blocks by (`platforms`): an Android
package, an iOS bundle id. Intune's detected apps have a display name only: it is matched,
ignoring case, against the app's name and each identifier the ban list gives it (a Windows
package family also by its package name, the part before `_`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from banwatch.control.managed import platforms
from banwatch.control.managed.inventory import ANDROID, APPLE, INTUNE
from banwatch.core.policy.model import App
from banwatch.fleet.imports.listing import InstalledApp


def _intune_names(app: App) -> tuple[str, ...]:
    families = platforms.windows_appx_families(app)
    return (app.name, *families, *(family.split("_", 1)[0] for family in families), *platforms.ios_bundle_ids(app),
            *platforms.android_packages(app), *app.match.windows_programs)


# Per manager: the names an app is listed by, and how a listed name is compared.
_NAMES: dict[str, tuple[Callable[[App], Iterable[str]], Callable[[str], str]]] = {
    ANDROID: (platforms.android_packages, str),
    APPLE: (platforms.ios_bundle_ids, str),
    INTUNE: (_intune_names, str.casefold),
}


class Catalogue:
    """The ban list's apps (banned and under review) by the names one manager lists apps by."""

    def __init__(self, apps: Iterable[App], manager: str) -> None:
        names, self._key = _NAMES[manager]
        self._apps: dict[str, App] = {}
        for app in apps:
            for name in names(app):
                self._apps.setdefault(self._key(name), app)

    def find(self, installed: Iterable[InstalledApp]) -> list[tuple[App, InstalledApp]]:
        """Each ban-list app among `installed`, once, with the first listing of it, in ban-list order."""
        found: dict[str, tuple[App, InstalledApp]] = {}
        for item in installed:
            app = self._apps.get(self._key(item.identifier))
            if app is not None:
                found.setdefault(app.id, (app, item))
        return list(found.values())
