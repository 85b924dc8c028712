"""Android Management API: one Policy resource per set of devices with the same bans.

Each blocked package is an `applications[]` entry with `installType: BLOCKED` (it cannot be
installed, and is uninstalled if it was). `playStoreMode` is always `BLACKLIST`: its default,
`WHITELIST`, would remove every app the policy does not list. Application reports are switched
on, so the fleet can see what is installed. A company-owned device with a work profile also
gets the same packages blocked in its personal profile (`personalUsagePolicies`); on a
personally-owned device only the work profile is controlled, so its policy blocks there alone.
The manifest names each device's `policyName`, `enterprises/{enterprise}/policies/{policyId}`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from banwatch.control.managed import platforms
from banwatch.control.managed.compile import Document, plan_documents
from banwatch.control.managed.inventory import ANDROID, ManagedDevice
from banwatch.control.managed.manifest import ManagerExport, json_bytes
from banwatch.control.policy_source import BANLIST_FILE, PolicySource
from banwatch.core.errors import InputError

# The API's limit on `applications` in one policy.
MAX_APPLICATIONS = 3000
POLICY_PREFIX = "banwatch-"


def compile_android(source: PolicySource, devices: list[ManagedDevice], today: dt.date) -> ManagerExport:
    export = ManagerExport(ANDROID)
    documents, _none = plan_documents(source, devices, today=today, variant=lambda d: d.enrolment,
                                      names=platforms.android_packages)
    for document in documents:
        packages = sorted({p for app in document.apps for p in platforms.android_packages(app)})
        if len(packages) > MAX_APPLICATIONS:
            raise InputError.single(
                f"{source.directory}/{BANLIST_FILE}",
                f"the Android policy for host {document.devices[0].name} would block {len(packages)} packages, "
                f"over the Android Management API's {MAX_APPLICATIONS:,}", "ban fewer android_packages",
                entry=f"host {document.devices[0].name}")
        policy_id = POLICY_PREFIX + document.id
        export.add(document, {f"policies/{policy_id}.json": json_bytes(policy(document, packages))}, packages,
                   policy_id=policy_id)
        for device in document.devices:
            export.devices[device.name]["policy_name"] = f"enterprises/{device.android_enterprise}/policies/{policy_id}"
    return export


def policy(document: Document, packages: list[str]) -> dict[str, Any]:
    """The Policy resource's body (what a `patch` of `enterprises.policies` sends)."""
    blocked = [{"packageName": package, "installType": "BLOCKED"} for package in packages]
    body: dict[str, Any] = {
        "applications": blocked,
        "playStoreMode": "BLACKLIST",
        "statusReportingSettings": {"applicationReportsEnabled": True},
    }
    if document.variant == "work_profile":
        body["personalUsagePolicies"] = {"personalPlayStoreMode": "BLOCKLIST",
                                         "personalApplications": [dict(entry) for entry in blocked]}
    return body
