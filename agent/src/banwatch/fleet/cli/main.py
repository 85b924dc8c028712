"""`fleet ingest | import | status | exemptions | rollout | apps | report`: the security admin's view of the fleet.

Paths default to the fleet configuration's (see `banwatch.fleet.defaults`); every one can be given.
Exit codes: `status` 1 when any host is in violation; `ingest` 1 when a file was refused;
`rollout` 1 while any host does not have the version yet; 2 for bad input, always.
The commands' work is in `fleet_ingest`, `fleet_views` and `fleet_policy_views`, imported only
when one runs.
"""

from __future__ import annotations

import argparse

from banwatch.core.cli import lazy
from banwatch.fleet.defaults import (
    APPS_WINDOW_DAYS,
    CLOCK_TOLERANCE,
    CONFIG_VARIABLE,
    DEVICE_GROUP,
    EXPIRING_DAYS,
    STALE_AFTER,
    SYSTEM_CONFIG,
)

FORMATS = ("table", "json", "csv")
# The managers `fleet import` reads (as control/managed/inventory.py names them); Santa's event
# uploads are not read yet (docs/fleet.md, "Managed devices").
IMPORTERS = ("android_management", "apple_mdm", "intune")
_RUN, _RUN_WITH_POLICY = "banwatch.fleet.cli.views", "banwatch.fleet.cli.policy_views"


def add_fleet_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("fleet", help="the fleet store: ingest reports, see every host's state")
    commands = parser.add_subparsers(metavar="COMMAND")

    def command(name: str, help_text: str, handler: object) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--config", metavar="FILE", help="fleet configuration naming the store and inputs "
                         f"(default: ${CONFIG_VARIABLE}, else {SYSTEM_CONFIG} when it exists)")
        sub.add_argument("--store", metavar="FILE", help="the fleet store (default: the configuration's, "
                         "else ./fleet.db)")
        sub.set_defaults(handler=handler)
        return sub

    def viewing(name: str, help_text: str, handler: object, *, judged: bool = True) -> argparse.ArgumentParser:
        """A view of the inventory's hosts; `judged`: it shows their states, so staleness counts."""
        sub = command(name, help_text, handler)
        sub.add_argument("--inventory", metavar="INV", help="Ansible YAML inventory, or the FILE.json "
                         "'ansible-inventory --list' writes of any inventory: its hosts that never reported show "
                         "as unreported (default: the configuration's)")
        sub.add_argument("--group", default=DEVICE_GROUP, metavar="GROUP",
                         help="the inventory group of managed devices (default %(default)s; every host when the "
                         "inventory has no such group)")
        if judged:
            sub.add_argument("--stale-after", type=float, metavar="HOURS", default=STALE_AFTER.total_seconds() / 3600,
                             help="a host whose last report is older is stale (default %(default)g)")
        return sub

    ingest = command("ingest", "load reports from the drop box into the fleet store",
                     lazy("banwatch.fleet.cli.ingest", "run_ingest"))
    ingest.add_argument("--from", dest="dropbox", metavar="DIR", help="the drop box (default: the configuration's)")
    ingest.add_argument("--enrolled", metavar="DIR",
                        help="enrolled device keys, <host>.pub (default: the configuration's)")
    ingest.add_argument("--clock-tolerance", type=float, metavar="MINUTES",
                        default=CLOCK_TOLERANCE.total_seconds() / 60,
                        help="a report dated more than this past its arrival is shown with its clock skew and "
                        "taken as of its arrival (default %(default)g)")

    status = viewing("status", "one row per host: state, versions, last report, findings", lazy(_RUN, "run_status"))
    status.add_argument("--format", choices=FORMATS, default="table")

    exemptions = viewing("exemptions", "every exemption and, per host it covers, whether it has arrived",
                         lazy(_RUN_WITH_POLICY, "run_exemptions"))
    exemptions.add_argument("--policy", metavar="DIR", help="policy source holding exemptions.yml "
                            "(default: the configuration's)")
    exemptions.add_argument("--expiring-days", type=int, default=EXPIRING_DAYS, metavar="N",
                            help="flag exemptions that end within N days (default %(default)s)")
    exemptions.add_argument("--format", choices=FORMATS, default="table")

    rollout = viewing("rollout", "which hosts have a policy or agent version, which not yet, which rejected it",
                      lazy(_RUN, "run_rollout"))
    which = rollout.add_mutually_exclusive_group(required=True)
    which.add_argument("--policy-version", type=int, metavar="V")
    which.add_argument("--agent-version", metavar="V")
    rollout.add_argument("--format", choices=FORMATS, default="table")

    apps = viewing("apps", "for every app of the ban list: how many devices have it, where, since when, by day",
                   lazy(_RUN_WITH_POLICY, "run_apps"), judged=False)
    apps.add_argument("--policy", metavar="DIR", help="policy source: the ban list (default: the configuration's)")
    apps.add_argument("--status", metavar="STATUS", help="only the apps of this status: banned or under_review")
    apps.add_argument("--since", default=str(APPS_WINDOW_DAYS), metavar="DAYS",
                      help="the daily counts' window, in days up to today (UTC; default %(default)s)")
    apps.add_argument("--format", choices=FORMATS, default="table")

    managed = command("import", "load a device manager's listings of its devices into the fleet store",
                      lazy("banwatch.fleet.cli.imports", "run_import"))
    managed.add_argument("manager", choices=IMPORTERS, metavar="MANAGER", help=", ".join(IMPORTERS))
    managed.add_argument("files", nargs="+", metavar="FILE", help="listing pages, as the manager's API returns them")
    managed.add_argument("--inventory", metavar="INV", help="the inventory whose hosts' banwatch_managed_device_id "
                         "the devices are matched by (default: the configuration's)")
    managed.add_argument("--policy", metavar="DIR", help="policy source: which apps are banned or under review "
                         "(default: the configuration's)")
    managed.add_argument("--export", metavar="DIR", help="the folder 'banwatch export' wrote: each device's document, "
                         "its exemptions and policy version (default: the configuration's; without one, no "
                         "exemption covers a managed device)")
    managed.add_argument("--checked-in", metavar="TIME", help="apple_mdm, a bare response plist: when the device "
                         "sent it (RFC 3339)")

    report = viewing("report", "write the fleet as one static, self-contained HTML page",
                     lazy(_RUN_WITH_POLICY, "run_report"))
    report.add_argument("--html", required=True, metavar="FILE", help="where to write the page")
    report.add_argument("--policy", metavar="DIR", help="policy source, for the exemptions table "
                        "(default: the configuration's)")
    report.add_argument("--expiring-days", type=int, default=EXPIRING_DAYS, metavar="N")
