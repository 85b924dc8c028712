"""The review board's view (`fleet apps`): how widespread each app of the ban list is, where, and
whether that is growing; and the fleet's compliance over time. Plain rows, as the other views.

"Now" is each host's latest report (agents' findings and managers' imported app reports alike);
the daily counts are distinct hosts per UTC day over every report stored in the window.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from banwatch.fleet.views import FleetHost

if TYPE_CHECKING:
    from banwatch.core.policy.model import App

APP_STATUSES = ("banned", "under_review")


@dataclass(frozen=True)
class Window:
    """The UTC days a view counts: `days` of them, ending with `today`."""

    today: dt.date
    days: int

    @property
    def first(self) -> dt.date:
        return self.today - dt.timedelta(days=self.days - 1)

    def dates(self) -> list[str]:
        return [(self.first + dt.timedelta(days=n)).isoformat() for n in range(self.days)]


@dataclass(frozen=True)
class AppRow:
    app: str
    name: str
    status: str  # banned | under_review
    devices: int  # hosts whose latest report has it
    by_group: dict[str, int]
    by_source: dict[str, int]  # agent, or the manager the listing came from
    first_seen: str | None  # None: no stored report ever had it
    last_seen: str | None
    daily: tuple[int, ...]  # distinct hosts per UTC day of the window, oldest first

    def document(self, window: Window) -> dict[str, Any]:
        return {"app": self.app, "name": self.name, "status": self.status, "devices": self.devices,
                "by_group": self.by_group, "by_source": self.by_source, "first_seen": self.first_seen,
                "last_seen": self.last_seen,
                "daily": [{"day": day, "devices": n} for day, n in zip(window.dates(), self.daily)]}


@dataclass(frozen=True)
class ComplianceDay:
    """Of the hosts that reported on `day`, those whose every report that day stated `compliant`."""

    day: str
    hosts: int
    compliant: int

    @property
    def share(self) -> float | None:
        """None: no host reported that day."""
        return round(self.compliant / self.hosts, 4) if self.hosts else None

    def document(self) -> dict[str, Any]:
        return {"day": self.day, "hosts": self.hosts, "compliant": self.compliant, "share": self.share}


def _sorted_counts(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def app_rows(apps: Iterable[App], hosts: Iterable[FleetHost], app_days: Iterable[tuple[str, str, int]],
             seen: Mapping[str, tuple[str, str]], window: Window) -> list[AppRow]:
    """One row per app, in the ban list's order: `app_days` and `seen` as the store gives them
    (`FleetStore.app_days`, `FleetStore.app_seen`)."""
    holders: dict[str, list[FleetHost]] = {}
    for host in hosts:
        report = host.report
        if report is not None and report.findings_json != "[]":
            for app in {f["app"] for f in report.findings}:
                holders.setdefault(app, []).append(host)
    dates = {day: n for n, day in enumerate(window.dates())}
    daily: dict[str, list[int]] = {}
    for day, app, count in app_days:
        if day in dates:  # a report from a later day (a clock ahead, within tolerance) is not counted
            daily.setdefault(app, [0] * window.days)[dates[day]] = count
    rows = []
    for app in apps:
        having = holders.get(app.id, [])
        first, last = seen.get(app.id, (None, None))
        rows.append(AppRow(app.id, app.name, app.status, len(having),
                           _sorted_counts(Counter(g for h in having for g in h.groups)),
                           _sorted_counts(Counter(h.report.source for h in having if h.report is not None)),
                           first, last, tuple(daily.get(app.id, [0] * window.days))))
    return rows


def compliance_days(daily_states: Iterable[tuple[str, int, int]], window: Window) -> list[ComplianceDay]:
    """Every day of the window (a day no host reported on: zero hosts), from `FleetStore.daily_states`."""
    counts = {day: (hosts, hosts - not_compliant) for day, hosts, not_compliant in daily_states}
    return [ComplianceDay(day, *counts.get(day, (0, 0))) for day in window.dates()]


def counts_text(counts: Mapping[str, int]) -> str:
    """`press_office 2, laptops 1`: a row's counts by group or by source, in one cell."""
    return ", ".join(f"{name} {n}" for name, n in counts.items())


def app_table(rows: Sequence[AppRow]) -> list[tuple[object, ...]]:
    """The table's and the CSV's rows (`APP_HEADERS`): the daily counts oldest first, space-separated."""
    return [(r.app, r.status, r.devices, counts_text(r.by_group), counts_text(r.by_source), r.first_seen,
             r.last_seen, " ".join(map(str, r.daily))) for r in rows]


APP_HEADERS = ("app", "status", "devices now", "by group", "by source", "first seen", "last seen",
               "daily devices (oldest first)")
