"""The admin's views of the fleet store: status, exemptions, rollout — as plain rows.

Each view takes the hosts (the inventory's, joined with every host that ever reported) and
returns data classes; the command line and the HTML page only render them. A host that
reports but is missing from the inventory is still shown: the store trusts enrolled keys,
and an admin needs to see the gap.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple, Union

from banwatch.core.report.schema import UNDER_REVIEW, VIOLATION
from banwatch.fleet.cell_texts import SEPARATOR, describe_finding, detail_lines
from banwatch.fleet.states import STATES, UNREPORTED, StateJudge
from banwatch.fleet.store import LatestReport, ReportLine

if TYPE_CHECKING:
    from banwatch.control.ansible_inventory import InventoryHost
    from banwatch.control.policy_source import PolicySource
    from banwatch.core.policy.model import Exemption

# What a view read of a host's latest report: the status table's line, or all of it.
Shown = Union[ReportLine, LatestReport]


class FleetHost(NamedTuple):
    name: str
    latest: Shown | None  # None: never reported
    in_inventory: bool
    inventory_groups: Collection[str] | None = None  # None: not in the inventory, or no inventory given

    @property
    def report(self) -> LatestReport | None:
        """All of the host's last report, for the views that show more than the status table."""
        if self.latest is None or isinstance(self.latest, LatestReport):
            return self.latest
        raise TypeError(f"{self.name}: only the status table's line of its last report was read")

    @property
    def groups(self) -> tuple[str, ...]:
        """The inventory's groups, else those its last report names (sorted, or split, only when asked)."""
        if self.inventory_groups is not None:
            return tuple(sorted(self.inventory_groups))
        report = self.report
        return () if report is None else report.groups


def fleet_hosts(latest: Iterable[Shown], inventory: Mapping[str, InventoryHost] | None) -> list[FleetHost]:
    """Inventory hosts (with the inventory's groups) and reporting hosts, by name (the store
    gives its reports by host name already)."""
    if inventory is None:
        return [FleetHost(report.host, report, True) for report in latest]
    reported = {report.host: report for report in latest}
    hosts = [FleetHost(name, reported.pop(name, None), True, host.groups) for name, host in inventory.items()]
    hosts += [FleetHost(name, report, False) for name, report in reported.items()]  # those left: not in it
    hosts.sort(key=attrgetter("name"))
    return hosts


# --- status -----------------------------------------------------------------------------------

class StatusRow(NamedTuple):
    """A host's row in `fleet status`: the table's cells, worked out once for every host (texts
    made at ingest, plus the state as of now), then why the host is in its state and what it is
    built from; the rest of its last report is read only when a view shows it."""

    host: str
    state: str
    source: str | None  # `agent`, or the manager its listing came from; None: never reported
    agent: str | None  # `0.1.0 (polling)`, a managed device's enrolment; None: never reported
    policy: str | None  # `v7`, `v7 expired`
    last_report: str | None
    detail: str  # the findings of a violation or an exemption, else why; dropped reports noted
    reason: str
    entry: FleetHost

    def cells(self) -> tuple[str | None, ...]:
        """host, state, source, agent, policy, last report, detail: the table's row."""
        return self[:7]

    @property
    def in_inventory(self) -> bool:
        return self.entry.in_inventory

    @property
    def groups(self) -> tuple[str, ...]:
        return self.entry.groups

    @property
    def findings(self) -> tuple[str, ...]:
        report = self.entry.report
        if report is None or report.findings_json == "[]":
            return ()
        return tuple(describe_finding(f) for f in report.findings)

    def detail_lines(self) -> list[str]:
        """`detail` as lines, one per finding."""
        report = self.entry.report
        if report is None:
            return detail_lines(self.state, self.reason, (), 0)
        return detail_lines(self.state, self.reason, self.findings, report.dropped, report.clock_text)

    def document(self) -> dict[str, Any]:
        report = self.entry.report
        return {"host": self.host, "state": self.state, "source": self.source, "reason": self.reason,
                "groups": self.groups,
                "agent_version": report and report.agent_version, "policy_version": report and report.policy_version,
                "policy_state": report and report.policy_state, "last_report": self.last_report,
                "findings": self.findings, "dropped_reports": report.dropped if report else 0,
                "detection": report and report.detection, "in_inventory": self.in_inventory,
                "generated_at": report and report.generated_at, "clock_ahead": report.clock_ahead if report else 0}


def status_rows(hosts: Iterable[FleetHost], now: dt.datetime, stale_after: dt.timedelta) -> list[StatusRow]:
    state = StateJudge(now, stale_after).state
    return [_status_row(host, *state(host.latest)) for host in hosts]


def _plain(report: Shown) -> bool:
    """No findings, nothing dropped, no clock skew (most hosts): the row's detail is why the host
    is in its state."""
    return not report.findings_text and not report.dropped and report.clock_text is None


def _status_row(entry: FleetHost, state: str, reason: str) -> StatusRow:
    report = entry.latest
    if report is None:
        return StatusRow(entry.name, state, None, None, None, None, reason, reason, entry)
    if _plain(report):
        detail = reason
    else:  # the stored line of all findings joins as the findings one by one would
        findings = (report.findings_text,) if report.findings_text else ()
        detail = SEPARATOR.join(detail_lines(state, reason, findings, report.dropped, report.clock_text))
    return StatusRow(entry.name, state, report.source, report.agent_text, report.policy_text, report.as_of, detail,
                     reason, entry)


# The cells of a host whose report is current and plain, in the table's order, straight from its
# stored line (the fields a `ReportLine` and a `LatestReport` both begin with).
_PLAIN_CELLS = itemgetter(*map(ReportLine._fields.index,
                               ("host", "state", "source", "agent_text", "policy_text", "as_of", "reason")))


def status_table(hosts: Iterable[FleetHost], now: dt.datetime, stale_after: dt.timedelta) -> list[tuple[object, ...]]:
    """`status_rows(…)`'s cells, without a row object per host: most hosts' last report is current
    and plain, and their cells are the stored line as it is; only the others become rows."""
    judge = StateJudge(now, stale_after)
    table = []
    for host in hosts:
        report = host.latest
        if report is not None and judge.current(report) and _plain(report):
            table.append(_PLAIN_CELLS(report))
        else:
            table.append(_status_row(host, *judge.state(report)).cells())
    return table


def state_counts(states: Iterable[str]) -> dict[str, int]:
    """Hosts per state, every state present (zero or not), most urgent first."""
    counts = Counter(states)
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
    report = host.report
    return APPLIED if report is not None and exemption.id in report.exemptions else PENDING


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
            tuple(CoveredHost(h.name, _cover(exemption, h, source, today), _app_present(h.report, exemption.app),
                              states.get(h.name, UNREPORTED), h.in_inventory)
                  for h in sorted(covered, key=lambda h: h.name))))
    exempted_apps = {e.app for e in source.exemptions}
    uncovered = [UncoveredApp(f["app"], host.name, states[host.name], (describe_finding(f),))
                 for host in hosts if host.report is not None
                 for f in host.report.findings if f["app"] in exempted_apps and f["verdict"] == VIOLATION]
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
        report = host.report
        if report is None:
            rows.append(RolloutRow(host.name, UNREPORTED, None, "never reported"))
            continue
        seen = f"as of {report.as_of}"
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
