"""`fleet import MANAGER FILE...`: a device manager's listings into the fleet store."""

from __future__ import annotations

import argparse
import sqlite3
import sys

from banwatch.control.ansible_inventory import load_inventory
from banwatch.control.managed.inventory import managed_devices
from banwatch.control.policy_source import load_policy_source
from banwatch.core.cli import EXIT_FINDINGS, EXIT_INPUT, EXIT_OK
from banwatch.core.errors import InputError
from banwatch.fleet.cli.views import now_utc
from banwatch.fleet.defaults import fleet_defaults, required
from banwatch.fleet.imports.catalogue import Catalogue
from banwatch.fleet.imports.export_view import load_export
from banwatch.fleet.imports.judge import Judge
from banwatch.fleet.imports.listing import ListingRejected, rfc3339
from banwatch.fleet.imports.run import ManagedImport
from banwatch.fleet.store import FleetStore


def run_import(args: argparse.Namespace) -> int:
    defaults = fleet_defaults(args.config)
    checked_in = None
    if args.checked_in is not None:
        try:
            checked_in = rfc3339(args.checked_in, "--checked-in", "")
        except ListingRejected as exc:
            raise InputError.single("--checked-in", exc.message, "give the time as 2026-12-01T09:30:00Z") from None
    inventory = required(args.inventory or defaults.inventory, "--inventory", "inventory", defaults)
    source = load_policy_source(required(args.policy or defaults.policy, "--policy", "policy source", defaults),
                                now_utc().date())
    devices = managed_devices(load_inventory(inventory), inventory)
    export_dir = args.export or defaults.export
    export = load_export(export_dir, args.manager) if export_dir else None
    judge = Judge(args.manager, Catalogue(source.apps, args.manager), source.exemptions, export)
    with FleetStore(args.store or defaults.store, create=True) as store:
        try:
            result = ManagedImport(store, judge, devices, now=now_utc, checked_in=checked_in).run(args.files)
        except sqlite3.OperationalError as exc:
            raise InputError.single(store.path, f"cannot write the fleet store ({exc}); the file being stored "
                                    "was not", "wait for whatever holds it and run again") from None
    print(f"{result.new} new device report(s) stored, {result.already_stored} already stored, "
          f"{len(result.unknown)} unknown device(s), from {len(args.files) - len(result.rejected)} of "
          f"{len(args.files)} {args.manager} listing(s) into {store.path}")
    for unknown in result.unknown:
        print(f"unknown device: {unknown.file}: {unknown.entry}: no host of {inventory} has {args.manager} and "
              f"banwatch_managed_device_id {unknown.device_id}; not stored. Fix: add the host to the inventory "
              "(docs/managed.md), or leave it out if it is not the department's", file=sys.stderr)
    for file, why in result.rejected:
        where = f" {why.entry}:" if why.entry else ""
        print(f"error: {file}:{where} {why.message}; nothing of this file was stored. Fix: give the "
              f"{args.manager} listing as its API returns it (docs/fleet.md, 'Managed devices')", file=sys.stderr)
    if result.rejected:
        return EXIT_INPUT
    return EXIT_FINDINGS if result.unknown else EXIT_OK
