"""`policy check`: validate a policy source and show what it bans and who is exempt."""

from __future__ import annotations

import argparse
import datetime as dt

from banwatch import render
from banwatch.cli.common import EXIT_OK
from banwatch.errors import InputError
from banwatch.policy import PolicySource, load_policy_source


def add_policy_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("policy", help="work with policy sources")
    commands = parser.add_subparsers(metavar="COMMAND")
    check = commands.add_parser("check", help="validate a policy source directory")
    check.add_argument("path", metavar="PATH", help="directory holding banlist.yml and exemptions.yml")
    check.add_argument("--as-of", metavar="YYYY-MM-DD", help="check as on this date (default: today, UTC)")
    check.set_defaults(handler=run_check)


def _as_of(text: str | None) -> dt.date:
    if text is None:
        return dt.datetime.now(dt.timezone.utc).date()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError.single("--as-of", f"'{text}' is not a date", "write it as YYYY-MM-DD") from None


def run_check(args: argparse.Namespace) -> int:
    today = _as_of(args.as_of)
    policy = load_policy_source(args.path, today)
    print(format_check(policy, today))
    return EXIT_OK


def format_check(policy: PolicySource, today: dt.date) -> str:
    banned = [a for a in policy.apps if a.banned]
    lines = [f"{policy.directory}: valid ({policy.digest[:19]}…)",
             f"apps: {len(policy.apps)} ({len(banned)} banned, {len(policy.apps) - len(banned)} under review)",
             render.table(("id", "name", "status", "severity", "action"),
                          [(a.id, a.name, a.status, a.severity, a.action) for a in policy.apps])]
    active = policy.active_exemptions(today)
    expired = policy.expired_exemptions(today)

    def rows(items: tuple) -> list[tuple]:
        return [(e.id, e.app, ", ".join([*e.hosts, *(f"@{g}" for g in e.groups)]), e.expires.isoformat(),
                 f"{(e.expires - today).days}d" if not e.expired(today) else "expired", e.ticket) for e in items]

    headers = ("id", "app", "hosts/@groups", "expires", "left", "ticket")
    lines += ["", f"exemptions in force: {len(active)}"]
    if active:
        lines.append(render.table(headers, rows(active)))
    lines += ["", f"expired exemptions (history, never applied): {len(expired)}"]
    if expired:
        lines.append(render.table(headers, rows(expired)))
    if policy.never_exempt_groups or policy.never_exempt_hosts:
        never = sorted(f"@{g}" for g in policy.never_exempt_groups) + sorted(policy.never_exempt_hosts)
        lines += ["", f"never exemptable: {', '.join(never)}"]
    return "\n".join(lines)
