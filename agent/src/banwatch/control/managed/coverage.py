"""What banwatch can do about each app, on each platform, under each kind of enrolment: block
it, only detect it, or not see it at all. Said plainly, so nobody counts as enforced what the
manager cannot enforce.

The rules follow the vendors' documentation (docs/managed.md): blocking on iOS needs a
supervised device; User Enrollment and a personally-owned Android device show their manager
only the managed (work) side; an app the ban list names by no identifier the manager knows
(no `android_packages`, say) cannot be acted on there. An app under review is never blocked: where its
manager could block it, it is detected only, through the manager's own list of apps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from banwatch.control.managed import platforms
from banwatch.control.managed.inventory import ANDROID, APPLE, INTUNE, SANTA
from banwatch.core.policy.model import App

BLOCKABLE = "blockable"
DETECT_ONLY = "detect only"
NOT_VISIBLE = "not visible"
STATUSES = (BLOCKABLE, DETECT_ONLY, NOT_VISIBLE)


# What each platform's managers know an app by, and the ban-list fields that give it.
PLATFORMS: dict[str, tuple[Callable[[App], tuple[str, ...]], str]] = {
    "android": (platforms.android_packages, "android_packages"),
    "ios": (platforms.ios_bundle_ids, "ios_bundle_ids"),
    "windows": (platforms.windows_names, "windows_appx_families or a Windows executable_paths entry"),
    "macos": (platforms.santa_identifiers, "executable_sha256, macos_signing_ids or macos_team_ids"),
}


@dataclass(frozen=True)
class Reach:
    """What one manager can do under one kind of enrolment, for a banned app it can name."""

    platform: str
    status: str
    why: str
    lists_apps: bool = True  # the manager's own inventory shows an app it does not block


REACH: dict[tuple[str, str], Reach] = {
    (ANDROID, "fully_managed"): Reach("android", BLOCKABLE, "installType BLOCKED; application reports list every app"),
    (ANDROID, "work_profile"): Reach("android", BLOCKABLE, "blocked in the work and the personal profile; reports "
                                                           "cover the work profile"),
    (ANDROID, "personally_owned"): Reach("android", NOT_VISIBLE, "only the work profile is controlled and visible; "
                                                                 "the personal profile is not"),
    (APPLE, "supervised"): Reach("ios", BLOCKABLE, "blockedAppBundleIDs hides it and stops it launching "
                                                   "(iOS 15 and later)"),
    (APPLE, "unsupervised"): Reach("ios", DETECT_ONLY, "blocking needs a supervised device; "
                                                       "InstalledApplicationList shows the app"),
    (APPLE, "user_enrolled"): Reach("ios", NOT_VISIBLE, "User Enrollment shows the MDM only its managed apps"),
    (INTUNE, "ios_supervised"): Reach("ios", BLOCKABLE, "hidden by the app visibility list; restrictedApps marks "
                                                        "the device non-compliant"),
    (INTUNE, "ios_unsupervised"): Reach("ios", DETECT_ONLY, "restrictedApps marks the device non-compliant; hiding "
                                                            "apps needs supervision"),
    (INTUNE, "ios_user_enrolled"): Reach("ios", NOT_VISIBLE, "Intune sees no personal apps on a user-enrolled device"),
    (INTUNE, "windows_corporate"): Reach("windows", BLOCKABLE, "AppLocker denies the package or the program path "
                                                               "(rule form not yet tried on a Windows device: "
                                                               "docs/managed.md)"),
    (INTUNE, "windows_personal"): Reach("windows", NOT_VISIBLE, "Intune lists no unmanaged apps of a personally "
                                                                "owned device; the AppLocker rules are sent, but "
                                                                "whether they hold cannot be seen"),
    (SANTA, "corporate"): Reach("macos", BLOCKABLE, "Santa blocks its executions; a bundle id or name alone is no "
                                                    "Santa rule", lists_apps=False),
}


@dataclass(frozen=True)
class CoverageRow:
    app: str
    app_status: str
    manager: str
    platform: str
    enrolment: str
    status: str
    why: str

    def document(self) -> dict[str, str]:
        return {"app": self.app, "app_status": self.app_status, "manager": self.manager, "platform": self.platform,
                "enrolment": self.enrolment, "coverage": self.status, "why": self.why}


def coverage(apps: Iterable[App], kinds: Iterable[tuple[str, str]] | None = None) -> list[CoverageRow]:
    """A row per app and (manager, enrolment) of `kinds` (every kind when None), in ban-list order."""
    wanted = None if kinds is None else set(kinds)
    chosen = [kind for kind in REACH if wanted is None or kind in wanted]
    return [_row(app, manager, enrolment) for app in apps for manager, enrolment in chosen]


def _row(app: App, manager: str, enrolment: str) -> CoverageRow:
    reach = REACH[(manager, enrolment)]

    def row(status: str, why: str) -> CoverageRow:
        return CoverageRow(app.id, app.status, manager, reach.platform, enrolment, status, why)

    names, fields = PLATFORMS[reach.platform]
    if not names(app):
        return row(NOT_VISIBLE, f"the ban list gives it no {fields}")
    if reach.status == BLOCKABLE and not app.banned:
        if not reach.lists_apps:
            return row(NOT_VISIBLE, "under review, so no rule is sent, and the manager keeps no list of apps")
        return row(DETECT_ONLY, "under review: seen in the manager's inventory, never blocked")
    return row(reach.status, reach.why)
