"""The fleet as one static HTML page: counts by state, the host table, the exemptions table, the
ban list's apps with a chart of each one's daily count, and the fleet's compliance over time.

Self-contained (inline CSS and SVG, no script, no image file, no font to fetch) and locked down by its own
Content-Security-Policy, so it opens anywhere, offline, and nothing in a report can make it
load anything. Every value from a report is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

from banwatch.core.render import visible
from banwatch.fleet.apps import AppRow, ComplianceDay, Window, counts_text
from banwatch.fleet.views import ExemptionRow, StatusRow, UncoveredApp, state_counts

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}.meta{color:#5b6475;margin:0 0 18px}
.counts{display:flex;gap:10px;flex-wrap:wrap}.count{border-radius:8px;padding:10px 16px;min-width:96px;color:#fff}
.count b{display:block;font-size:26px;line-height:1.1}.count span{font-size:13px;text-transform:uppercase}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 9px;border-bottom:1px solid #e3e6ec;
vertical-align:top}th{background:#f3f5f8;font-size:12px;text-transform:uppercase;color:#3c4454}
.badge{display:inline-block;border-radius:4px;padding:1px 7px;color:#fff;font-size:12px;font-weight:600}
.violation{background:#c62828}.error{background:#ad4f00}.stale{background:#7b5ea7}.unreported{background:#6b7280}
.exempt{background:#1565c0}.compliant{background:#2e7d32}.applied{background:#2e7d32}.pending{background:#b26a00}
.expired{background:#6b7280}.blocked{background:#c62828}.expiring{background:#b26a00}.active{background:#2e7d32}
.banned{background:#c62828}.under_review{background:#b26a00}svg.chart{display:block}
.skew{background:#ad4f00}.muted{color:#5b6475}.none{color:#5b6475;font-style:italic}td:first-child{white-space:nowrap}
"""


def _e(value: object) -> str:
    return html.escape(visible("-" if value is None or value == "" else str(value)))


def _badge(word: str) -> str:
    return f'<span class="badge {_e(word)}">{_e(word)}</span>'


def _table(table_id: str, headers: Sequence[str], rows: Iterable[Sequence[str]], empty: str) -> str:
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="none" id="{table_id}">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _status_cells(row: StatusRow) -> list[str]:
    report = row.entry.report
    skew = '<br><span class="badge skew">clock skew</span>' if report is not None and report.clock_text else ""
    return [_e(row.host), _badge(row.state), _e(row.source), _e(", ".join(row.groups)), _e(row.agent), _e(row.policy),
            _e(row.last_report) + skew,
            "<br>".join(_e(line) for line in row.detail_lines())]


def _exemption_rows(rows: Sequence[ExemptionRow]) -> list[list[str]]:
    cells = []
    for row in rows:
        due = f"{_e(row.expires)}<br>{_badge(row.status)} <span class='muted'>{_days(row.days_left)}</span>"
        hosts = "<br>".join(f"{_e(h.host)} {_badge(h.cover)}" + (" app present" if h.app_present else "")
                            for h in row.hosts) or '<span class="none">covers no host</span>'
        cells.append([_e(row.id), _e(row.app), due, hosts, _e(row.reason),
                      f"{_e(row.approved_by)}<br><span class='muted'>{_e(row.ticket)}</span>"])
    return cells


def _days(days_left: int) -> str:
    return f"{-days_left} days ago" if days_left < 0 else f"in {days_left} days"


# Bar colours of the charts: an app's by its status, the compliant share green; a day at zero is
# a thin line: grey, or red on a day hosts reported and none was compliant.
_BAR = {"banned": "#c62828", "under_review": "#b26a00"}
_COMPLIANT_BAR, _EMPTY_DAY, _NONE_COMPLIANT = "#2e7d32", "#d5d9e0", "#c62828"
_BAR_WIDTH, _GAP = 6, 2


def _bars(values: Sequence[tuple[float, str, str, str]], height: int, colour: str, label: str) -> str:
    """An inline SVG bar chart: per day (oldest first) its height as a share of the tallest (0 to
    1), its hover text, its data attributes, and the colour of the thin line a day at zero shows."""
    width = len(values) * (_BAR_WIDTH + _GAP)
    bars = []
    for n, (share, hover, data, zero) in enumerate(values):
        tall = max(round(share * (height - 2)), 0)
        fill, tall = (colour, tall) if tall else (zero, 2)
        bars.append(f'<rect x="{n * (_BAR_WIDTH + _GAP)}" y="{height - tall}" width="{_BAR_WIDTH}" height="{tall}" '
                    f'fill="{fill}" {data}><title>{_e(hover)}</title></rect>')
    return (f'<svg class="chart" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(label)}">{"".join(bars)}</svg>')


def _app_chart(row: AppRow, window: Window) -> str:
    tallest = max(row.daily) or 1
    return _bars([(n / tallest, f"{day}: {n} device(s)", f'data-day="{day}" data-devices="{n}"', _EMPTY_DAY)
                  for day, n in zip(window.dates(), row.daily)], 28, _BAR.get(row.status, "#1565c0"),
                 f"{row.app}: devices per day")


def _app_cells(row: AppRow, window: Window) -> list[str]:
    return [_e(row.app), _badge(row.status), _e(row.devices), _e(counts_text(row.by_group)),
            _e(counts_text(row.by_source)), _e(row.first_seen), _e(row.last_seen), _app_chart(row, window)]


def _compliance_part(days: Sequence[ComplianceDay]) -> str:
    reported = [d for d in days if d.hosts]
    if not reported:
        return '<p class="none" id="compliance">No reports in the window.</p>'
    last = reported[-1]
    chart = _bars([(d.share or 0.0, f"{d.day}: {d.compliant} of {d.hosts} host(s) compliant",
                    f'data-day="{d.day}" data-hosts="{d.hosts}" data-compliant="{d.compliant}"',
                    _NONE_COMPLIANT if d.hosts else _EMPTY_DAY) for d in days],
                  60, _COMPLIANT_BAR, "share of reporting hosts compliant, per day")
    return (f'<div id="compliance">{chart}<p class="muted">{days[0].day} to {days[-1].day}: of the hosts that '
            f'reported each day, those whose every report that day stated compliant. Last day with reports, '
            f'{_e(last.day)}: {last.compliant} of {last.hosts}.</p></div>')


def _apps_part(apps: Sequence[AppRow] | None, window: Window | None) -> str:
    if apps is None or window is None:
        return '<p class="none" id="apps">No ban list given (--policy).</p>'
    return _table("apps", ("app", "status", "devices now", "by group", "by source", "first seen", "last seen",
                           f"devices per day, {window.first.isoformat()} to {window.today.isoformat()}"),
                  (_app_cells(row, window) for row in apps), "The ban list holds no app.")


def render_page(*, generated_at: str, store: str, status: Sequence[StatusRow],
                exemptions: Sequence[ExemptionRow] | None, uncovered: Sequence[UncoveredApp],
                refused: int, apps: Sequence[AppRow] | None = None, window: Window | None = None,
                compliance: Sequence[ComplianceDay] = ()) -> str:
    """`apps` None: no ban list given; `compliance` empty: no over-time section (no window)."""
    counts = state_counts(row.state for row in status)
    tiles = "".join(f'<div class="count {state}" data-state="{state}"><b>{count}</b><span>{state}</span></div>'
                    for state, count in counts.items())
    host_table = _table("hosts", ("host", "state", "source", "groups", "agent", "policy", "last report",
                                  "findings / why"),
                        (_status_cells(row) for row in status), "No hosts: no inventory given and nothing ingested.")
    if exemptions is None:
        exemption_part = '<p class="none" id="exemptions">No exemption register given (--policy).</p>'
    else:
        exemption_part = _table("exemptions", ("exemption", "app", "expires", "hosts covered", "reason",
                                               "approved by / ticket"),
                                _exemption_rows(exemptions), "The register holds no exemption.")
    uncovered_part = _table("uncovered", ("app", "host", "state", "finding"),
                            ([_e(u.app), _e(u.host), _badge(u.state), _e("; ".join(u.findings))] for u in uncovered),
                            "No exempted app is present without cover.")
    note = f" · {refused} report file(s) refused" if refused else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>banwatch fleet report</title><style>{_CSS}</style></head>
<body>
<h1>banwatch fleet report</h1>
<p class="meta">{len(status)} hosts · generated {_e(generated_at)} from {_e(store)}{html.escape(note)}</p>
<div class="counts" id="counts">{tiles}</div>
<h2>Hosts</h2>
{host_table}
<h2>Exemptions</h2>
{exemption_part}
<h2>Exempted apps present without cover</h2>
{uncovered_part}
<h2>Apps of the ban list</h2>
{_apps_part(apps, window)}
<h2>Compliance over time</h2>
{_compliance_part(compliance)}
</body></html>
"""
