"""Santa (macOS): one rules file per set of Macs with the same bans, in the form
`santactl rule --import FILE` reads and a sync server serves: `{"rules": [...]}`, each rule a
BLOCKLIST of a binary's SHA-256, a signing ID (`TEAMID:id` or `platform:id`) or a Team ID.

Santa has no rule by bundle id or name: an app the ban list names only by those cannot be
blocked by Santa (coverage says so). An import adds and replaces rules but removes none, so a
Mac moved to a stricter file gains its rules at once; one moved to a more relaxed file keeps
the old block until the sync server (or `santactl rule --remove`) drops it.
"""

from __future__ import annotations

import datetime as dt

from banwatch.control.managed import platforms
from banwatch.control.managed.compile import plan_documents
from banwatch.control.managed.inventory import SANTA, ManagedDevice
from banwatch.control.managed.manifest import ManagerExport, json_bytes
from banwatch.control.policy_source import PolicySource


def compile_santa(source: PolicySource, devices: list[ManagedDevice], today: dt.date) -> ManagerExport:
    export = ManagerExport(SANTA)
    documents, _none = plan_documents(source, devices, today=today, variant=lambda _d: "macos",
                                      names=platforms.santa_identifiers)
    for document in documents:
        rules = sorted(({"identifier": identifier, "policy": "BLOCKLIST", "rule_type": kind,
                         "custom_msg": f"{app.name} is banned on this device ({app.id})"}
                        for app in document.apps for kind, identifier in platforms.santa_rules(app)),
                       key=lambda rule: (rule["rule_type"], rule["identifier"]))
        export.add(document, {f"rules/{document.id}.json": json_bytes({"rules": rules})},
                   [rule["identifier"] for rule in rules])
    return export
