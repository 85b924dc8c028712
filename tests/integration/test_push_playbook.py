"""The push for real: banwatch.deploy.push_managed run by ansible-playbook on a copy of the example
project against the lab's HTTPS stand-ins (banwatch-lab standins) of the Android Management API
and Microsoft Graph, which check every body against the vendor's published schema. The first
push changes, the second changes nothing; check mode with --diff shows the changes and writes
nothing; a refused document writes nothing; a failed write keeps the manager's earlier state past
it and names what failed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import REPO
from tests.integration.conftest import TEST_NETWORK, banwatch_lab, recap

pytestmark = pytest.mark.lab

BIN = Path(sys.executable).parent
ENTERPRISE = "enterprises/LC02my9vtl"
DEFAULT = f"{ENTERPRISE}/policies/default"


@dataclass
class Project:
    inventory: Path
    standins: Path

    def push(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "ansible-playbook"), "-i", str(self.inventory), "banwatch.deploy.push_managed",
             "-e", f"@{self.standins / 'push.yml'}", "--vault-password-file", str(self.standins / "vault-password"),
             *args], check=False, capture_output=True, text=True, timeout=300, cwd=REPO,
            env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})

    def collect(self, *args: str) -> subprocess.CompletedProcess[str]:
        """banwatch.deploy.collect_managed into the project's fleet store (fleet.yml beside the inventory)."""
        config = self.inventory.parent / "fleet.yml"
        config.write_text("store: fleet.db\n")
        return subprocess.run(
            [str(BIN / "ansible-playbook"), "-i", str(self.inventory), "banwatch.deploy.collect_managed",
             "-e", f"@{self.standins / 'push.yml'}", "--vault-password-file", str(self.standins / "vault-password"),
             "-e", f"banwatch_push_fleet_config={config}", "-e", f"banwatch_push_banwatch_command={BIN / 'banwatch'}",
             *args], check=False, capture_output=True, text=True, timeout=300, cwd=REPO,
            env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})

    @property
    def android(self) -> dict[str, Any]:
        return json.loads((self.standins / "android.json").read_text())

    @property
    def graph(self) -> dict[str, Any]:
        return json.loads((self.standins / "graph.json").read_text())

    def writes(self) -> list[str]:
        """The write requests the stand-ins answered so far (no log: no request at all)."""
        log = self.standins / "requests.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return [f"{entry['method']} {entry['path']}" for entry in map(json.loads, lines)
                if entry["method"] in ("PATCH", "POST") and not entry["path"].endswith("/token")]

    def fail(self, method: str, path: str, status: int) -> None:
        (self.standins / "faults.json").write_text(json.dumps([{"method": method, "path": path, "status": status}]))


MANAGERS = 2  # one changed task each: Android Management API, Intune


def changed(result: subprocess.CompletedProcess[str]) -> int:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return recap(result.stdout)["localhost"]["changed"]


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    """The example project, exported, and the stand-ins up with its managed devices enrolled."""
    shutil.copytree(REPO / "inventory" / "example", tmp_path / "inventory")
    inventory = tmp_path / "inventory" / "hosts.yml"
    subprocess.run([str(BIN / "banwatch"), "export", "--source", str(inventory.parent / "policy"), "--inventory",
                    str(inventory), "--out", str(inventory.parent / "managed")],
                   check=True, capture_output=True, timeout=120)
    lab = tmp_path / "lab"
    try:
        banwatch_lab("standins", "up", "--dir", str(lab), "--network", TEST_NETWORK, "--inventory", str(inventory))
        yield Project(inventory, lab / "standins")
    finally:
        banwatch_lab("standins", "down", "--dir", str(lab), check=False)


def policy_names(android: dict[str, Any]) -> dict[str, str]:
    return {name.rsplit("/", 1)[1]: device["policyName"].rsplit("/", 1)[1]
            for name, device in android["devices"].items()}


def test_the_first_push_writes_policies_then_devices_and_the_second_changes_nothing(project):
    assert changed(project.push()) == MANAGERS
    assert policy_names(project.android) == {
        "3f2c9a41d7e05b18": "banwatch-fully-managed-all", "8a1e44c0b29f6d73": "banwatch-work-profile-all",
        "c07b5e2d9a13f468": "banwatch-work-profile-except-tiktok", "5d93b7a2e6c140f1": "banwatch-personally-owned-all"}
    written = project.writes()
    android = [write for write in written if "/enterprises/" in write]
    assert len(android) == 8 and all("/policies/" in write for write in android[:4])  # documents first
    stored = project.android["policies"][f"{ENTERPRISE}/policies/banwatch-work-profile-all"]
    exported = json.loads((project.inventory.parent / "managed" / "android_management" / "policies" /
                           "banwatch-work-profile-all.json").read_text())
    assert {key: value for key, value in stored.items() if key not in ("name", "version")} == exported

    assert changed(project.push()) == 0
    assert project.writes() == written


def test_the_intune_push_creates_configurations_then_assigns_them_with_exclusions_and_a_rerun_changes_nothing(project):
    assert changed(project.push()) == MANAGERS
    graph = project.graph
    groups = {name: gid for gid, name in graph["groups"].items()}
    by_name = {body["displayName"]: (key, body) for key, body in graph["deviceConfigurations"].items()}
    assert sorted(by_name) == ["banwatch ios-supervised-all", "banwatch ios-supervised-except-tiktok",
                               "banwatch windows-all", "banwatch windows-except-tiktok"]
    strict, relaxed = by_name["banwatch windows-all"], by_name["banwatch windows-except-tiktok"]
    assert {(t["target"]["@odata.type"], t["target"]["groupId"]) for t in graph["assignments"][strict[0]]} == {
        ("#microsoft.graph.groupAssignmentTarget", groups["banwatch-windows"]),
        ("#microsoft.graph.exclusionGroupAssignmentTarget", groups["banwatch-windows-except-tiktok"])}
    assert [t["target"]["groupId"] for t in graph["assignments"][relaxed[0]]] == \
        [groups["banwatch-windows-except-tiktok"]]
    assert "[banwatch-digest sha256:" in strict[1]["description"]
    intune = [write for write in project.writes() if "/v1.0/" in write or "/beta/" in write]
    assert [write.split()[0] for write in intune] == ["POST"] * 12 and all("assign" in w for w in intune[6:])
    assert all("/deviceCompliancePolicies" in write for write in intune if "/beta/" in write)
    assert len([write for write in intune if "/beta/" in write]) == 4  # two policies, then their assignments
    assert not any("/deviceCompliancePolicies" in write for write in intune if "/v1.0/" in write)

    # Graph returns the OMA values encrypted: the rerun compares by the digest, and writes nothing.
    assert changed(project.push()) == 0
    assert len(project.writes()) == len(intune) + 8


def test_the_ios_compliance_policy_is_pushed_through_graph_beta_with_its_restricted_apps(project):
    """Graph v1.0's iosCompliancePolicy has no restrictedApps; beta's does (docs/managed.md)."""
    assert changed(project.push("-e", '{"banwatch_push_managers": ["intune"]}')) == 1
    graph = project.graph
    groups = {name: gid for gid, name in graph["groups"].items()}
    by_name = {body["displayName"]: (key, body) for key, body in graph["deviceCompliancePolicies"].items()}
    assert sorted(by_name) == ["banwatch ios-supervised-all", "banwatch ios-supervised-except-tiktok"]
    strict, relaxed = by_name["banwatch ios-supervised-all"], by_name["banwatch ios-supervised-except-tiktok"]
    exported = json.loads((project.inventory.parent / "managed" / "intune" / "ios" /
                           "ios-supervised-all.compliance-policy.json").read_text())
    assert strict[1]["restrictedApps"] == exported["restrictedApps"] != []
    assert relaxed[1]["restrictedApps"] == []
    assert {(t["target"]["@odata.type"], t["target"]["groupId"]) for t in graph["assignments"][strict[0]]} == {
        ("#microsoft.graph.groupAssignmentTarget", groups["banwatch-ios-supervised"]),
        ("#microsoft.graph.exclusionGroupAssignmentTarget", groups["banwatch-ios-supervised-except-tiktok"])}
    written = project.writes()
    assert changed(project.push("-e", '{"banwatch_push_managers": ["intune"]}')) == 0
    assert project.writes() == written


def test_an_applocker_rule_denying_what_the_register_does_not_ban_is_refused_and_nothing_is_written(project):
    body = project.inventory.parent / "managed" / "intune" / "windows" / "windows-all.custom-configuration.json"
    body.write_text(body.read_text().replace('ProductName=\\"BytedancePte.Ltd.TikTok\\"',
                                             'ProductName=\\"Microsoft.WindowsCalculator\\"'))
    result = project.push("-e", '{"banwatch_push_managers": ["intune"]}')
    assert result.returncode != 0
    assert "intune document windows-all" in result.stdout and "'Microsoft.WindowsCalculator'" in result.stdout
    assert project.writes() == []


def test_a_failed_intune_assignment_names_it_and_keeps_the_assignments_intune_had(project):
    assert changed(project.push("-e", '{"banwatch_push_managers": ["intune"]}')) == 1
    key = next(key for key, body in project.graph["deviceConfigurations"].items()
               if body["displayName"] == "banwatch windows-all")
    before = project.graph["assignments"]
    body = project.inventory.parent / "managed" / "intune" / "manifest.json"
    manifest = json.loads(body.read_text())
    strict = next(document for document in manifest["documents"] if document["id"] == "windows-all")
    strict["assignment"]["exclude"] = []  # the strict document now excludes no one
    body.write_text(json.dumps(manifest))
    project.fail("POST", f"/v1.0/deviceManagement/deviceConfigurations/{key}/assign", 503)
    result = project.push("-e", '{"banwatch_push_managers": ["intune"]}')
    assert result.returncode != 0
    assert "intune deviceConfigurations 'banwatch windows-all'" in result.stdout and "HTTP 503" in result.stdout
    assert project.graph["assignments"] == before


def test_check_mode_shows_the_diff_and_writes_nothing(project):
    result = project.push("--check", "--diff")
    assert changed(result) == MANAGERS
    assert "+  \"playStoreMode\": \"BLACKLIST\"" in result.stdout
    assert f"-  \"policyName\": \"{DEFAULT}\"" in result.stdout
    assert project.writes() == [] and set(policy_names(project.android).values()) == {"default"}
    assert project.graph["deviceConfigurations"] == {}


def test_a_document_setting_allow_list_mode_is_refused_by_name_and_nothing_is_written(project):
    policy = project.inventory.parent / "managed" / "android_management" / "policies" / "banwatch-work-profile-all.json"
    policy.write_text(policy.read_text().replace('"BLACKLIST"', '"WHITELIST"'))
    result = project.push()
    assert result.returncode != 0
    assert "android_management document work-profile-all" in result.stdout and "'WHITELIST'" in result.stdout
    assert project.writes() == []


def test_a_document_blocking_what_the_register_does_not_ban_is_refused_and_nothing_is_written(project):
    banlist = project.inventory.parent / "policy" / "banlist.yml"
    banlist.write_text(banlist.read_text().replace("com.zhiliaoapp.musically.go", "com.example.other"))
    result = project.push()
    assert result.returncode != 0
    assert "blocks 'com.zhiliaoapp.musically.go', which the ban register does not ban" in result.stdout
    assert project.writes() == []


@pytest.mark.parametrize("status", [500, 403])
def test_a_failed_write_keeps_the_rest_as_it_was_and_names_the_document_and_status(project, status):
    failing = f"/v1/{ENTERPRISE}/policies/banwatch-personally-owned-all"
    project.fail("PATCH", failing, status)
    result = project.push()
    assert result.returncode != 0
    assert f"android_management policy {failing[4:]}: PATCH answered HTTP {status}" in result.stdout
    assert list(project.android["policies"]) == [f"{ENTERPRISE}/policies/banwatch-fully-managed-all", DEFAULT]
    assert set(policy_names(project.android).values()) == {"default"}  # no device points at a missing policy

    (project.standins / "faults.json").unlink()
    assert changed(project.push()) == MANAGERS
    assert changed(project.push()) == 0


def test_credentials_the_token_endpoint_refuses_stop_the_push_naming_it_and_nothing_is_written(project):
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    account = {**json.loads((project.standins / "service-account.json").read_text()), "private_key": other_key}
    android = project.push("-e", json.dumps({"banwatch_push_android_service_account": account}))
    assert android.returncode != 0
    assert "android_management: the token endpoint answered HTTP 400: Invalid JWT Signature" in android.stdout
    intune = project.push("-e", '{"banwatch_push_managers": ["intune"], "banwatch_push_graph_client_secret": "wrong"}')
    assert intune.returncode != 0 and "intune: the token endpoint answered HTTP 401: AADSTS7000215" in intune.stdout
    assert other_key.splitlines()[1] not in android.stdout + android.stderr  # no_log: the key is never shown
    assert project.writes() == []


def test_collecting_twice_stores_the_devices_once_and_the_second_run_changes_nothing(project):
    """Every page of the Android listing is fetched (three devices a page: the example's four phones
    come in two, linked by nextPageToken), saved, and imported; check mode fetches and imports
    nothing; the second run stores nothing new."""
    checked = project.collect("--check", "-e", "banwatch_push_collect_page_size=3")
    assert changed(checked) == 0 and "check mode: fetched, not imported" in checked.stdout
    assert not (project.inventory.parent / "fleet.db").exists()
    first = project.collect("-e", "banwatch_push_collect_page_size=3")
    assert changed(first) == 1
    assert "4 new device report(s) stored, 0 already stored, 0 unknown device(s)" in first.stdout
    pages = sorted((project.inventory.parent / "listings" / "android_management").iterdir())
    assert [page.name for page in pages] == ["LC02my9vtl-0001.json", "LC02my9vtl-0002.json"]
    assert [len(json.loads(page.read_text())["devices"]) for page in pages] == [3, 1]
    second = project.collect("-e", "banwatch_push_collect_page_size=3")
    assert changed(second) == 0 and "0 new device report(s) stored, 4 already stored" in second.stdout
