"""Android Management API: a page of `enterprises.devices.list` (`{"devices": [...],
"nextPageToken": ...}`), each a Device resource as the v1 discovery document defines it.

Read of each Device: `name` (`enterprises/{enterprise}/devices/{deviceId}`), `lastStatusReportTime`,
`applicationReports[]` (`packageName`, `versionName`, `state`: only INSTALLED apps are there),
`appliedPolicyName` and `appliedPolicyVersion` (an int64, which JSON carries as a string),
`nonComplianceDetails[]` and `state`/`appliedState`. A device that is not ACTIVE, or a policy
setting the device reports it could not apply, is the manager's error; a banned app that is
installed shows as the app itself, not as that error.
"""

from __future__ import annotations

import re
from typing import Any

from banwatch.fleet.imports.listing import (
    MAX_APPS,
    MAX_DEVICES,
    DeviceStatus,
    Fields,
    InstalledApp,
    canonical,
    shown,
)

_DEVICE_NAME = re.compile(r"enterprises/([A-Za-z0-9_-]{1,64})/devices/([A-Za-z0-9._:-]{1,128})")
_POLICY_NAME = re.compile(r"enterprises/[A-Za-z0-9_-]{1,64}/policies/([A-Za-z0-9._-]{1,128})")
# Device.state and appliedState (androidmanagement v1).
DEVICE_STATES = ("DEVICE_STATE_UNSPECIFIED", "ACTIVE", "DISABLED", "DELETED", "PROVISIONING", "LOST",
                 "PREPARING_FOR_MIGRATION", "DEACTIVATED_BY_DEVICE_FINANCE")
APPLICATION_STATES = ("APPLICATION_STATE_UNSPECIFIED", "REMOVED", "INSTALLED")
# Why a setting is not applied, when it is the banned app being there: that is a finding, not an error.
_APP_PRESENT = "APP_INSTALLED"
POLICY_PREFIX = "banwatch-"  # the export's policy ids: `banwatch-<document>`


def parse_page(page: Any) -> list[DeviceStatus]:
    """The devices of one page; ListingRejected at the first wrong field."""
    top = Fields(page, "the page")
    top.text("nextPageToken", optional=True)
    return [_device(entry, f"devices[{index}]") for index, entry in enumerate(top.items("devices", MAX_DEVICES))]


def _device(value: Any, entry: str) -> DeviceStatus:
    device = Fields(value, entry)
    name = device.required_text("name")
    match = _DEVICE_NAME.fullmatch(name)
    if match is None:
        raise device.fail(f"name {shown(name)} is not enterprises/{{enterprise}}/devices/{{deviceId}}")
    enterprise, device_id = match.groups()
    entry = f"{entry} ({name})"
    device = Fields(value, entry)
    apps = []
    for index, report in enumerate(device.items("applicationReports", MAX_APPS)):
        app = Fields(report, f"{entry} applicationReports[{index}]")
        package = app.required_text("packageName")
        version = app.text("versionName", optional=True)
        if app.choice("state", APPLICATION_STATES) in (None, "INSTALLED"):
            apps.append(InstalledApp(package, version))
    policy = device.text("appliedPolicyName", optional=True)
    document = None
    if policy is not None:
        policy_match = _POLICY_NAME.fullmatch(policy)
        if policy_match is None:
            raise device.fail(f"appliedPolicyName {shown(policy)} is not enterprises/{{enterprise}}/policies/{{id}}")
        policy_id = policy_match.group(1)
        document = policy_id[len(POLICY_PREFIX):] if policy_id.startswith(POLICY_PREFIX) else None
    version = device.text("appliedPolicyVersion", optional=True)
    if version is not None and not version.isdigit():
        raise device.fail(f"appliedPolicyVersion is {shown(version)}, not an int64 (a string of digits)")
    return DeviceStatus(entry=entry, device_id=device_id, as_of=device.time("lastStatusReportTime"),
                        apps=tuple(apps), applied_document=document, applied_version=version,
                        manager_error=_error(device), raw=canonical(value), scope=enterprise)


def _error(device: Fields) -> str | None:
    """What the manager reports as wrong: a device not ACTIVE, settings it could not apply."""
    problems = []
    for key in ("state", "appliedState"):
        state = device.choice(key, DEVICE_STATES)
        if state not in (None, "ACTIVE"):
            problems.append(f"{key} {state}")
    for index, detail in enumerate(device.items("nonComplianceDetails", MAX_APPS)):
        item = Fields(detail, f"{device.entry} nonComplianceDetails[{index}]")
        reason = item.required_text("nonComplianceReason")
        if reason == _APP_PRESENT:
            continue
        setting = item.text("settingName", optional=True) or "a setting"
        package = item.text("packageName", optional=True)
        problems.append(f"{setting}{f' ({package})' if package else ''} not applied: {reason}")
    if not problems:
        return None
    return "android_management: " + "; ".join(problems)
