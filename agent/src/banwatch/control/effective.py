"""The effective policy of one host: what the control node signs and the device enforces.

All apps of the ban list (banned and under review), and only the exemptions that name this
host or one of its groups and have not expired when the policy is issued. The payload's
documents and schema are the core's (`banwatch.core.policy.payload`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from banwatch.control.ansible_inventory import InventoryHost
from banwatch.control.policy_source import PolicySource
from banwatch.core.errors import InputError, Problem
from banwatch.core.policy.model import Exemption
from banwatch.core.policy.payload import POLICY_SCHEMA, app_document, exemption_document
from banwatch.core.timestamps import isoformat

DEFAULT_VALID_DAYS = 30


def never_exempt_conflicts(source: PolicySource, hosts: list[InventoryHost]) -> list[Problem]:
    """Exemptions that would reach a never-exemptable host through the inventory (a host named
    directly, or a group it shares with a never-exemptable group)."""
    problems = []
    for host in hosts:
        blocked = sorted(host.groups & source.never_exempt_groups) or (
            [host.name] if host.name in source.never_exempt_hosts else [])
        if not blocked:
            continue
        for exemption in source.exemptions:
            if exemption.covers(host.name, frozenset(host.groups)):
                how = "by name" if host.name in exemption.hosts else \
                    f"through group {', '.join(sorted(set(exemption.groups) & host.groups))}"
                problems.append(Problem(
                    "exemptions.yml", None, f"exemption '{exemption.id}'",
                    f"covers host {host.name} {how}, but that host is in never-exemptable {', '.join(blocked)}",
                    f"take {host.name} out of the exemption's groups in the inventory, or narrow the exemption"))
    return problems


def host_exemptions(source: PolicySource, host: InventoryHost, today: dt.date) -> list[Exemption]:
    """The exemptions in force for `host` on `today`: those naming it or one of its groups and not
    yet expired. What a device's signed policy carries, and what `banwatch export` relaxes a
    managed device's document by."""
    groups = frozenset(host.groups)
    return [e for e in source.exemptions if e.covers(host.name, groups) and not e.expired(today)]


def effective_payload(source: PolicySource, host: InventoryHost, *, version: int, issued_at: dt.datetime,
                      valid_days: int = DEFAULT_VALID_DAYS, apps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """`apps` (the ban list as documents) is the same for every host: pass it to build it once."""
    exemptions = [exemption_document(e) for e in host_exemptions(source, host, issued_at.date())]
    return {
        "schema": POLICY_SCHEMA,
        "version": version,
        "issued_at": isoformat(issued_at),
        "expires_at": isoformat(issued_at + dt.timedelta(days=valid_days)),
        "host": {"name": host.name, "machine_id": host.machine_id, "groups": sorted(host.groups)},
        "apps": apps if apps is not None else [app_document(app) for app in source.apps],
        "exemptions": exemptions,
        "source_digest": source.digest,
    }


def build_payloads(source: PolicySource, hosts: list[InventoryHost], *, version: int, issued_at: dt.datetime,
                   valid_days: int = DEFAULT_VALID_DAYS) -> dict[str, dict[str, Any]]:
    """Every host's payload, or InputError (and nothing) when any exemption reaches a forbidden host."""
    problems = never_exempt_conflicts(source, hosts)
    if problems:
        raise InputError(problems)
    apps = [app_document(app) for app in source.apps]
    return {host.name: effective_payload(source, host, version=version, issued_at=issued_at, valid_days=valid_days,
                                         apps=apps)
            for host in hosts}


