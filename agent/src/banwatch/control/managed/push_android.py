"""The Android Management API push: which policies and devices to read, and what to write.

Each device's `policyName` in the manifest is a policy resource, `enterprises/{e}/policies/{id}`:
the policy is written there (PATCH replaces it whole: banwatch owns its `banwatch-*` policies),
then each device whose `policyName` differs is moved to it (PATCH `?updateMask=policyName`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from banwatch.control.managed.platforms import android_packages
from banwatch.control.managed.push import PushPlan, PushRefused, Reply, Write, error_message, read_json
from banwatch.control.policy_source import PolicySource

MANAGER = "android_management"
# The only Play Store mode a banwatch policy may set: the default (WHITELIST) removes every app
# the policy does not list, and so does BLOCKLIST's opposite in the personal profile.
PLAY_STORE_MODE, PERSONAL_PLAY_STORE_MODE = "BLACKLIST", "BLOCKLIST"
# What the API adds to a policy it stores: not part of what banwatch compares.
_SERVER_FIELDS = ("name", "version")


def banned_packages(source: PolicySource) -> frozenset[str]:
    """The Android packages of the apps the register bans (never those under review)."""
    return frozenset(package for app in source.apps if app.banned for package in android_packages(app))


class AndroidPush:
    """An export folder's Android documents and assignments, checked against the register."""

    def __init__(self, export_dir: str, banned: frozenset[str], api_url: str) -> None:
        self.folder = os.path.join(export_dir, MANAGER)
        self.api_url = api_url.rstrip("/")
        manifest = read_json(self.folder, "manifest.json", "Android manifest")
        self.policies = self._documents(manifest, banned)
        self.devices = self._devices(manifest)

    def reads(self) -> list[dict[str, str]]:
        """What to GET first: every policy the devices name, then every device."""
        names = sorted({policy for policy, _ in self.devices.values()}) + sorted(
            device for _, device in self.devices.values())
        return [{"item": name, "url": f"{self.api_url}/v1/{name}"} for name in names]

    def plan(self, found: Mapping[str, Reply]) -> PushPlan:
        """The writes that make the manager hold the export: policies, then device moves."""
        plan = PushPlan()
        for name in sorted({policy for policy, _ in self.devices.values()}):
            reply = self._reply(found, name, f"policy {name}", (200, 404))
            desired = self.policies[name.rsplit("/", 1)[1]]
            current = None if reply.status == 404 else _stored_policy(reply.body)
            if current != desired:
                plan.add(Write(f"{MANAGER} policy {name}", "PATCH", f"{self.api_url}/v1/{name}", desired),
                         current, desired)
        for host, (policy, device) in sorted(self.devices.items()):
            reply = self._reply(found, device, f"device {device} (host {host})", (200,))
            current = reply.body.get("policyName") if isinstance(reply.body, Mapping) else None
            if current != policy:
                plan.add(Write(f"{MANAGER} device {device} (host {host})", "PATCH",
                               f"{self.api_url}/v1/{device}?updateMask=policyName", {"policyName": policy}),
                         {"policyName": current}, {"policyName": policy})
        return plan

    def _reply(self, found: Mapping[str, Reply], name: str, what: str, expected: tuple[int, ...]) -> Reply:
        reply = found.get(name)
        if reply is None:
            raise PushRefused(f"{MANAGER}: {what} was not read; fix: run the role's tasks in order")
        if reply.status not in expected:
            fix = ("enrol the device, or correct banwatch_managed_device_id in the inventory" if reply.status == 404
                   else "check the service account's access to the enterprise")
            raise PushRefused(f"{MANAGER}: reading {what} answered HTTP {reply.status}{error_message(reply.body)}; "
                              f"nothing was written; fix: {fix}")
        return reply

    def _documents(self, manifest: Any, banned: frozenset[str]) -> dict[str, dict[str, Any]]:
        """Each document's policy by its policy id, refused if the register does not back it."""
        documents = manifest.get("documents") if isinstance(manifest, Mapping) else None
        if not isinstance(documents, list):
            raise PushRefused(f"{self.folder}/manifest.json: no documents list; fix: export again")
        policies = {}
        for document in documents:
            if not isinstance(document, Mapping) or not isinstance(document.get("policy_id"), str) or \
                    not isinstance(document.get("files"), list) or len(document["files"]) != 1:
                raise PushRefused(f"{self.folder}/manifest.json: a document without its policy_id and one file; "
                                  "fix: export again")
            policy = read_json(self.folder, str(document["files"][0]), f"policy of document {document.get('id')}")
            refuse_unbacked(policy, banned, f"{MANAGER} document {document.get('id')} "
                            f"({document['files'][0]})")
            policies[document["policy_id"]] = policy
        return policies

    def _devices(self, manifest: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
        """host -> (policy resource name, device resource name), for devices with a document."""
        devices = manifest.get("devices")
        if not isinstance(devices, Mapping):
            raise PushRefused(f"{self.folder}/manifest.json: no devices; fix: export again")
        found = {}
        for host, device in devices.items():
            policy = device.get("policy_name") if isinstance(device, Mapping) else None
            if policy is None:
                continue
            parts = policy.split("/") if isinstance(policy, str) else []
            if len(parts) != 4 or parts[0] != "enterprises" or parts[2] != "policies" or \
                    parts[3] not in self.policies or not isinstance(device.get("device_id"), str):
                raise PushRefused(f"{self.folder}/manifest.json: host {host}: policy_name {policy!r} names no "
                                  "exported policy; fix: export again")
            found[host] = (policy, f"enterprises/{parts[1]}/devices/{device['device_id']}")
        return found


def refuse_unbacked(policy: Any, banned: frozenset[str], what: str) -> None:
    """A policy that would switch the Play Store to allow-list mode, or block a package the register
    does not ban, is refused by name before anything is written."""
    if not isinstance(policy, Mapping):
        raise PushRefused(f"{what}: not a Policy object; fix: export again")
    if policy.get("playStoreMode") != PLAY_STORE_MODE:
        raise PushRefused(f"{what}: playStoreMode is {policy.get('playStoreMode')!r}, which would remove every app "
                          f"the policy does not list; refused; fix: export again (banwatch sets {PLAY_STORE_MODE})")
    personal = policy.get("personalUsagePolicies", {})
    if not isinstance(personal, Mapping):
        raise PushRefused(f"{what}: personalUsagePolicies is not an object; fix: export again")
    if "personalPlayStoreMode" in personal and personal["personalPlayStoreMode"] != PERSONAL_PLAY_STORE_MODE:
        raise PushRefused(f"{what}: personalPlayStoreMode is {personal['personalPlayStoreMode']!r} (allow-list mode "
                          f"in the personal profile); refused; fix: export again")
    for entry in [*_entries(policy.get("applications"), what), *_entries(personal.get("personalApplications"), what)]:
        if entry.get("installType") == "BLOCKED" and entry.get("packageName") not in banned:
            raise PushRefused(f"{what}: blocks {entry.get('packageName')!r}, which the ban register does not ban; "
                              "refused; fix: add it to an app's android_packages in banlist.yml, or export again")


def _entries(applications: Any, what: str) -> list[Mapping[str, Any]]:
    if applications is None:
        return []
    if not isinstance(applications, list) or not all(isinstance(entry, Mapping) for entry in applications):
        raise PushRefused(f"{what}: its applications are not a list of objects; fix: export again")
    return applications


def _stored_policy(body: Any) -> dict[str, Any] | None:
    """A policy the API returned, less what the API itself adds."""
    if not isinstance(body, Mapping):
        return None
    return {key: value for key, value in body.items() if key not in _SERVER_FIELDS}
