"""`policy check | build | verify`: validate a source; build, sign and check per-host policies."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys

from banwatch.control import builds
from banwatch.control.ansible_inventory import load_inventory
from banwatch.control.effective import DEFAULT_VALID_DAYS, build_payloads
from banwatch.control.managed.inventory import is_managed
from banwatch.control.policy_source import PolicySource, load_policy_source
from banwatch.core import render, signing
from banwatch.core.atomic import write_atomic
from banwatch.core.cli import EXIT_INPUT, EXIT_OK, lazy, print_json_line
from banwatch.core.errors import InputError
from banwatch.core.policy.payload import PAYLOAD_TYPE
from banwatch.core.policy.verify import PolicyRejected, read_policy_file, verify_policy


def add_policy_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("policy", help="work with policy sources")
    commands = parser.add_subparsers(metavar="COMMAND")
    check = commands.add_parser("check", help="validate a policy source directory")
    check.add_argument("path", metavar="PATH", help="directory holding banlist.yml and exemptions.yml")
    check.add_argument("--as-of", metavar="YYYY-MM-DD", help="check as on this date (default: today, UTC)")
    check.set_defaults(handler=run_check)

    coverage = commands.add_parser("coverage", help="what each device manager can block, only detect, or not see")
    coverage.add_argument("--source", required=True, metavar="DIR",
                          help="policy source (banlist.yml, exemptions.yml)")
    coverage.add_argument("--inventory", metavar="INV", help="only the managers and enrolments of this inventory's "
                          "managed hosts, with how many of each (default: every kind)")
    coverage.add_argument("--as-of", metavar="YYYY-MM-DD",
                          help="check the source as on this date (default: today, UTC)")
    coverage.add_argument("--json", action="store_true", help="print the rows as JSON")
    coverage.set_defaults(handler=lazy("banwatch.control.cli.export", "run_coverage"))

    build = commands.add_parser("build", help="compute, sign and write each agent host's effective policy "
                                "(managed hosts get theirs from 'banwatch export')")
    build.add_argument("--source", required=True, metavar="DIR", help="policy source (banlist.yml, exemptions.yml)")
    build.add_argument("--inventory", required=True, metavar="INV",
                       help="Ansible YAML inventory (- reads it from standard input), or the FILE.json "
                       "'ansible-inventory --list' writes of any inventory")
    build.add_argument("--key", required=True, action="append", metavar="KEY",
                       help="private signing key (repeat to sign with several, e.g. during rotation)")
    build.add_argument("--passphrase-file", metavar="FILE", help="passphrase of the signing key(s)")
    build.add_argument("--out", required=True, metavar="DIR", help="where to write <host>.policy.json files")
    build.add_argument("--version", type=int, metavar="N", help="policy version (default: highest in --out, plus 1)")
    build.add_argument("--issued-at", metavar="TIME", help="issue time, ISO 8601 (default: now)")
    build.add_argument("--valid-days", type=int, default=DEFAULT_VALID_DAYS, metavar="DAYS",
                       help=f"days until the policy expires on devices (default {DEFAULT_VALID_DAYS})")
    build.add_argument("--reuse-unchanged", action="store_true",
                       help="issue nothing when every host's policy would have the same content as the previous build")
    build.add_argument("--previous", metavar="DIR", help="the previous build to number from and compare with "
                       "(default: --out)")
    build.add_argument("--renew-days", type=int, metavar="DAYS",
                       help="with --reuse-unchanged, re-issue when the previous build expires within DAYS "
                       "(default: a third of --valid-days)")
    build.add_argument("--json", action="store_true", help="print one JSON line: version, changed, out, hosts")
    build.set_defaults(handler=run_build)

    verify = commands.add_parser("verify", help="check a signed policy as a device would")
    verify.add_argument("file", metavar="FILE")
    verify.add_argument("--key", required=True, action="append", metavar="PUBKEY", help="trusted public key(s)")
    verify.add_argument("--machine-id", metavar="ID", help="check the policy is bound to this machine id")
    verify.set_defaults(handler=run_verify)


def as_of_option(text: str | None) -> dt.date:
    if text is None:
        return dt.datetime.now(dt.timezone.utc).date()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError.single("--as-of", f"'{text}' is not a date", "write it as YYYY-MM-DD") from None


def issued_at_option(text: str | None) -> dt.datetime:
    """`--issued-at` as a UTC moment (now, to the second, when not given)."""
    if text is None:
        return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError.single("--issued-at", f"'{text}' is not a time",
                                "write it as ISO 8601, e.g. 2026-11-25T09:00:00Z") from None
    return moment.replace(tzinfo=moment.tzinfo or dt.timezone.utc).astimezone(dt.timezone.utc)


def run_build(args: argparse.Namespace) -> int:
    if not 1 <= args.valid_days <= 366:
        raise InputError.single("--valid-days", f"{args.valid_days} days", "use 1 to 366 days")
    if args.version is not None and args.version < 1:
        raise InputError.single("--version", f"{args.version}", "use a positive whole number")
    renew_days = args.valid_days // 3 if args.renew_days is None else args.renew_days
    if not 0 <= renew_days < args.valid_days:
        raise InputError.single("--renew-days", f"{renew_days} days", f"use 0 to {args.valid_days - 1} days")
    issued_at = issued_at_option(args.issued_at)
    source = load_policy_source(args.source, issued_at.date())
    hosts = [host for host in load_inventory(args.inventory).values() if not is_managed(host)]
    passphrase = signing.read_passphrase(args.passphrase_file)
    keys = [signing.load_private_key(path, passphrase) for path in args.key]
    previous = args.previous or args.out
    version = args.version or builds.highest_built_version(previous) + 1
    payloads = build_payloads(source, hosts, version=version, issued_at=issued_at, valid_days=args.valid_days)
    reused = builds.reusable_version(previous, payloads, now=issued_at, renew_before=dt.timedelta(days=renew_days)) \
        if args.reuse_unchanged else None
    if reused is not None:
        builds.copy_previous(previous, args.out, list(payloads))
        version = reused
    else:
        os.makedirs(args.out, exist_ok=True)
        for name, payload in payloads.items():
            envelope = signing.sign(signing.canonical_json(payload), PAYLOAD_TYPE, keys)
            write_atomic(builds.policy_file(args.out, name), signing.canonical_json(envelope))
    changed = reused is None
    if args.json:
        print_json_line({"version": version, "changed": changed, "out": os.path.abspath(args.out),
                         "hosts": sorted(payloads)})
        return EXIT_OK
    exempted = sum(1 for p in payloads.values() if p["exemptions"])
    if not changed:
        print(f"policy version {version} is current for {len(payloads)} hosts in {args.out}: nothing to issue")
        return EXIT_OK
    print(f"built policy version {version} for {len(payloads)} hosts ({exempted} with exemptions) in {args.out}, "
          f"signed by {', '.join(signing.key_id(k.public_key()) for k in keys)}, "
          f"expires {next(iter(payloads.values()))['expires_at']}")
    return EXIT_OK


def run_verify(args: argparse.Namespace) -> int:
    trusted = {signing.key_id(key): key for key in (signing.load_public_key(path) for path in args.key)}
    now = dt.datetime.now(dt.timezone.utc)
    try:
        policy = verify_policy(read_policy_file(args.file), trusted, machine_id=args.machine_id, host_name=None,
                               now=now)
    except PolicyRejected as exc:
        print(f"{args.file}: rejected: {exc}", file=sys.stderr)
        return EXIT_INPUT
    payload = policy.payload
    print(f"{args.file}: valid policy version {policy.version} for {payload['host']['name']} "
          f"(machine id {payload['host']['machine_id'] or 'not bound'}), issued {payload['issued_at']}, "
          f"expires {payload['expires_at']}; {len(payload['apps'])} apps, "
          f"exemptions: {', '.join(e['id'] for e in payload['exemptions']) or 'none'}")
    return EXIT_OK


def run_check(args: argparse.Namespace) -> int:
    today = as_of_option(args.as_of)
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
