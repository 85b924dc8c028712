"""The fleet views' work: status and rollout, and what every view does: read the hosts, print rows.

The views that also read the policy source are in `fleet_policy_views`: `fleet status` loads
neither it nor the HTML page.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from banwatch.core import render
from banwatch.core.cli import EXIT_FINDINGS, EXIT_OK, print_json
from banwatch.core.cycles import cycle_collector_paused
from banwatch.core.errors import InputError
from banwatch.core.report.schema import VIOLATION
from banwatch.fleet.defaults import DEVICE_GROUP, FleetDefaults, fleet_defaults, sibling_dirs
from banwatch.fleet.store import FleetStore
from banwatch.fleet.views import (
    HAS,
    FleetHost,
    fleet_hosts,
    rollout_rows,
    state_counts,
    status_rows,
    status_table,
)

if TYPE_CHECKING:
    from banwatch.control.ansible_inventory import InventoryHost

# --- shared -----------------------------------------------------------------------------------

def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def stale_interval(args: argparse.Namespace) -> dt.timedelta:
    if args.stale_after <= 0:
        raise InputError.single("--stale-after", f"{args.stale_after:g} hours", "give a positive number of hours")
    return dt.timedelta(hours=args.stale_after)


def load_hosts(args: argparse.Namespace, defaults: FleetDefaults, *,
               whole_reports: bool = True) -> tuple[list[FleetHost], FleetStore | None]:
    """The fleet's hosts, and the store (None when none exists yet: every host is unreported).
    `whole_reports=False`: of each host's last report, only what the status table shows."""
    inventory_path = args.inventory or defaults.inventory
    inventory = None
    if inventory_path:
        from banwatch.control.ansible_inventory import load_inventory  # noqa: PLC0415 - YAML costs 20 ms: load it only for one

        inventory = _devices(load_inventory(inventory_path), args.group, inventory_path)
    store_path = args.store or defaults.store
    if not os.path.exists(store_path) and inventory is not None:
        print(f"note: no fleet store at {store_path} yet: every host is unreported", file=sys.stderr)
        return fleet_hosts([], inventory), None
    store = FleetStore(store_path)
    return fleet_hosts(store.latest() if whole_reports else store.latest_lines(), inventory), store


def _devices(hosts: dict[str, InventoryHost], group: str, where: str) -> dict[str, InventoryHost]:
    """The inventory's devices: the hosts of `group` (collectors and the like are not devices)."""
    devices = {name: host for name, host in hosts.items() if group in host.groups}
    if devices or group == DEVICE_GROUP:
        return devices or hosts
    raise InputError.single(where, f"no host is in group '{group}'", "give --group one of the inventory's groups: "
                            + ", ".join(sorted({g for h in hosts.values() for g in h.groups})))


def emit(fmt: str, documents: Callable[[], list[dict[str, Any]]], headers: Sequence[str],
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

STATUS_HEADERS = ("host", "state", "source", "agent", "policy", "last report", "findings / why")
_STATE_COLUMN = STATUS_HEADERS.index("state")


# Kept for speed: with the cycle collector on, bench_fleet's status takes 26% more CPU time,
# 43% with the inventory; the other views over every host pause it as well.
@cycle_collector_paused()
def run_status(args: argparse.Namespace) -> int:
    stale_after = stale_interval(args)  # bad input is refused before 100,000 rows are read
    defaults = fleet_defaults(args.config)
    now = now_utc()
    hosts, store = load_hosts(args, defaults, whole_reports=args.format == "json")
    if args.format == "json":
        rows = status_rows(hosts, now, stale_after)
        states = [row.state for row in rows]
        print_json([row.document() for row in rows])
    else:
        table = status_table(hosts, now, stale_after)
        states = [cells[_STATE_COLUMN] for cells in table]
        emit(args.format, list, STATUS_HEADERS, lambda: table)
    if args.format == "table":
        counts = ", ".join(f"{n} {state}" for state, n in state_counts(states).items() if n)
        print(f"\n{len(states)} hosts: {counts or 'none'}")
        if store is not None:
            print(f"last ingest: {store.last_ingest() or 'never'} (store {store.path})")
        refused = store.refused_count() if store is not None else 0
        if refused:
            print(f"{refused} report file(s) refused, kept in {sibling_dirs(store.path)[0]}")
    return EXIT_FINDINGS if VIOLATION in states else EXIT_OK


# --- rollout ----------------------------------------------------------------------------------

@cycle_collector_paused()
def run_rollout(args: argparse.Namespace) -> int:
    defaults = fleet_defaults(args.config)
    hosts, _ = load_hosts(args, defaults)
    rows = rollout_rows(hosts, policy_version=args.policy_version, agent_version=args.agent_version)
    what = f"policy version {args.policy_version}" if args.agent_version is None else \
        f"agent version {args.agent_version}"
    emit(args.format, lambda: [r.document() for r in rows], ("host", "status", "current", "detail"),
         lambda: [(r.host, r.status, r.current, r.detail) for r in rows])
    done = sum(1 for r in rows if r.status == HAS)
    if args.format == "table":
        others = ", ".join(f"{sum(1 for r in rows if r.status == s)} {s}"
                           for s in sorted({r.status for r in rows} - {HAS}))
        print(f"\n{done} of {len(rows)} hosts have {what}" + (f"; {others}" if others else ""))
    return EXIT_OK if done == len(rows) else EXIT_FINDINGS
