"""Windows AppLocker: the rule collections that deny banned apps and allow everything else.

Packaged (Store) apps: an `Appx` collection with an allow-all rule for signed packages and one
deny `FilePublisherRule` per AppX family, naming the package by `ProductName` (a family is
`Name_publisherid`; the publisher id is a hash of the publisher's name and cannot be turned
back into it, so the rule's `PublisherName` is `*`). A packaged-app rule controls install and
run. Desktop programs: an `Exe` collection with an allow-all path rule and one deny
`FilePathRule` per Windows executable path of the ban list (`**` becomes AppLocker's `*`).
A deny rule wins over an allow rule, so nothing but the banned apps changes. Rule ids are
UUIDs derived from each rule's content.

`collection_xml` is what the AppLocker CSP's `.../StoreApps/Policy` and `.../EXE/Policy` nodes
take; `policy_xml` wraps both in an `AppLockerPolicy`, the form Group Policy imports.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from banwatch.control.managed import platforms
from banwatch.control.managed.compile import stable_uuid
from banwatch.core.policy.model import App

EVERYONE = "S-1-1-0"
APPX = "Appx"
EXE = "Exe"


def collections(apps: tuple[App, ...]) -> dict[str, ET.Element]:
    """The `Appx` and `Exe` rule collections that deny `apps`."""
    appx = _collection(APPX)
    appx.append(_publisher_rule("*", "*", "(banwatch) all signed packaged apps", "Allow"))
    exe = _collection(EXE)
    exe.append(_path_rule("*", "*", "(banwatch) all programs", "Allow"))
    for app in apps:
        for family in platforms.windows_appx_families(app):
            appx.append(_publisher_rule(family.rsplit("_", 1)[0], family, f"(banwatch) deny {app.name}", "Deny"))
        for path in platforms.windows_executable_paths(app):
            exe.append(_path_rule(applocker_path(path), path, f"(banwatch) deny {app.name}", "Deny"))
    return {APPX: appx, EXE: exe}


def collection_xml(collection: ET.Element) -> str:
    return ET.tostring(collection, encoding="unicode")


def policy_xml(apps: tuple[App, ...]) -> bytes:
    policy = ET.Element("AppLockerPolicy", {"Version": "1"})
    policy.extend(collections(apps).values())
    ET.indent(policy)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(policy, encoding="utf-8") + b"\n"


def applocker_path(glob: str) -> str:
    """A ban-list path glob as an AppLocker path: `**` is `*` there, and a drive is `%OSDRIVE%`."""
    path = re.sub(r"\*\*+", "*", glob)
    return re.sub(r"^[A-Za-z]:\\", r"%OSDRIVE%\\", path)


def _collection(kind: str) -> ET.Element:
    return ET.Element("RuleCollection", {"Type": kind, "EnforcementMode": "Enabled"})


def _publisher_rule(product: str, key: str, name: str, action: str) -> ET.Element:
    rule = ET.Element("FilePublisherRule", {"Id": stable_uuid("appx", action, key).lower(), "Name": name,
                                            "Description": "", "UserOrGroupSid": EVERYONE, "Action": action})
    condition = ET.SubElement(ET.SubElement(rule, "Conditions"), "FilePublisherCondition",
                              {"PublisherName": "*", "ProductName": product, "BinaryName": "*"})
    ET.SubElement(condition, "BinaryVersionRange", {"LowSection": "0.0.0.0", "HighSection": "*"})  # noqa: S104 - a version, not an address
    return rule


def _path_rule(path: str, key: str, name: str, action: str) -> ET.Element:
    rule = ET.Element("FilePathRule", {"Id": stable_uuid("exe", action, key).lower(), "Name": name,
                                       "Description": "", "UserOrGroupSid": EVERYONE, "Action": action})
    ET.SubElement(ET.SubElement(rule, "Conditions"), "FilePathCondition", {"Path": path})
    return rule
