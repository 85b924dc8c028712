"""`fleet ingest`: the drop box into the fleet store, with progress on a terminal."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
import sys

from banwatch.core.cli import EXIT_FINDINGS, EXIT_INPUT, EXIT_OK
from banwatch.core.errors import InputError
from banwatch.fleet.defaults import fleet_defaults, required, sibling_dirs
from banwatch.fleet.enrolled import load_enrolled
from banwatch.fleet.ingest import Ingest
from banwatch.fleet.progress import Progress
from banwatch.fleet.store import FleetStore


def run_ingest(args: argparse.Namespace) -> int:
    if not 0 <= args.clock_tolerance <= 7 * 24 * 60:
        raise InputError.single("--clock-tolerance", f"{args.clock_tolerance:g} minutes",
                                "give a number of minutes from 0 to 10080 (a week)")
    defaults = fleet_defaults(args.config)
    dropbox = required(args.dropbox or defaults.dropbox, "--from", "drop box", defaults)
    enrolled = load_enrolled(required(args.enrolled or defaults.enrolled, "--enrolled", "enrolled keys directory",
                                      defaults))
    with FleetStore(args.store or defaults.store, create=True) as store:
        meter = Progress(sys.stderr, "ingesting reports", 0)

        def progress(done: int, total: int) -> None:
            meter.total = total
            meter.update(done)

        try:
            result = Ingest(store, enrolled, clock_tolerance=dt.timedelta(minutes=args.clock_tolerance)).run(
                dropbox, progress)
        except sqlite3.OperationalError as exc:
            raise InputError.single(store.path, f"cannot write the fleet store ({exc}); nothing was moved",
                                    "wait for whatever holds it (a backup, a long query) and run again") from None
        finally:
            meter.finish()
    refused_dir = sibling_dirs(store.path)[0]
    print(f"{result.new} new report(s) stored, {result.copies} copy(ies) of stored reports, "
          f"{len(result.refused)} refused, from {dropbox} into {store.path}"
          + (f"; removed {result.partial_uploads_removed} partial upload(s) left by cut connections"
             if result.partial_uploads_removed else ""))
    for entry in result.refused:
        print(f"refused {entry.file}: {entry.reason} (kept as {os.path.join(refused_dir, entry.stored_as)})",
              file=sys.stderr)
    if result.unreadable:
        file, why = result.unreadable[0]
        print(f"error: {len(result.unreadable)} report file(s) could not be read ({why}: {file}"
              f"{' and others' if len(result.unreadable) > 1 else ''}) and stay in the drop box. Fix: run the "
              "ingest as a user who may read them (the drop box's owner, or root), then ingest again",
              file=sys.stderr)
        return EXIT_INPUT
    return EXIT_FINDINGS if result.refused else EXIT_OK
