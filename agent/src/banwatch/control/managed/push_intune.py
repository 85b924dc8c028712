"""The Intune (Microsoft Graph) push: which configurations and groups to read, what to write.

Each document file of the export is a Graph body, found at the manager by its `displayName`.
Graph may return OMA string values encrypted, so a body is compared by a content digest that the
push writes into its `description`: the same digest there means the same body. A new body is
created (POST), a changed one patched; then each document's assignment (its include group and its
exclusion groups, by their Entra ids) is set where it differs (POST .../assign, which replaces
them). Bodies first, assignments after.

The iOS compliance policy alone goes to Graph's beta endpoint: v1.0's iosCompliancePolicy has no
`restrictedApps`, the one property that makes a device holding a banned app non-compliant; every
other body, and the groups, stay on v1.0 (docs/managed.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from banwatch.control.managed.applocker import applocker_path
from banwatch.control.managed.platforms import ios_bundle_ids, windows_appx_families, windows_executable_paths
from banwatch.control.managed.push import PushPlan, PushRefused, Reply, Write, error_message, read_json
from banwatch.control.policy_source import PolicySource

MANAGER = "intune"
_COLLECTIONS = {"#microsoft.graph.windows10CustomConfiguration": "deviceConfigurations",
                "#microsoft.graph.iosGeneralDeviceConfiguration": "deviceConfigurations",
                "#microsoft.graph.iosCompliancePolicy": "deviceCompliancePolicies"}
_DIGEST = re.compile(r"\[banwatch-digest (sha256:[0-9a-f]{64})\]")
INCLUDE = "#microsoft.graph.groupAssignmentTarget"
EXCLUDE = "#microsoft.graph.exclusionGroupAssignmentTarget"
# The body kinds only Graph's beta endpoint takes as the export writes them.
BETA_TYPES = frozenset({"#microsoft.graph.iosCompliancePolicy"})


@dataclass(frozen=True)
class Banned:
    """What the register bans, as Intune's documents name it."""

    bundle_ids: frozenset[str]
    appx_products: frozenset[str]
    paths: frozenset[str]

    @classmethod
    def of(cls, source: PolicySource) -> Banned:
        apps = [app for app in source.apps if app.banned]
        return cls(frozenset(bundle for app in apps for bundle in ios_bundle_ids(app)),
                   frozenset(family.rsplit("_", 1)[0] for app in apps for family in windows_appx_families(app)),
                   frozenset(applocker_path(path) for app in apps for path in windows_executable_paths(app)))


def digest(body: Mapping[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def filter_url(base_url: str, path: str, name: str, *, expand: bool = False) -> str:
    """`path?$filter=displayName eq '<name>'` (a quote in the name doubled, as OData escapes it)."""
    query = quote(f"displayName eq '{name.replace(chr(39), chr(39) * 2)}'", safe="")
    return f"{base_url}/{path}?$filter={query}" + ("&$expand=assignments" if expand else "")


def base_url(url: str, version: str) -> str:
    """A Graph base URL must name its version: the variable once held Graph's root alone."""
    if not url.rstrip("/").endswith(f"/{version}"):
        raise PushRefused(f"{MANAGER}: the Graph base URL {url!r} does not end in /{version}; nothing was read; "
                          f"fix: set it to Graph's {version} base, e.g. https://graph.microsoft.com/{version}")
    return url.rstrip("/")


class IntunePush:
    """An export folder's Intune bodies and assignments, checked against the register."""

    def __init__(self, export_dir: str, banned: Banned, api_url: str, beta_api_url: str) -> None:
        self.folder = os.path.join(export_dir, MANAGER)
        self.api_url, self.beta_api_url = base_url(api_url, "v1.0"), base_url(beta_api_url, "beta")
        manifest = read_json(self.folder, "manifest.json", "Intune manifest")
        documents = manifest.get("documents") if isinstance(manifest, Mapping) else None
        if not isinstance(documents, list):
            raise PushRefused(f"{self.folder}/manifest.json: no documents list; fix: export again")
        # (document id, file, collection, body with its digest in description, include group, exclude groups)
        self.bodies: list[tuple[str, str, str, dict[str, Any], str, list[str]]] = []
        for document in documents:
            self._add(document, banned)

    def _add(self, document: Any, banned: Banned) -> None:
        assignment = document.get("assignment") if isinstance(document, Mapping) else None
        if not isinstance(assignment, Mapping) or not isinstance(assignment.get("include"), str) or \
                not isinstance(assignment.get("exclude"), list) or not isinstance(document.get("files"), list):
            raise PushRefused(f"{self.folder}/manifest.json: a document without its files and assignment; "
                              "fix: export again")
        for file in document["files"]:
            if not str(file).endswith(".json"):
                continue  # the AppLocker XML for Group Policy: the same rules are in the OMA settings
            what = f"{MANAGER} document {document.get('id')} ({file})"
            body = read_json(self.folder, str(file), f"Graph body of document {document.get('id')}")
            collection = _COLLECTIONS.get(body.get("@odata.type")) if isinstance(body, Mapping) else None
            if collection is None or not isinstance(body.get("displayName"), str):
                raise PushRefused(f"{what}: not a Graph body banwatch pushes; fix: export again")
            refuse_unbacked(body, banned, what)
            stamped = {**body,
                       "description": f"{body.get('description', '')} [banwatch-digest {digest(body)}]".strip()}
            self.bodies.append((str(document.get("id")), str(file), collection, stamped, assignment["include"],
                                [str(group) for group in assignment["exclude"]]))

    def _base(self, body: Mapping[str, Any]) -> str:
        return self.beta_api_url if body["@odata.type"] in BETA_TYPES else self.api_url

    def groups(self) -> list[str]:
        return sorted({group for *_, include, exclude in self.bodies for group in (include, *exclude)})

    def reads(self) -> list[dict[str, str]]:
        """Each body by its displayName (with its assignments), then each group by its name."""
        bodies = [{"item": f"{collection}:{body['displayName']}",
                   "url": filter_url(self._base(body), f"deviceManagement/{collection}", body["displayName"],
                                     expand=True)}
                  for _, _, collection, body, _, _ in self.bodies]
        return bodies + [{"item": f"groups:{group}", "url": filter_url(self.api_url, "groups", group)}
                         for group in self.groups()]

    def plan(self, found: Mapping[str, Reply]) -> PushPlan:
        group_ids = {group: self._group_id(found, group) for group in self.groups()}
        plan, assigns = PushPlan(), []
        for index, (document, file, collection, body, include, exclude) in enumerate(self.bodies):
            what = f"{MANAGER} {collection} '{body['displayName']}' (document {document}, {file})"
            existing = self._existing(found, f"{collection}:{body['displayName']}", what)
            base = f"{self._base(body)}/deviceManagement/{collection}"
            if existing is None:
                plan.add(Write(what, "POST", base, body, key=f"created{index}"), None, body)
                target, current_targets = f"{{created{index}}}", None
            else:
                target, current_targets = str(existing.get("id")), _targets(existing.get("assignments"))
                if body["@odata.type"] != existing.get("@odata.type"):
                    raise PushRefused(f"{what}: Intune holds a {existing.get('@odata.type')} of that name; refused; "
                                      "fix: rename or remove it in Intune")
                held = _DIGEST.search(str(existing.get("description", "")))
                if held is None or f"[banwatch-digest {held.group(1)}]" not in body["description"]:
                    plan.add(Write(what, "PATCH", f"{base}/{target}", body),
                             {key: existing.get(key) for key in ("@odata.type", "displayName", "description")}, body)
            wanted = [(INCLUDE, group_ids[include]), *sorted((EXCLUDE, group_ids[group]) for group in exclude)]
            if current_targets != sorted(wanted):
                assigns.append((Write(f"{what} assignment", "POST", f"{base}/{target}/assign",
                                      {"assignments": [{"target": {"@odata.type": kind, "groupId": gid}}
                                                       for kind, gid in wanted]}),
                                current_targets, sorted(wanted)))
        for write, before, after in assigns:
            plan.add(write, before and [list(pair) for pair in before], [list(pair) for pair in after])
        return plan

    def _group_id(self, found: Mapping[str, Reply], group: str) -> str:
        values = self._values(found, f"groups:{group}", f"group {group}")
        if len(values) != 1 or not isinstance(values[0], Mapping) or not isinstance(values[0].get("id"), str):
            raise PushRefused(f"{MANAGER}: group {group} is {'not' if not values else 'more than once'} in Entra ID; "
                              "nothing was written; fix: create one group of that name with the members the "
                              "manifest's groups list")
        return values[0]["id"]

    def _existing(self, found: Mapping[str, Reply], item: str, what: str) -> Mapping[str, Any] | None:
        values = self._values(found, item, what)
        if len(values) > 1:
            raise PushRefused(f"{what}: Intune holds {len(values)} of that name; nothing was written; "
                              "fix: remove the extra ones in Intune")
        return values[0] if values and isinstance(values[0], Mapping) else None

    @staticmethod
    def _values(found: Mapping[str, Reply], item: str, what: str) -> list[Any]:
        reply = found.get(item)
        if reply is None:
            raise PushRefused(f"{MANAGER}: {what} was not read; fix: run the role's tasks in order")
        values = reply.body.get("value") if isinstance(reply.body, Mapping) else None
        if reply.status != 200 or not isinstance(values, list):
            raise PushRefused(f"{MANAGER}: reading {what} answered HTTP {reply.status}{error_message(reply.body)}; "
                              "nothing was written; fix: check the app registration's Graph permissions "
                              "(DeviceManagementConfiguration.ReadWrite.All, Group.Read.All)")
        return values


def _targets(assignments: Any) -> list[tuple[str, str]] | None:
    if not isinstance(assignments, list):
        return None
    targets = [assignment.get("target") for assignment in assignments if isinstance(assignment, Mapping)]
    return sorted((str(t.get("@odata.type")), str(t.get("groupId"))) for t in targets if isinstance(t, Mapping))


def refuse_unbacked(body: Mapping[str, Any], banned: Banned, what: str) -> None:
    """A body that blocks an app, AppX product or path the register does not ban is refused."""
    listed = [*_items(body.get("appsVisibilityList")), *_items(body.get("restrictedApps"))]
    for item in listed:
        if item.get("appId") not in banned.bundle_ids:
            raise PushRefused(f"{what}: blocks {item.get('appId')!r}, which the ban register does not ban; refused; "
                              "fix: add it to an app's ios_bundle_ids in banlist.yml, or export again")
    if body.get("appsVisibilityList") and body.get("appsVisibilityListType") != "appsNotInListCompliant":
        raise PushRefused(f"{what}: appsVisibilityListType is {body.get('appsVisibilityListType')!r}, which would hide "
                          "every app but the listed ones; refused; fix: export again")
    for setting in _items(body.get("omaSettings")):
        if "/AppLocker/" in str(setting.get("omaUri")):
            _refuse_unbacked_rules(str(setting.get("value", "")), banned, what)


def _refuse_unbacked_rules(value: str, banned: Banned, what: str) -> None:
    try:
        collection = ET.fromstring(value)  # noqa: S314 - expat refuses entity expansion bombs; no DTD is fetched
    except ET.ParseError as exc:
        raise PushRefused(f"{what}: an AppLocker setting is not XML ({exc}); fix: export again") from None
    for rule in collection:
        if rule.get("Action") != "Deny":
            continue
        for condition in rule.iter():
            if condition.tag == "FilePublisherCondition" and condition.get("ProductName") not in banned.appx_products:
                denied = condition.get("ProductName")
            elif condition.tag == "FilePathCondition" and condition.get("Path") not in banned.paths:
                denied = condition.get("Path")
            elif condition.tag == "FileHashCondition":
                denied = "a file hash"
            else:
                continue
            raise PushRefused(f"{what}: an AppLocker rule denies {denied!r}, which the ban register does not ban; "
                              "refused; fix: add it to an app's windows_appx_families or executable_paths, "
                              "or export again")


def _items(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []
