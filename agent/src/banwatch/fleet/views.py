"""The admin's views of the fleet store: status, exemptions, rollout — as plain rows.

Each view takes the hosts (the inventory's, joined with every host that ever reported) and
returns data classes; the command line and the HTML page only render them. A host that
reports but is missing from the inventory is still shown: the store trusts enrolled keys,
and an admin needs to see the gap.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from banwatch.fleet.states import STATES, UNREPORTED, StateJudge
from banwatch.fleet.store import LatestReport
from banwatch.inventory import InventoryHost
from banwatch.policy.model import Exemption, PolicySource
from banwatch.verdicts import EXEMPT, UNDER_REVIEW, VIOLATION


class FleetHost(NamedTuple):
    name: str
    latest: LatestReport | None
    in_inventory: bool
    inventory_groups: tuple[str, ...] | None = None  # None: not in the inventory, or no inventory given

    @property
    def groups(self) -> tuple[str, ...]:
        """The inventory's groups, else those its last report names (split only when asked)."""
        if self.inventory_groups is not None:
            return self.inventory_groups
        return () if self.latest is None else self.latest.groups


def fleet_hosts(latest: Iterable[LatestReport], inventory: Mapping[str, InventoryHost] | None) -> list[FleetHost]:
    """Inventory hosts (with the inventory's groups) and reporting hosts, by name (the store
    gives its reports by host name already)."""
    if inventory is None:
        return [FleetHost(report.host, report, True) for report in latest]
    reported = {report.host: report for report in latest}
    hosts = [FleetHost(name, reported.get(name), True, tuple(sorted(host.groups))) for name, host in inventory.items()]
    hosts += [FleetHost(name, report, False) for name, report in reported.items() if name not in inventory]
    return sorted(hosts, key=lambda host: host.name)


def describe_finding(finding: Mapping[str, Any]) -> str:
    """`tiktok exempt EX-2026-014 (pid 5 TikTok)`: short enough for a table cell."""
    cover = f" {finding['exemption']}" if finding.get("exemption") else ""
    seen = f" ({finding['seen']})" if finding.get("seen") else ""
    return f"{finding['app']} {finding['verdict']}{cover}{seen}"


# --- status -----------------------------------------------------------------------------------

class StatusRow(NamedTuple):
    """A host's row in `fleet status`: its state, and what its last report says. Only the state
    is worked out for every host; the rest is read from the report when a view shows it."""

    entry: FleetHost
    state: str
    reason: str

    @property
    def host(self) -> str:
        return self.entry.name

    @property
    def groups(self) -> tuple[str, ...]:
        return self.entry.groups

    @property
    def in_inventory(self) -> bool:
        return self.entry.in_inventory

    @property
    def findings(self) -> tuple[str, ...]:
        report = self.entry.latest
        if report is None or report.findings_json == "[]":
            return ()
        return tuple(describe_finding(f) for f in report.findings)

    def document(self) -> dict[str, Any]:
        report = self.entry.latest
        return {"host": self.host, "state": self.state, "reason": self.reason, "groups": self.groups,
                "agent_version": report and report.agent_version, "policy_version": report and report.policy_version,
                "policy_state": report and report.policy_state, "last_report": report and report.generated_at,
                "findings": self.findings, "dropped_reports": report.dropped if report else 0,
                "detection": report and report.detection, "in_inventory": self.in_inventory}

    def versions(self) -> tuple[str | None, str | None, str | None]:
        """agent (`0.1.0 (polling)`), policy (`v7`, `v7 expired`), last report; None: never reported."""
        report = self.entry.latest
        if report is None:
            return None, None, None
        agent = report.agent_version if report.detection is None else f"{report.agent_version} ({report.detection})"
        policy = None if report.policy_version is None else (
            f"v{report.policy_version}" if report.policy_state in (None, "valid")
            else f"v{report.policy_version} {report.policy_state}")
        return agent, policy, report.generated_at

    def cells(self) -> tuple[str | None, ...]:
        """The table's row: host, state, `versions()`, and the findings of a violation or an
        exemption, else why the host is in its state."""
        report = self.entry.latest
        plain = report is None or (report.findings_json == "[]" and not report.dropped)  # most hosts
        return (self.entry.name, self.state, *self.versions(),
                self.reason if plain else "; ".join(self.detail_lines()))

    def detail_lines(self) -> list[str]:
        """The findings of a violation or an exemption, else why the host is in its state."""
        findings = self.findings
        lines = list(findings) if self.state in (VIOLATION, EXEMPT) and findings else [self.reason]
        dropped = self.entry.latest.dropped if self.entry.latest else 0
        if dropped:
            lines.append(f"{dropped} earlier report(s) dropped by the device's full spool")
        return lines


def status_rows(hosts: Iterable[FleetHost], now: dt.datetime, stale_after: dt.timedelta) -> list[StatusRow]:
    state = StateJudge(now, stale_after).state
    return [StatusRow(host, *state(host.latest)) for host in hosts]


def state_counts(rows: Iterable[StatusRow]) -> dict[str, int]:
    """Hosts per state, every state present (zero or not), most urgent first."""
    counts = Counter(row.state for row in rows)
    return {state: counts.get(state, 0) for state in STATES}


# --- exemptions -------------------------------------------------------------------------------

APPLIED, PENDING, EXPIRED, BLOCKED = "applied", "pending", "expired", "blocked"
ACTIVE, EXPIRING = "active", "expiring"


@dataclass(frozen=True)
class CoveredHost:
    host: str
    cover: str  # applied | pending | expired | blocked (never exemptable)
    app_present: bool
    state: str
    in_inventory: bool


@dataclass(frozen=True)
class ExemptionRow:
    id: str
    app: str
    expires: str
    days_left: int
    status: str  # active | expiring | expired
    reason: str
    approved_by: str
    ticket: str
    hosts: tuple[CoveredHost, ...]

    def document(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class UncoveredApp:
    """A banned app that has exemptions somewhere, found on a host where none covers it."""

    app: str
    host: str
    state: str
    findings: tuple[str, ...]

    def document(self) -> dict[str, Any]:
        return asdict(self)


def _app_present(report: LatestReport | None, app: str) -> bool:
    return report is not None and any(f["app"] == app and f["verdict"] != UNDER_REVIEW for f in report.findings)


def _cover(exemption: Exemption, host: FleetHost, source: PolicySource, today: dt.date) -> str:
    if exemption.expired(today):
        return EXPIRED
    if host.name in source.never_exempt_hosts or set(host.groups) & source.never_exempt_groups:
        return BLOCKED
    return APPLIED if host.latest is not None and exemption.id in host.latest.exemptions else PENDING


def exemption_view(source: PolicySource, hosts: list[FleetHost], *, now: dt.datetime, stale_after: dt.timedelta,
                   expiring_days: int) -> tuple[list[ExemptionRow], list[UncoveredApp]]:
    """Every exemption with each host it covers, and hosts where an exempted app runs uncovered."""
    today = now.date()
    by_name = {host.name: host for host in hosts}
    judge = StateJudge(now, stale_after)
    states = {host.name: judge.state(host.latest)[0] for host in hosts}
    rows = []
    for exemption in source.exemptions:
        covered = [h for h in hosts if exemption.covers(h.name, frozenset(h.groups))]
        covered += [FleetHost(name, None, False) for name in exemption.hosts if name not in by_name]
        days_left = (exemption.expires - today).days
        status = EXPIRED if days_left < 0 else EXPIRING if days_left <= expiring_days else ACTIVE
        rows.append(ExemptionRow(
            exemption.id, exemption.app, exemption.expires.isoformat(), days_left, status, exemption.reason,
            exemption.approved_by, exemption.ticket,
            tuple(CoveredHost(h.name, _cover(exemption, h, source, today), _app_present(h.latest, exemption.app),
                              states.get(h.name, UNREPORTED), h.in_inventory)
                  for h in sorted(covered, key=lambda h: h.name))))
    exempted_apps = {e.app for e in source.exemptions}
    uncovered = [UncoveredApp(f["app"], host.name, states[host.name], (describe_finding(f),))
                 for host in hosts if host.latest is not None
                 for f in host.latest.findings if f["app"] in exempted_apps and f["verdict"] == VIOLATION]
    return rows, uncovered


# --- rollout ----------------------------------------------------------------------------------

HAS, NOT_YET, REJECTED = "has it", "not yet", "rejected"


@dataclass(frozen=True)
class RolloutRow:
    host: str
    status: str  # has it | not yet | rejected | unreported
    current: str | None
    detail: str

    def document(self) -> dict[str, Any]:
        return asdict(self)


def rollout_rows(hosts: Iterable[FleetHost], *, policy_version: int | None = None,
                 agent_version: str | None = None) -> list[RolloutRow]:
    """Which hosts run the policy version (or a later one: a rollback is a new, higher version)
    or exactly the agent version (an agent rollback installs an older one)."""
    rows = []
    for host in hosts:
        report = host.latest
        if report is None:
            rows.append(RolloutRow(host.name, UNREPORTED, None, "never reported"))
            continue
        seen = f"as of {report.generated_at}"
        if agent_version is not None:
            has = report.agent_version == agent_version
            rows.append(RolloutRow(host.name, HAS if has else NOT_YET, report.agent_version, seen))
            continue
        current = report.policy_version
        if current is not None and policy_version is not None and current >= policy_version:
            rows.append(RolloutRow(host.name, HAS, str(current), seen))
        elif report.policy_rejection:
            rows.append(RolloutRow(host.name, REJECTED, None if current is None else str(current),
                                   report.policy_rejection))
        else:
            rows.append(RolloutRow(host.name, NOT_YET, None if current is None else str(current), seen))
    return rows
