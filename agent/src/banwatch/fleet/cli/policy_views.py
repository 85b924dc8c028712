"""The fleet views that also read the policy source (its exemption register, its ban list): `fleet
exemptions`, `fleet apps`, and the HTML page, which shows both beside the hosts."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Sequence

from banwatch.control.policy_source import PolicySource, load_policy_source
from banwatch.core import render
from banwatch.core.atomic import write_atomic
from banwatch.core.cli import EXIT_OK, print_json
from banwatch.core.cycles import cycle_collector_paused
from banwatch.core.errors import InputError
from banwatch.core.timestamps import isoformat
from banwatch.fleet.apps import (
    APP_HEADERS,
    APP_STATUSES,
    AppRow,
    ComplianceDay,
    Window,
    app_rows,
    app_table,
    compliance_days,
)
from banwatch.fleet.cli.views import emit, load_hosts, now_utc, stale_interval
from banwatch.fleet.defaults import APPS_WINDOW_DAYS, FleetDefaults, fleet_defaults, required
from banwatch.fleet.html import render_page
from banwatch.fleet.store import FleetStore
from banwatch.fleet.views import ExemptionRow, FleetHost, exemption_view, status_rows


def _policy(args: argparse.Namespace, defaults: FleetDefaults) -> PolicySource:
    folder = required(args.policy or defaults.policy, "--policy", "policy source", defaults)
    return load_policy_source(folder, now_utc().date())


# --- exemptions -------------------------------------------------------------------------------

EXEMPTION_HEADERS = ("exemption", "app", "expires", "status", "host", "cover", "app present", "host state")


@cycle_collector_paused()
def run_exemptions(args: argparse.Namespace) -> int:
    stale_after = stale_interval(args)
    defaults = fleet_defaults(args.config)
    source = _policy(args, defaults)
    hosts, _ = load_hosts(args, defaults)
    rows, uncovered = exemption_view(source, hosts, now=now_utc(), stale_after=stale_after,
                                     expiring_days=args.expiring_days)
    if args.format == "json":
        print_json({"exemptions": [r.document() for r in rows],
                    "present_without_cover": [u.document() for u in uncovered]})
        return EXIT_OK
    emit(args.format, list, EXEMPTION_HEADERS, lambda: _exemption_table(rows))
    if args.format == "table":
        print("\nExempted apps present without cover:")
        print(render.table(("app", "host", "state", "finding"),
                           [(u.app, u.host, u.state, "; ".join(u.findings)) for u in uncovered]) if uncovered
              else "none")
    return EXIT_OK


def _exemption_table(rows: Sequence[ExemptionRow]) -> list[tuple[object, ...]]:
    """One line per exemption and host it covers (one line saying so when it covers none)."""
    table: list[tuple[object, ...]] = []
    for row in rows:
        head = (row.id, row.app, f"{row.expires} ({_days(row.days_left)})", row.status)
        if not row.hosts:
            table.append((*head, None, "covers no host", None, None))
        table += [(*head, h.host, h.cover, "yes" if h.app_present else "no", h.state) for h in row.hosts]
    return table


def _days(days_left: int) -> str:
    return f"expired {-days_left} d ago" if days_left < 0 else f"in {days_left} d"


# --- apps -------------------------------------------------------------------------------------

# The longest window: ten years of daily counts is already a long row (and a date before year 1 an error).
_MAX_WINDOW_DAYS = 3660


def _window(since: str, today: dt.date) -> Window:
    days = int(since) if since.isascii() and since.isdigit() else 0
    if not 1 <= days <= _MAX_WINDOW_DAYS:
        raise InputError.single("--since", f"'{since}' days", f"give a whole number of days, 1 to {_MAX_WINDOW_DAYS}")
    return Window(today, days)


def _app_status(status: str | None) -> str | None:
    if status is not None and status not in APP_STATUSES:
        raise InputError.single("--status", f"unknown status '{status}'", "give one of: " + ", ".join(APP_STATUSES))
    return status


def apps_view(source: PolicySource | None, hosts: list[FleetHost], store: FleetStore | None, window: Window,
              status: str | None = None) -> tuple[list[AppRow], list[ComplianceDay]]:
    """The ban list's apps of `status` (all: None) and the fleet's compliance over the window,
    from the reports stored (none: no store yet)."""
    since = window.first.isoformat()
    apps = [] if source is None else [a for a in source.apps if status is None or a.status == status]
    if store is None:
        return app_rows(apps, hosts, (), {}, window), compliance_days((), window)
    rows = app_rows(apps, hosts, store.app_days(since), store.app_seen(), window)
    return rows, compliance_days(store.daily_states(since), window)


@cycle_collector_paused()
def run_apps(args: argparse.Namespace) -> int:
    today = now_utc().date()
    window, status = _window(args.since, today), _app_status(args.status)  # refused before the store is read
    defaults = fleet_defaults(args.config)
    source = _policy(args, defaults)
    hosts, store = load_hosts(args, defaults)
    rows, compliance = apps_view(source, hosts, store, window, status)
    if args.format == "json":
        print_json({"window": {"first_day": window.first.isoformat(), "last_day": today.isoformat(),
                               "days": window.days},
                    "apps": [r.document(window) for r in rows], "compliance": [d.document() for d in compliance]})
        return EXIT_OK
    emit(args.format, list, APP_HEADERS, lambda: app_table(rows))
    if args.format == "table":
        print(f"\nDaily counts: distinct devices per UTC day, {window.first.isoformat()} to {today.isoformat()}.")
        reported = [d for d in compliance if d.hosts]
        print("Compliant hosts per day: " + (", ".join(f"{d.day} {d.compliant}/{d.hosts}" for d in reported)
                                             if reported else "no reports in the window"))
    return EXIT_OK


# --- report -----------------------------------------------------------------------------------

@cycle_collector_paused()
def run_report(args: argparse.Namespace) -> int:
    stale_after = stale_interval(args)
    defaults = fleet_defaults(args.config)
    now = now_utc()
    hosts, store = load_hosts(args, defaults)
    policy_dir = args.policy or defaults.policy
    source = load_policy_source(policy_dir, now.date()) if policy_dir else None
    exemptions, uncovered = (exemption_view(source, hosts, now=now, stale_after=stale_after,
                                            expiring_days=args.expiring_days)
                             if source else (None, []))
    window = Window(now.date(), APPS_WINDOW_DAYS)
    apps, compliance = apps_view(source, hosts, store, window)
    page = render_page(generated_at=isoformat(now),
                       store=f"{store.path}, last ingest {store.last_ingest() or 'never'}" if store else "no store yet",
                       status=status_rows(hosts, now, stale_after), exemptions=exemptions, uncovered=uncovered,
                       refused=store.refused_count() if store else 0,
                       apps=apps if source else None, window=window, compliance=compliance)
    write_atomic(args.html, page.encode("utf-8"), 0o644)
    print(f"wrote {args.html}")
    return EXIT_OK
