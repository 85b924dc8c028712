"""Where the fleet store and its inputs live unless an option says otherwise, and the fleet's
other defaults.

A fleet configuration file (YAML: `store`, `inventory`, `enrolled`, `dropbox`, `policy`,
`export`) names the paths once, so an admin types `banwatch fleet status`, not six options. It is the file given
with `--config`, else the one $BANWATCH_FLEET_CONFIG names, else /etc/banwatch/fleet.yml when it
exists. Without one, the store is `./fleet.db` and the inputs must be named.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

from banwatch.core.errors import InputError, Problem

STORE_NAME = "fleet.db"
CONFIG_VARIABLE = "BANWATCH_FLEET_CONFIG"
SYSTEM_CONFIG = "/etc/banwatch/fleet.yml"
CONFIG_KEYS = ("store", "inventory", "enrolled", "dropbox", "policy", "export")
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
# The days `fleet apps` and the page count reports by (`fleet apps --since`).
APPS_WINDOW_DAYS = 30


@dataclass(frozen=True)
class FleetDefaults:
    """Where the fleet's files are when no option names them: from a fleet configuration file."""

    store: str
    inventory: str | None = None
    enrolled: str | None = None
    dropbox: str | None = None
    policy: str | None = None
    export: str | None = None  # the folder `banwatch export` wrote, for `fleet import`
    config: str | None = None  # the file these come from


def fleet_defaults(config: str | None = None) -> FleetDefaults:
    """The configuration named (`--config`), else $BANWATCH_FLEET_CONFIG, else SYSTEM_CONFIG when it
    exists, else `./fleet.db` and every input named by its option. Paths in the file are taken
    relative to the file's own folder."""
    path = config or os.environ.get(CONFIG_VARIABLE) or (SYSTEM_CONFIG if os.path.exists(SYSTEM_CONFIG) else None)
    if path is None:
        return FleetDefaults(store=STORE_NAME)
    # Imported here: without a configuration, `fleet status` never loads a YAML parser.
    from banwatch.core.checker import Checker  # noqa: PLC0415
    from banwatch.core.safe_yaml import load_yaml_file  # noqa: PLC0415

    problems: list[Problem] = []
    check = Checker(load_yaml_file(path), problems)
    fields = check.mapping(check.doc.data, (), None, optional=CONFIG_KEYS)
    values = {key: check.text(fields, key, (), None) for key in CONFIG_KEYS if key in fields} if fields else {}
    if problems:
        raise InputError(problems)
    folder = os.path.dirname(os.path.abspath(path))
    paths = {key: os.path.join(folder, value) for key, value in values.items() if value}
    return FleetDefaults(store=paths.pop("store", STORE_NAME), config=path, **paths)


def required(value: str | None, option: str, what: str, defaults: FleetDefaults) -> str:
    """`value`, given or from the configuration; else a clear error saying where to name it."""
    if value is None:
        where = f"and the fleet configuration {defaults.config} names none" if defaults.config else \
            "and no fleet configuration is in use"
        raise InputError.single(option, f"no {what} given {where}",
                                f"give {option}, or name it in the fleet configuration (--config FILE or "
                                f"${CONFIG_VARIABLE}; the fleet lab writes one: .lab/fleet.yml)")
    return value


def sibling_dirs(store: str) -> tuple[str, str]:
    """(refused, archive): beside the store, named after it (`fleet-refused`, `fleet-ingested`)."""
    return _beside(store, "refused"), _beside(store, "ingested")


def legacy_refused_dir(store: str) -> str:
    """Where banwatch kept refused files before store schema 5: `fleet-quarantine`, a name that
    the device's quarantine (a seized executable) also has."""
    return _beside(store, "quarantine")


def _beside(store: str, kind: str) -> str:
    folder = os.path.dirname(os.path.abspath(store))
    stem = os.path.splitext(os.path.basename(store))[0]
    return os.path.join(folder, f"{stem}-{kind}")
