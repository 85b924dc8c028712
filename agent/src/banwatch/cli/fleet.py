"""`fleet ingest | status | exemptions | rollout | report`: the security admin's view of the fleet.

Paths default to the running lab's (see `banwatch.fleet.defaults`); every one can be given.
Exit codes: `status` 1 when any host is in violation; `ingest` 1 when a file was quarantined;
`rollout` 1 while any host does not have the version yet; 2 for bad input, always.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from typing import Any

from banwatch import render
from banwatch.atomic import write_atomic
from banwatch.cli.common import EXIT_FINDINGS, EXIT_OK, print_json
from banwatch.errors import InputError
from banwatch.fleet.defaults import (
    DEVICE_GROUP,
    EXPIRING_DAYS,
    STALE_AFTER,
    FleetDefaults,
    fleet_defaults,
    sibling_dirs,
)
from banwatch.fleet.enrolled import load_enrolled
from banwatch.fleet.html import render_page
from banwatch.fleet.ingest import Ingest
from banwatch.fleet.progress import Progress
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
from banwatch.policy import PolicySource, load_policy_source
from banwatch.report import isoformat

FORMATS = ("table", "json", "csv")


def add_fleet_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("fleet", help="the fleet store: ingest reports, see every host's state")
    commands = parser.add_subparsers(metavar="COMMAND")

    def command(name: str, help_text: str, handler: object) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--store", metavar="FILE", help="the fleet store (default: the lab's while it runs, "
                         "else ./fleet.db)")
        sub.set_defaults(handler=handler)
        return sub

    def viewing(name: str, help_text: str, handler: object) -> argparse.ArgumentParser:
        sub = command(name, help_text, handler)
        sub.add_argument("--inventory", metavar="INV", help="Ansible YAML inventory: its hosts that never "
                         "reported show as unreported (default: the lab's while it runs)")
        sub.add_argument("--group", default=DEVICE_GROUP, metavar="GROUP",
                         help="the inventory group of managed devices (default %(default)s; every host when the "
                         "inventory has no such group)")
        sub.add_argument("--stale-after", type=float, metavar="HOURS", default=STALE_AFTER.total_seconds() / 3600,
                         help="a host whose last report is older is stale (default %(default)g)")
        return sub

    ingest = command("ingest", "load reports from the drop box into the fleet store", run_ingest)
    ingest.add_argument("--from", dest="dropbox", metavar="DIR", help="the drop box (default: the lab's)")
    ingest.add_argument("--enrolled", metavar="DIR", help="enrolled device keys, <host>.pub (default: the lab's)")

    status = viewing("status", "one row per host: state, versions, last report, findings", run_status)
    status.add_argument("--format", choices=FORMATS, default="table")

    exemptions = viewing("exemptions", "every exemption and, per host it covers, whether it has arrived",
                         run_exemptions)
    exemptions.add_argument("--policy", metavar="DIR", help="policy source holding exemptions.yml "
                            "(default: the example one while the lab runs)")
    exemptions.add_argument("--expiring-days", type=int, default=EXPIRING_DAYS, metavar="N",
                            help="flag exemptions that end within N days (default %(default)s)")
    exemptions.add_argument("--format", choices=FORMATS, default="table")

    rollout = viewing("rollout", "which hosts have a policy or agent version, which not yet, which rejected it",
                      run_rollout)
    which = rollout.add_mutually_exclusive_group(required=True)
    which.add_argument("--policy-version", type=int, metavar="V")
    which.add_argument("--agent-version", metavar="V")
    rollout.add_argument("--format", choices=FORMATS, default="table")

    report = viewing("report", "write the fleet as one static, self-contained HTML page", run_report)
    report.add_argument("--html", required=True, metavar="FILE", help="where to write the page")
    report.add_argument("--policy", metavar="DIR", help="policy source, for the exemptions table "
                        "(default: the example one while the lab runs)")
    report.add_argument("--expiring-days", type=int, default=EXPIRING_DAYS, metavar="N")


# --- shared -----------------------------------------------------------------------------------

def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _required(value: str | None, option: str, what: str) -> str:
    if value is None:
        raise InputError.single(option, f"no {what} given and no lab running in ./.lab",
                                f"give {option}, or run 'make demo' to bring the lab up")
    return value


def _stale_after(args: argparse.Namespace) -> dt.timedelta:
    if args.stale_after <= 0:
        raise InputError.single("--stale-after", f"{args.stale_after:g} hours", "give a positive number of hours")
    return dt.timedelta(hours=args.stale_after)


def _hosts(args: argparse.Namespace, defaults: FleetDefaults) -> tuple[list[FleetHost], FleetStore | None]:
    """The fleet's hosts, and the store (None when none exists yet: every host is unreported)."""
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
    return load_policy_source(_required(args.policy or defaults.policy, "--policy", "policy source"), _now().date())


def _emit(fmt: str, documents: Callable[[], list[dict[str, Any]]], headers: Sequence[str],
          table: Callable[[], list[tuple[object, ...]]]) -> None:
    """Print rows as JSON objects, CSV or a table; only the form asked for is built."""
    if fmt == "json":
        print_json(documents())
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(table())
    else:
        print(render.table(headers, table()))


# --- ingest -----------------------------------------------------------------------------------

def run_ingest(args: argparse.Namespace) -> int:
    defaults = fleet_defaults()
    dropbox = _required(args.dropbox or defaults.dropbox, "--from", "drop box")
    enrolled = load_enrolled(_required(args.enrolled or defaults.enrolled, "--enrolled", "enrolled keys directory"))
    with FleetStore(args.store or defaults.store, create=True) as store:
        meter = Progress(sys.stderr, "ingesting reports", 0)

        def progress(done: int, total: int) -> None:
            meter.total = total
            meter.update(done)

        try:
            result = Ingest(store, enrolled).run(dropbox, progress)
        except sqlite3.OperationalError as exc:
            raise InputError.single(store.path, f"cannot write the fleet store ({exc}); nothing was moved",
                                    "wait for whatever holds it (a backup, a long query) and run again") from None
        finally:
            meter.finish()
    quarantine_dir = sibling_dirs(store.path)[0]
    print(f"{result.new} new report(s) stored, {result.copies} copy(ies) of stored reports, "
          f"{len(result.quarantined)} quarantined, from {dropbox} into {store.path}")
    for entry in result.quarantined:
        print(f"quarantined {entry.file}: {entry.reason} (kept as {os.path.join(quarantine_dir, entry.stored_as)})",
              file=sys.stderr)
    return EXIT_FINDINGS if result.quarantined else EXIT_OK


# --- status -----------------------------------------------------------------------------------

STATUS_HEADERS = ("host", "state", "agent", "policy", "last report", "findings / why")


def run_status(args: argparse.Namespace) -> int:
    defaults = fleet_defaults()
    hosts, store = _hosts(args, defaults)
    rows = status_rows(hosts, _now(), _stale_after(args))
    _emit(args.format, lambda: [r.document() for r in rows], STATUS_HEADERS,
          lambda: [(r.host, r.state, r.agent_text(), r.policy_text(), r.last_report, "; ".join(r.detail_lines()))
                   for r in rows])
    if args.format == "table":
        counts = ", ".join(f"{n} {state}" for state, n in state_counts(rows).items() if n)
        print(f"\n{len(rows)} hosts: {counts or 'none'}")
        if store is not None:
            print(f"last ingest: {store.last_ingest() or 'never'} (store {store.path})")
        if store is not None and store.quarantined():
            print(f"{len(store.quarantined())} report file(s) in quarantine: {sibling_dirs(store.path)[0]}")
    return EXIT_FINDINGS if any(r.state == VIOLATION for r in rows) else EXIT_OK


# --- exemptions -------------------------------------------------------------------------------

EXEMPTION_HEADERS = ("exemption", "app", "expires", "status", "host", "cover", "app present", "host state")


def run_exemptions(args: argparse.Namespace) -> int:
    defaults = fleet_defaults()
    source = _policy(args, defaults)
    hosts, _ = _hosts(args, defaults)
    rows, uncovered = exemption_view(source, hosts, now=_now(), stale_after=_stale_after(args),
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
    defaults = fleet_defaults()
    now = _now()
    hosts, store = _hosts(args, defaults)
    stale_after = _stale_after(args)
    policy_dir = args.policy or defaults.policy
    exemptions, uncovered = (exemption_view(load_policy_source(policy_dir, now.date()), hosts, now=now,
                                            stale_after=stale_after, expiring_days=args.expiring_days)
                             if policy_dir else (None, []))
    page = render_page(generated_at=isoformat(now),
                       store=f"{store.path}, last ingest {store.last_ingest() or 'never'}" if store else "no store yet",
                       status=status_rows(hosts, now, stale_after), exemptions=exemptions, uncovered=uncovered,
                       quarantined=len(store.quarantined()) if store else 0)
    write_atomic(args.html, page.encode("utf-8"), 0o644)
    print(f"wrote {args.html}")
    return EXIT_OK
