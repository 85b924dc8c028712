"""Apple MDM (iOS, iPadOS): one configuration profile (an XML plist) per set of devices with the
same bans, its `com.apple.applicationaccess` payload listing them in `blockedAppBundleIDs`.

That key hides an app and stops it launching on supervised devices (iOS 15 and later) only: an
unsupervised or user-enrolled device gets no profile, and coverage says it cannot be blocked.
Identifiers are fixed per document and UUIDs derived from the content, so the same bans give
the same bytes, and a changed list replaces the profile the device has (same identifier).
The profile is unsigned; signing it (CMS) is the MDM's step.
"""

from __future__ import annotations

import datetime as dt
import plistlib
from typing import Any

from banwatch.control.managed import platforms
from banwatch.control.managed.compile import Document, plan_documents, stable_uuid
from banwatch.control.managed.inventory import APPLE, ManagedDevice
from banwatch.control.managed.manifest import ManagerExport
from banwatch.control.policy_source import PolicySource

IDENTIFIER_PREFIX = "banwatch.banlist."
NOT_BLOCKABLE = "blockedAppBundleIDs takes effect on supervised devices only"


def compile_apple(source: PolicySource, devices: list[ManagedDevice], today: dt.date) -> ManagerExport:
    export = ManagerExport(APPLE)
    documents, without = plan_documents(source, devices, today=today,
                                        variant=lambda d: d.enrolment if d.enrolment == "supervised" else None,
                                        names=platforms.ios_bundle_ids)
    for document in documents:
        bundle_ids = sorted({b for app in document.apps for b in platforms.ios_bundle_ids(app)})
        data = plistlib.dumps(profile(document, bundle_ids), fmt=plistlib.FMT_XML, sort_keys=True)
        export.add(document, {f"profiles/{document.id}.mobileconfig": data}, bundle_ids,
                   payload_identifier=IDENTIFIER_PREFIX + document.id)
    for device in without:
        export.device(device, None, reason=NOT_BLOCKABLE)
    return export


def profile(document: Document, bundle_ids: list[str]) -> dict[str, Any]:
    identifier = IDENTIFIER_PREFIX + document.id
    restrictions = {
        "PayloadType": "com.apple.applicationaccess",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{identifier}.restrictions",
        "PayloadUUID": stable_uuid("apple-restrictions", identifier, *bundle_ids),
        "PayloadDisplayName": "Banned apps",
        "blockedAppBundleIDs": bundle_ids,
    }
    return {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": identifier,
        "PayloadUUID": stable_uuid("apple-profile", identifier, *bundle_ids),
        "PayloadDisplayName": f"banwatch: banned apps ({document.id})",
        "PayloadDescription": "Hides and blocks the apps the department's ban list bans. Managed by banwatch.",
        "PayloadRemovalDisallowed": True,
        "PayloadContent": [restrictions],
    }
