"""Microsoft Intune: a page of Graph v1.0 `deviceManagement/managedDevices` (`{"value": [...],
"@odata.nextLink": ...}`), each managedDevice with the apps Intune detected on it.

Read of each managedDevice (names and types of Graph v1.0's CSDL): `id`, `lastSyncDateTime`,
`complianceState` (`error` and `conflict` are the manager's error), `detectedApps[]`
(detectedApp: `displayName`, `version`), and `deviceConfigurationStates[]` /
`deviceCompliancePolicyStates[]` (`displayName`, `state`, `version`), which say whether the
banwatch document (`banwatch <document>`, as the export names it) is applied. Graph v1.0 has
`detectedApps` under deviceManagement, each with its `managedDevices`: the collection joins them
onto each device (beta's `managedDevices?$expand=detectedApps` gives this form directly).
The store keeps the fields read: each detected app as `[displayName, version]`, each banwatch
policy state as `[displayName, state, version]`.
"""

from __future__ import annotations

from typing import Any

from banwatch.fleet.imports.listing import (
    MAX_APPS,
    MAX_DEVICES,
    DeviceStatus,
    Fields,
    InstalledApp,
    canonical,
)

# graph.complianceState and graph.complianceStatus (v1.0).
COMPLIANCE_STATES = ("unknown", "compliant", "noncompliant", "conflict", "error", "inGracePeriod", "configManager")
POLICY_STATES = ("unknown", "notApplicable", "compliant", "remediated", "nonCompliant", "error", "conflict",
                 "notAssigned")
DOCUMENT_PREFIX = "banwatch "  # the export's displayName of every policy: `banwatch <document>`
_APPLIED = ("compliant", "remediated")
_FAILED = ("error", "conflict", "nonCompliant")
_MAX_POLICIES = 1000
_MAX_VERSION = 2**31 - 1  # Edm.Int32


def parse_page(page: Any) -> list[DeviceStatus]:
    """The devices of one page; ListingRejected at the first wrong field."""
    top = Fields(page, "the page")
    top.text("@odata.nextLink", optional=True)
    return [_device(entry, f"value[{index}]") for index, entry in enumerate(top.items("value", MAX_DEVICES,
                                                                                             optional=False))]


def _device(value: Any, entry: str) -> DeviceStatus:
    device = Fields(value, entry)
    device_id = device.required_text("id")
    device = Fields(value, f"{entry} (managedDevice {device_id})")
    as_of = device.time("lastSyncDateTime")
    apps = []
    for index, item in enumerate(device.items("detectedApps", MAX_APPS)):
        app = Fields(item, f"{device.entry} detectedApps[{index}]")
        apps.append(InstalledApp(app.required_text("displayName"), app.text("version", optional=True)))
    read: dict[str, Any] = {"id": device_id, "lastSyncDateTime": device.data["lastSyncDateTime"],
                            "detectedApps": [tuple(app) for app in apps]}
    problems = []
    compliance = device.choice("complianceState", COMPLIANCE_STATES, optional=False)
    if compliance in ("error", "conflict"):
        problems.append(f"complianceState {compliance}")
    document, version = None, None
    for key in ("deviceConfigurationStates", "deviceCompliancePolicyStates"):
        for index, item in enumerate(device.items(key, _MAX_POLICIES)):
            policy = Fields(item, f"{device.entry} {key}[{index}]")
            name = policy.text("displayName", optional=True)
            if name is None or not name.startswith(DOCUMENT_PREFIX):
                continue
            state = policy.choice("state", POLICY_STATES, optional=False)
            policy_version = _version(policy)
            read.setdefault(key, []).append((name, state, policy_version))
            if state in _FAILED:
                problems.append(f"{name} {state}")
            elif state in _APPLIED:
                document, version = name[len(DOCUMENT_PREFIX):], policy_version
    error = f"intune: {'; '.join(problems)}" if problems else None
    read["complianceState"] = compliance
    return DeviceStatus(entry=device.entry, device_id=device_id, as_of=as_of,
                        apps=tuple(apps), applied_document=document, applied_version=version, manager_error=error,
                        raw=canonical(read))


def _version(policy: Fields) -> str | None:
    value = policy.data.get("version")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_VERSION:
        raise policy.fail(f"version is {value!r}, not an Edm.Int32")
    return str(value)
