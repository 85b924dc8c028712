"""The effective policy of one host: what the control node signs and the device enforces.

All apps of the ban list (banned and under review), and only the exemptions that name this
host or one of its groups and have not expired when the policy is issued. The payload is
plain data in canonical JSON; `policy_from_payload` turns a verified payload back into the
model the scanner uses.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any

from banwatch.errors import InputError, Problem
from banwatch.inventory import InventoryHost
from banwatch.policy.model import App, Exemption, MatchRules, PolicySource
from banwatch.timestamps import isoformat

POLICY_SCHEMA = "banwatch.policy/1"
PAYLOAD_TYPE = "application/vnd.banwatch.policy+json"
DEFAULT_VALID_DAYS = 30


def app_document(app: App) -> dict[str, Any]:
    match = {key: list(value) if isinstance(value, tuple) else {m: list(v) for m, v in value.items()}
             for key, value in asdict(app.match).items() if value}
    return {"id": app.id, "name": app.name, "reason": app.reason, "severity": app.severity,
            "action": app.action, "status": app.status, "match": match}


def exemption_document(exemption: Exemption) -> dict[str, Any]:
    return {"id": exemption.id, "app": exemption.app, "hosts": list(exemption.hosts),
            "groups": list(exemption.groups), "reason": exemption.reason, "approved_by": exemption.approved_by,
            "ticket": exemption.ticket, "expires": exemption.expires.isoformat()}


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


def effective_payload(source: PolicySource, host: InventoryHost, *, version: int, issued_at: dt.datetime,
                      valid_days: int = DEFAULT_VALID_DAYS, apps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """`apps` (the ban list as documents) is the same for every host: pass it to build it once."""
    groups = frozenset(host.groups)
    exemptions = [exemption_document(e) for e in source.exemptions
                  if e.covers(host.name, groups) and not e.expired(issued_at.date())]
    return {
        "schema": POLICY_SCHEMA,
        "version": version,
        "issued_at": isoformat(issued_at),
        "expires_at": isoformat(issued_at + dt.timedelta(days=valid_days)),
        "host": {"name": host.name, "machine_id": host.machine_id, "groups": sorted(groups)},
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


def policy_from_payload(payload: dict[str, Any], where: str, digest: str) -> PolicySource:
    """The scanner's model of a verified payload. Raises ValueError when the payload is malformed."""
    try:
        apps = tuple(
            App(a["id"], a["name"], a["reason"], a["severity"], a["action"], a["status"],
                MatchRules(**{key: (tuple(value) if isinstance(value, list)
                                    else {m: tuple(v) for m, v in value.items()})
                              for key, value in a["match"].items()}))
            for a in payload["apps"])
        exemptions = tuple(
            Exemption(e["id"], e["app"], tuple(e["hosts"]), tuple(e["groups"]), e["reason"], e["approved_by"],
                      e["ticket"], dt.date.fromisoformat(e["expires"]))
            for e in payload["exemptions"])
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"malformed policy payload ({type(exc).__name__}: {exc})") from None
    return PolicySource(where, apps, exemptions, 0, frozenset(), frozenset(), digest)
