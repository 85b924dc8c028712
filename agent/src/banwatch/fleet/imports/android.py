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
    is_text,
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
# What the store keeps of a Device (its envelope): the fields read, under their own names.
_DEVICE_FIELDS = ("name", "lastStatusReportTime", "state", "appliedState", "appliedPolicyName", "appliedPolicyVersion")


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
    apps, reports = _application_reports(device.items("applicationReports", MAX_APPS), entry)
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
    error, details = _error(device)
    read = {key: value[key] for key in _DEVICE_FIELDS if value.get(key) is not None}
    read.update(applicationReports=reports, nonComplianceDetails=details)
    return DeviceStatus(entry=entry, device_id=device_id, as_of=device.time("lastStatusReportTime"),
                        apps=tuple(apps), applied_document=document, applied_version=version,
                        manager_error=error, raw=canonical(read), scope=enterprise)


def _application_reports(reports: list[Any], entry: str) -> tuple[list[InstalledApp], list[tuple[str, ...]]]:
    """The installed apps among a device's application reports, and each report as read (checked):
    `[packageName, versionName, state]`, a list where the store keeps it, for its size."""
    installed, read = [], []
    for index, report in enumerate(reports):
        # The plain test first, Fields (which says what is wrong) only when it fails: an import of
        # 100,000 devices makes 8 million of these; this halves their cost, a sixth of the import.
        package = report.get("packageName") if type(report) is dict else None
        version, state = (report.get("versionName"), report.get("state")) if package is not None else (None, None)
        if not (is_text(package) and (version is None or is_text(version))
                and (state is None or state in APPLICATION_STATES)):
            app = Fields(report, f"{entry} applicationReports[{index}]")
            package, version = app.required_text("packageName"), app.text("versionName", optional=True)
            state = app.choice("state", APPLICATION_STATES)
        read.append((package, version, state))
        if state in (None, "INSTALLED"):
            installed.append(InstalledApp(package, version))
    return installed, read


def _error(device: Fields) -> tuple[str | None, list[tuple[str | None, ...]]]:
    """What the manager reports as wrong (a device not ACTIVE, settings it could not apply), and
    each non-compliance detail as read: `[nonComplianceReason, settingName, packageName]`."""
    problems, read = [], []
    for key in ("state", "appliedState"):
        state = device.choice(key, DEVICE_STATES)
        if state not in (None, "ACTIVE"):
            problems.append(f"{key} {state}")
    for index, detail in enumerate(device.items("nonComplianceDetails", MAX_APPS)):
        item = Fields(detail, f"{device.entry} nonComplianceDetails[{index}]")
        reason = item.required_text("nonComplianceReason")
        setting, package = item.text("settingName", optional=True), item.text("packageName", optional=True)
        read.append((reason, setting, package))
        if reason != _APP_PRESENT:
            problems.append(f"{setting or 'a setting'}{f' ({package})' if package else ''} not applied: {reason}")
    return ("android_management: " + "; ".join(problems)) if problems else None, read
