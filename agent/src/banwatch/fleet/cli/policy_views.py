"""The fleet views that also read the policy source (its exemption register): `fleet
exemptions`, and the HTML page, which shows the exemptions beside the hosts."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from banwatch.control.policy_source import PolicySource, load_policy_source
from banwatch.core import render
from banwatch.core.atomic import write_atomic
from banwatch.core.cli import EXIT_OK, print_json
from banwatch.core.cycles import cycle_collector_paused
from banwatch.core.timestamps import isoformat
from banwatch.fleet.cli.views import emit, load_hosts, now_utc, stale_interval
from banwatch.fleet.defaults import FleetDefaults, fleet_defaults, required
from banwatch.fleet.html import render_page
from banwatch.fleet.views import ExemptionRow, exemption_view, status_rows


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


# --- report -----------------------------------------------------------------------------------

@cycle_collector_paused()
def run_report(args: argparse.Namespace) -> int:
    stale_after = stale_interval(args)
    defaults = fleet_defaults(args.config)
    now = now_utc()
    hosts, store = load_hosts(args, defaults)
    policy_dir = args.policy or defaults.policy
    exemptions, uncovered = (exemption_view(load_policy_source(policy_dir, now.date()), hosts, now=now,
                                            stale_after=stale_after, expiring_days=args.expiring_days)
                             if policy_dir else (None, []))
    page = render_page(generated_at=isoformat(now),
                       store=f"{store.path}, last ingest {store.last_ingest() or 'never'}" if store else "no store yet",
                       status=status_rows(hosts, now, stale_after), exemptions=exemptions, uncovered=uncovered,
                       refused=store.refused_count() if store else 0)
    write_atomic(args.html, page.encode("utf-8"), 0o644)
    print(f"wrote {args.html}")
    return EXIT_OK
