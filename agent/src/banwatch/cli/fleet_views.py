"""The fleet views' work: status, exemptions, rollout and the HTML page, from the store."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gc
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from banwatch import render
from banwatch.atomic import write_atomic
from banwatch.cli.common import EXIT_FINDINGS, EXIT_OK, print_json
from banwatch.errors import InputError
from banwatch.fleet.defaults import DEVICE_GROUP, FleetDefaults, fleet_defaults, required, sibling_dirs
from banwatch.fleet.html import render_page
from banwatch.fleet.states import VIOLATION
from banwatch.fleet.store import FleetStore
from banwatch.fleet.views import (
    HAS,
    ExemptionRow,
    FleetHost,
    exemption_view,
    fleet_hosts,
    rollout_rows,
    state_counts,
    status_rows,
)
from banwatch.inventory import InventoryHost, load_inventory
from banwatch.policy.model import PolicySource
from banwatch.policy.source import load_policy_source
from banwatch.timestamps import isoformat

# --- shared -----------------------------------------------------------------------------------

def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _stale_after(args: argparse.Namespace) -> dt.timedelta:
    if args.stale_after <= 0:
        raise InputError.single("--stale-after", f"{args.stale_after:g} hours", "give a positive number of hours")
    return dt.timedelta(hours=args.stale_after)


def _hosts(args: argparse.Namespace, defaults: FleetDefaults) -> tuple[list[FleetHost], FleetStore | None]:
    """The fleet's hosts, and the store (None when none exists yet: every host is unreported)."""
    # A view builds a few small, acyclic objects per host, 100,000s in all, and then ends: the
    # cycle collector would walk them again and again (a third of the run) and free nothing.
    gc.disable()
    inventory_path = args.inventory or defaults.inventory
    inventory = _devices(load_inventory(inventory_path), args.group, inventory_path) if inventory_path else None
    store_path = args.store or defaults.store
    if not os.path.exists(store_path) and inventory is not None:
        print(f"note: no fleet store at {store_path} yet: every host is unreported", file=sys.stderr)
        return fleet_hosts([], inventory), None
    store = FleetStore(store_path)
    return fleet_hosts(store.latest(), inventory), store


def _devices(hosts: dict[str, InventoryHost], group: str, where: str) -> dict[str, InventoryHost]:
    """The inventory's devices: the hosts of `group` (collectors and the like are not devices)."""
    devices = {name: host for name, host in hosts.items() if group in host.groups}
    if devices or group == DEVICE_GROUP:
        return devices or hosts
    raise InputError.single(where, f"no host is in group '{group}'", "give --group one of the inventory's groups: "
                            + ", ".join(sorted({g for h in hosts.values() for g in h.groups})))


def _policy(args: argparse.Namespace, defaults: FleetDefaults) -> PolicySource:
    return load_policy_source(required(args.policy or defaults.policy, "--policy", "policy source"), _now().date())


def _emit(fmt: str, documents: Callable[[], list[dict[str, Any]]], headers: Sequence[str],
          table: Callable[[], list[tuple[object, ...]]]) -> None:
    """Print rows as JSON objects, CSV or a table; only the form asked for is built."""
    if fmt == "json":
        print_json(documents())
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows([render.spreadsheet_cell(cell) for cell in row] for row in table())
    else:
        print(render.table(headers, table()))


# --- status -----------------------------------------------------------------------------------

STATUS_HEADERS = ("host", "state", "agent", "policy", "last report", "findings / why")


def run_status(args: argparse.Namespace) -> int:
    stale_after = _stale_after(args)  # bad input is refused before 100,000 rows are read
    defaults = fleet_defaults()
    hosts, store = _hosts(args, defaults)
    rows = status_rows(hosts, _now(), stale_after)
    _emit(args.format, lambda: [r.document() for r in rows], STATUS_HEADERS,
          lambda: [r.cells() for r in rows])
    if args.format == "table":
        counts = ", ".join(f"{n} {state}" for state, n in state_counts(rows).items() if n)
        print(f"\n{len(rows)} hosts: {counts or 'none'}")
        if store is not None:
            print(f"last ingest: {store.last_ingest() or 'never'} (store {store.path})")
        quarantined = store.quarantine_count() if store is not None else 0
        if quarantined:
            print(f"{quarantined} report file(s) in quarantine: {sibling_dirs(store.path)[0]}")
    return EXIT_FINDINGS if any(r.state == VIOLATION for r in rows) else EXIT_OK


# --- exemptions -------------------------------------------------------------------------------

EXEMPTION_HEADERS = ("exemption", "app", "expires", "status", "host", "cover", "app present", "host state")


def run_exemptions(args: argparse.Namespace) -> int:
    stale_after = _stale_after(args)
    defaults = fleet_defaults()
    source = _policy(args, defaults)
    hosts, _ = _hosts(args, defaults)
    rows, uncovered = exemption_view(source, hosts, now=_now(), stale_after=stale_after,
                                     expiring_days=args.expiring_days)
    if args.format == "json":
        print_json({"exemptions": [r.document() for r in rows],
                    "present_without_cover": [u.document() for u in uncovered]})
        return EXIT_OK
    _emit(args.format, list, EXEMPTION_HEADERS, lambda: _exemption_table(rows))
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


# --- rollout ----------------------------------------------------------------------------------

def run_rollout(args: argparse.Namespace) -> int:
    defaults = fleet_defaults()
    hosts, _ = _hosts(args, defaults)
    rows = rollout_rows(hosts, policy_version=args.policy_version, agent_version=args.agent_version)
    what = f"policy version {args.policy_version}" if args.agent_version is None else \
        f"agent version {args.agent_version}"
    _emit(args.format, lambda: [r.document() for r in rows], ("host", "status", "current", "detail"),
          lambda: [(r.host, r.status, r.current, r.detail) for r in rows])
    done = sum(1 for r in rows if r.status == HAS)
    if args.format == "table":
        others = ", ".join(f"{sum(1 for r in rows if r.status == s)} {s}"
                           for s in sorted({r.status for r in rows} - {HAS}))
        print(f"\n{done} of {len(rows)} hosts have {what}" + (f"; {others}" if others else ""))
    return EXIT_OK if done == len(rows) else EXIT_FINDINGS


# --- report -----------------------------------------------------------------------------------

def run_report(args: argparse.Namespace) -> int:
    stale_after = _stale_after(args)
    defaults = fleet_defaults()
    now = _now()
    hosts, store = _hosts(args, defaults)
    policy_dir = args.policy or defaults.policy
    exemptions, uncovered = (exemption_view(load_policy_source(policy_dir, now.date()), hosts, now=now,
                                            stale_after=stale_after, expiring_days=args.expiring_days)
                             if policy_dir else (None, []))
    page = render_page(generated_at=isoformat(now),
                       store=f"{store.path}, last ingest {store.last_ingest() or 'never'}" if store else "no store yet",
                       status=status_rows(hosts, now, stale_after), exemptions=exemptions, uncovered=uncovered,
                       quarantined=store.quarantine_count() if store else 0)
    write_atomic(args.html, page.encode("utf-8"), 0o644)
    print(f"wrote {args.html}")
    return EXIT_OK
