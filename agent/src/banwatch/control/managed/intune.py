"""Microsoft Intune: Graph request bodies for iOS and Windows devices (v1.0's, but the iOS
compliance policy's `restrictedApps`, which only Graph beta has), and the groups their
assignments name.

- iOS, supervised: an `iosGeneralDeviceConfiguration` whose app visibility list hides the banned
  apps (`appsNotInListCompliant`: every app but those listed stays visible), and an
  `iosCompliancePolicy` whose `restrictedApps` makes a device that has one non-compliant.
- iOS, unsupervised: the compliance policy alone (hiding apps needs supervision).
- iOS, user-enrolled: nothing; Intune does not see personal apps there.
- Windows: a `windows10CustomConfiguration` carrying the AppLocker rule collections to the
  AppLocker CSP (applocker.py), and the same as an `AppLockerPolicy` file.

Exemptions become exclusion groups: each platform's strict document is assigned to the group of
all its devices and excludes the group of each relaxed document, which is assigned to its own.
Groups are named from the documents; the manifest lists their members, and the push resolves
names to Entra group ids.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from banwatch.control.managed import applocker, platforms
from banwatch.control.managed.compile import Document, plan_documents, stable_uuid
from banwatch.control.managed.inventory import INTUNE, ManagedDevice
from banwatch.control.managed.manifest import ManagerExport, json_bytes
from banwatch.control.policy_source import BANLIST_FILE, PolicySource
from banwatch.core.errors import InputError

# Graph's limit on `restrictedApps` in one compliance policy.
MAX_RESTRICTED_APPS = 100
GROUP_PREFIX = "banwatch-"
# The iOS enrolments Intune can act on (block, or mark non-compliant).
_IOS_ACTIONABLE = frozenset({"ios_supervised", "ios_unsupervised"})
NOT_VISIBLE = "Intune sees no personal apps on a user-enrolled device"
# One AppLocker CSP grouping for every banwatch document, so a device moved between documents
# has its rules replaced, not added to.
APPLOCKER_GROUPING = "banwatch-" + stable_uuid("applocker-grouping").lower()
_CSP = "./Vendor/MSFT/AppLocker/ApplicationLaunchRestrictions/" + APPLOCKER_GROUPING


def compile_intune(source: PolicySource, devices: list[ManagedDevice], today: dt.date) -> ManagerExport:
    export = ManagerExport(INTUNE)
    groups: dict[str, list[dict[str, str]]] = {}
    ios = [d for d in devices if d.enrolment.startswith("ios_")]
    windows = [d for d in devices if d.enrolment.startswith("windows_")]
    ios_documents, ios_without = plan_documents(
        source, ios, today=today, variant=lambda d: d.enrolment if d.enrolment in _IOS_ACTIONABLE else None,
        names=platforms.ios_bundle_ids)
    windows_documents, _none = plan_documents(source, windows, today=today, variant=lambda _d: "windows",
                                              names=platforms.windows_names)
    for documents in (ios_documents, windows_documents):
        assignments = _assignments(documents, groups)
        for document in documents:
            files, blocks = (_ios_files(source, document) if document.variant.startswith("ios_")
                             else _windows_files(document))
            export.add(document, files, blocks, assignment=assignments[document.id])
    for device in ios_without:
        export.device(device, None, reason=NOT_VISIBLE)
    export.extra["groups"] = {name: sorted(members, key=lambda m: m["host"])
                              for name, members in sorted(groups.items())}
    return export


def _assignments(documents: list[Document], groups: dict[str, list[dict[str, str]]]) -> dict[str, dict[str, Any]]:
    """Each document's include group and exclusion groups, by variant; fills `groups` with members."""
    assignments: dict[str, dict[str, Any]] = {}
    for variant in sorted({d.variant for d in documents}):
        of_variant = [d for d in documents if d.variant == variant]
        relaxed = [d for d in of_variant if d.exempted]
        for document in of_variant:
            if document.exempted:
                group = GROUP_PREFIX + document.id
                members = document.devices
                assignments[document.id] = {"include": group, "exclude": []}
            else:
                group = GROUP_PREFIX + variant.replace("_", "-")
                members = [device for d in of_variant for device in d.devices]
                assignments[document.id] = {"include": group, "exclude": [GROUP_PREFIX + d.id for d in relaxed]}
            groups[group] = [{"host": m.name, "device_id": m.device_id} for m in members]
    return assignments


def _app_items(document: Document) -> list[dict[str, str]]:
    return [{"name": app.name, "appId": bundle_id}
            for app in document.apps for bundle_id in platforms.ios_bundle_ids(app)]


def _ios_files(source: PolicySource, document: Document) -> tuple[dict[str, bytes], list[str]]:
    items = sorted(_app_items(document), key=lambda item: item["appId"])
    if len(items) > MAX_RESTRICTED_APPS:
        host = document.devices[0].name
        raise InputError.single(f"{source.directory}/{BANLIST_FILE}",
                                f"the Intune compliance policy for host {host} would restrict {len(items)} iOS apps, "
                                f"over Graph's {MAX_RESTRICTED_APPS}", "ban fewer ios_bundle_ids",
                                entry=f"host {host}")
    described = f"Banned apps from the department's ban list ({document.id}). Managed by banwatch."
    compliance = {"@odata.type": "#microsoft.graph.iosCompliancePolicy", "displayName": f"banwatch {document.id}",
                  "description": described, "restrictedApps": items,
                  "scheduledActionsForRule": [{"ruleName": "PasswordRequired", "scheduledActionConfigurations": [
                      {"actionType": "block", "gracePeriodHours": 0, "notificationMessageCCList": []}]}]}
    files = {f"ios/{document.id}.compliance-policy.json": json_bytes(compliance)}
    if document.variant == "ios_supervised":
        configuration = {"@odata.type": "#microsoft.graph.iosGeneralDeviceConfiguration",
                         "displayName": f"banwatch {document.id}", "description": described,
                         "appsVisibilityList": items, "appsVisibilityListType": "appsNotInListCompliant"}
        files[f"ios/{document.id}.device-configuration.json"] = json_bytes(configuration)
    return files, [item["appId"] for item in items]


def _windows_files(document: Document) -> tuple[dict[str, bytes], list[str]]:
    collections = applocker.collections(document.apps)
    settings = [{"@odata.type": "#microsoft.graph.omaSettingString", "displayName": f"banwatch AppLocker {kind}",
                 "omaUri": f"{_CSP}/{node}/Policy", "value": applocker.collection_xml(collections[kind])}
                for kind, node in ((applocker.APPX, "StoreApps"), (applocker.EXE, "EXE"))]
    configuration = {"@odata.type": "#microsoft.graph.windows10CustomConfiguration",
                     "displayName": f"banwatch {document.id}",
                     "description": f"AppLocker rules denying banned apps ({document.id}). Managed by banwatch.",
                     "omaSettings": settings}
    files = {f"windows/{document.id}.custom-configuration.json": json_bytes(configuration),
             f"windows/{document.id}.applocker.xml": applocker.policy_xml(document.apps)}
    return files, [name for app in document.apps for name in platforms.windows_names(app)]
