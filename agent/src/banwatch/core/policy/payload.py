"""The signed policy's payload, both ways: the documents the control node writes for each app and
exemption, and `read_compiled`, which reads them back into the model on a device."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from banwatch.core.checker import Checker
from banwatch.core.errors import InputError, Problem
from banwatch.core.policy.entries import UNIQUE_EXEMPTION_FIX, read_apps, read_exemption, unique_entries
from banwatch.core.policy.model import EXPORT_ONLY_KEYS, App, Exemption
from banwatch.core.safe_yaml import Document

POLICY_SCHEMA = "banwatch.policy/1"

PAYLOAD_TYPE = "application/vnd.banwatch.policy+json"


def app_document(app: App) -> dict[str, Any]:
    match = {key: list(value) if isinstance(value, tuple) else {m: list(v) for m, v in value.items()}
             for key, value in asdict(app.match).items() if value and key not in EXPORT_ONLY_KEYS}
    return {"id": app.id, "name": app.name, "reason": app.reason, "severity": app.severity,
            "action": app.action, "status": app.status, "match": match}


def exemption_document(exemption: Exemption) -> dict[str, Any]:
    return {"id": exemption.id, "app": exemption.app, "hosts": list(exemption.hosts),
            "groups": list(exemption.groups), "reason": exemption.reason, "approved_by": exemption.approved_by,
            "ticket": exemption.ticket, "expires": exemption.expires.isoformat()}


def read_compiled(apps: Any, exemptions: Any, where: str) -> tuple[tuple[App, ...], tuple[Exemption, ...]]:
    """The apps and exemptions a signed policy carries, held to the rules of the source they were
    built from, so a device never enforces what `policy check` would refuse (a rule that is not
    text, a glob that matches everything); InputError naming the entry otherwise. The register's
    date rules are not applied again: they held on the control node when the policy was issued."""
    problems: list[Problem] = []
    check = Checker(Document(where, {"apps": apps, "exemptions": exemptions}), problems)
    compiled_apps, _declared = read_apps(check, {"apps": apps})
    if not isinstance(exemptions, list):
        check.add(("exemptions",), None, "'exemptions' must be a list", "issue the policy again")
        exemptions = []
    compiled_exemptions = unique_entries(check, exemptions, "exemptions", "exemption", read=read_exemption,
                                         fix=UNIQUE_EXEMPTION_FIX)
    if problems:
        raise InputError(problems)
    return compiled_apps, tuple(exemption for exemption, _path, _entry in compiled_exemptions)

