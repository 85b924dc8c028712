"""Where the fleet store and its inputs live unless an option says otherwise.

While a fleet lab runs in `./.lab`, its store, inventory, enrolled keys and its collector's
drop box are the defaults, so `banwatch fleet status` right after `make demo` shows the demo's fleet. Without a
lab, the store is `./fleet.db` and the inputs must be named.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

from banwatch.errors import InputError
from banwatch.lab.layout import COLLECTOR_NAME, LabPaths
from banwatch.lab.state import LabError, LabState, endpoint_root, load_state

LAB_DIR = ".lab"
STORE_NAME = "fleet.db"
# Where the banwatch_agent role enrols each device's report key (devices/<host>.pub).
ENROLLED_DEVICES = "devices"
# The banwatch_collector role's drop box on the collector (banwatch_collector_root/incoming).
COLLECTOR_DROPBOX = "var/lib/banwatch-collector/incoming"
EXAMPLE_POLICY = os.path.join("inventory", "example", "policy")
# A host whose last report is older than this is `stale`: agents scan every 10 minutes by
# default, so a day of silence means the device is off, cut off, or its agent is not running.
STALE_AFTER = dt.timedelta(hours=24)
# How far past its arrival at ingest a report may be dated and still be taken as of its own time:
# device clocks drift, and NTP corrects them in steps. Past it, the device's clock is wrong (a dead
# RTC battery, a bad time source, a user): the report is stored and shown with its clock skew, and
# is taken as of its arrival (`store.Arrival`). `fleet ingest --clock-tolerance` changes it.
CLOCK_TOLERANCE = dt.timedelta(minutes=5)
# The inventory group of managed devices, as the playbooks target it (collectors are not devices).
DEVICE_GROUP = "endpoints"
# `fleet exemptions` flags exemptions that end within this many days.
EXPIRING_DAYS = 14


@dataclass(frozen=True)
class FleetDefaults:
    store: str
    inventory: str | None = None
    enrolled: str | None = None
    dropbox: str | None = None
    policy: str | None = None
    lab: str | None = None  # the lab directory these defaults come from


def fleet_defaults(lab_dir: str = LAB_DIR) -> FleetDefaults:
    """The running lab's paths, or `./fleet.db` and nothing else."""
    try:
        state = load_state(LabPaths(lab_dir))
    except LabError:
        state = None
    if state is None or not state.running():
        return FleetDefaults(store=STORE_NAME)
    return FleetDefaults(
        store=os.path.join(lab_dir, STORE_NAME),
        inventory=state.inventory,
        enrolled=os.path.join(LabPaths(lab_dir).enrolled, ENROLLED_DEVICES),
        dropbox=lab_dropbox(state),
        policy=EXAMPLE_POLICY if os.path.isdir(EXAMPLE_POLICY) else None,
        lab=lab_dir,
    )


def required(value: str | None, option: str, what: str) -> str:
    """`value`, given or a default; else a clear error (no default: no lab is running)."""
    if value is None:
        raise InputError.single(option, f"no {what} given and no lab running in ./.lab",
                                f"give {option}, or run 'make demo' to bring the lab up")
    return value


def lab_dropbox(state: LabState) -> str | None:
    """The lab collector's drop box as this machine sees it (through its endpoint's root)."""
    collectors = [e for e in state.endpoints if e.name == COLLECTOR_NAME]
    return os.path.join(endpoint_root(state, collectors[0]), COLLECTOR_DROPBOX) if collectors else None


def sibling_dirs(store: str) -> tuple[str, str]:
    """(quarantine, archive): beside the store, named after it (`fleet-quarantine`, `fleet-ingested`)."""
    folder = os.path.dirname(os.path.abspath(store))
    stem = os.path.splitext(os.path.basename(store))[0]
    return os.path.join(folder, f"{stem}-quarantine"), os.path.join(folder, f"{stem}-ingested")
