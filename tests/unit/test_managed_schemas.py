"""Each compiler's documents checked against the vendor's own published schema, where one can
be had offline: the Android Management API's discovery document (the google-api-python-client
wheel), and Apple's device-management profile schemas (vendored under tests/fixtures/vendor).
Graph bodies, AppLocker XML and Santa rules have no such schema here: docs/managed.md says what
they are checked against instead, which is what the tests below the first two hold them to."""

from __future__ import annotations

import datetime as dt
import json
import plistlib
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from banwatch.control.managed.export import export
from tests.conftest import EXAMPLE_POLICY, REPO, example_documents
from tests.vendor_schemas import DISCOVERY, discovery_schema

EXAMPLE_INVENTORY = REPO / "inventory" / "example" / "hosts.yml"
APPLE = REPO / "tests" / "fixtures" / "vendor" / "apple-device-management"
ISSUED = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example's export, its ban list given Santa's identifiers too so every manager has rules."""
    folder = tmp_path_factory.mktemp("export")
    banlist, register = example_documents()
    banlist["apps"][0]["match"]["macos_team_ids"] = ["AB12CD34EF"]
    banlist["apps"][0]["match"]["macos_signing_ids"] = ["AB12CD34EF:com.example.live-studio"]
    banlist["apps"][0]["match"]["executable_sha256"] = ["a" * 64]
    source = folder / "policy"
    source.mkdir()
    (source / "banlist.yml").write_text(yaml.safe_dump(banlist, sort_keys=False))
    (source / "exemptions.yml").write_text(yaml.safe_dump(register, sort_keys=False))
    export(str(source), str(EXAMPLE_INVENTORY), str(folder / "out"), version=1, issued_at=ISSUED)
    return folder / "out"


def documents(out: Path, pattern: str) -> list[Path]:
    found = sorted(out.glob(pattern))
    assert found, pattern
    return found


# The Android Management API --------------------------------------------------------------


def test_android_policies_are_valid_policy_resources_of_the_discovery_document(exported):
    validator = jsonschema.Draft7Validator(discovery_schema("Policy"))
    for path in documents(exported, "android_management/policies/*.json"):
        policy = json.loads(path.read_text())
        validator.validate(policy)
        assert policy["playStoreMode"] == "BLACKLIST" and policy["statusReportingSettings"] == \
            {"applicationReportsEnabled": True}
        assert all(app["installType"] == "BLOCKED" for app in policy["applications"])
    misspelt = {"applications": [{"packageName": "com.example", "installtype": "BLOCKED"}]}
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(misspelt)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"playStoreMode": "BLOCKLIST"})


def test_the_discovery_document_says_what_the_compiler_relies_on():
    schemas = json.loads(DISCOVERY.read_text())["schemas"]
    assert "at most 3,000" in schemas["Policy"]["properties"]["applications"]["description"]
    modes = schemas["Policy"]["properties"]["playStoreMode"]
    assert "Defaults to WHITELIST" in modes["enumDescriptions"][modes["enum"].index("PLAY_STORE_MODE_UNSPECIFIED")]
    blocked = schemas["ApplicationPolicy"]["properties"]["installType"]
    assert "uninstalled" in blocked["enumDescriptions"][blocked["enum"].index("BLOCKED")]


# Apple configuration profiles --------------------------------------------------------------

_PLIST_TYPES = {"<string>": str, "<integer>": int, "<boolean>": bool, "<array>": list, "<dictionary>": dict,
                "<date>": dt.datetime, "<data>": bytes, "<real>": float}


def apple_keys(*files: str) -> list[dict[str, Any]]:
    return [key for file in files for key in yaml.safe_load((APPLE / file).read_text())["payloadkeys"]]


def check_keys(value: dict[str, Any], keys: list[dict[str, Any]], where: str) -> list[str]:
    """What in `value` breaks Apple's key list: unknown keys, missing required ones, wrong types
    or values outside a `rangelist`, into arrays' items too."""
    problems = []
    by_name = {key["key"]: key for key in keys}
    for name, key in by_name.items():
        if key.get("presence") == "required" and name not in value:
            problems.append(f"{where}: {name} missing")
    for name, item in value.items():
        key = by_name.get(name)
        if key is None:
            problems.append(f"{where}: {name} is not in Apple's schema")
            continue
        problems += check_value(item, key, f"{where}.{name}")
    return problems


def check_value(item: Any, key: dict[str, Any], where: str) -> list[str]:
    kind = key["type"]
    if kind != "<any>" and not (isinstance(item, _PLIST_TYPES[kind]) and
                                not (kind == "<integer>" and isinstance(item, bool))):
        return [f"{where}: {type(item).__name__}, not {kind}"]
    if "rangelist" in key and item not in key["rangelist"]:
        return [f"{where}: {item!r} not in {key['rangelist']}"]
    if kind == "<array>" and key.get("subkeys"):
        return [problem for index, element in enumerate(item) for problem in
                check_value(element, key["subkeys"][0], f"{where}[{index}]")]
    return []


def test_apple_profiles_follow_apples_profile_schema(exported):
    top, restrictions = apple_keys("TopLevel.yaml"), apple_keys("CommonPayloadKeys.yaml",
                                                                "com.apple.applicationaccess.yaml")
    for path in documents(exported, "apple_mdm/profiles/*.mobileconfig"):
        profile = plistlib.loads(path.read_bytes())
        assert check_keys(profile, top, path.name) == []
        [payload] = profile["PayloadContent"]
        assert payload["PayloadType"] == "com.apple.applicationaccess"
        assert check_keys(payload, restrictions, f"{path.name} restrictions") == []
        uuid5 = r"[0-9A-F]{8}-[0-9A-F]{4}-5[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}"
        assert re.fullmatch(uuid5, payload["PayloadUUID"])
    wrong = {"PayloadType": "Configuration", "PayloadVersion": 2, "PayloadIdentifier": "x", "PayloadUUID": "y",
             "PayloadContent": [], "blockedApps": []}
    assert len(check_keys(wrong, top, "wrong")) == 2  # the checker itself catches a bad version and a stray key


def test_apples_schema_says_blocking_needs_a_supervised_device_and_no_user_enrollment():
    [blocked] = [key for key in apple_keys("com.apple.applicationaccess.yaml") if key["key"] == "blockedAppBundleIDs"]
    ios = blocked["supportedOS"]["iOS"]
    assert (ios["supervised"], ios["userenrollment"]["mode"], ios["introduced"]) == (True, "forbidden", "15.0")


# Intune, AppLocker and Santa: held to the documented field names and forms ------------------


def test_intune_ios_blocks_where_supervised_and_marks_non_compliance_where_not(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  vars: {banwatch_managed_by: intune}\n  hosts:\n" + "".join(
        f"    {kind.replace('_', '-')}.example.gov: {{banwatch_managed_enrolment: {kind}, "
        f"banwatch_managed_device_id: id-{kind}}}\n" for kind in ("ios_supervised", "ios_unsupervised",
                                                                  "ios_user_enrolled")))
    export(str(EXAMPLE_POLICY), str(inventory), str(tmp_path / "out"), version=1, issued_at=ISSUED)
    ios = tmp_path / "out" / "intune" / "ios"
    assert sorted(p.name for p in ios.iterdir()) == [
        "ios-supervised-all.compliance-policy.json", "ios-supervised-all.device-configuration.json",
        "ios-unsupervised-all.compliance-policy.json"]
    configuration = json.loads((ios / "ios-supervised-all.device-configuration.json").read_text())
    assert configuration["@odata.type"] == "#microsoft.graph.iosGeneralDeviceConfiguration"
    assert configuration["appsVisibilityListType"] == "appsNotInListCompliant"
    assert configuration["appsVisibilityList"] == [{"name": "TikTok", "appId": "com.zhiliaoapp.musically"}]
    compliance = json.loads((ios / "ios-unsupervised-all.compliance-policy.json").read_text())
    assert compliance["@odata.type"] == "#microsoft.graph.iosCompliancePolicy"
    assert compliance["restrictedApps"] == configuration["appsVisibilityList"]
    manifest = json.loads((tmp_path / "out" / "intune" / "manifest.json").read_text())
    assert manifest["devices"]["ios-user-enrolled.example.gov"]["document"] is None


def test_intune_windows_documents_carry_applocker_rule_collections_to_the_csp(exported):
    for path in documents(exported, "intune/windows/*.custom-configuration.json"):
        body = json.loads(path.read_text())
        assert body["@odata.type"] == "#microsoft.graph.windows10CustomConfiguration"
        nodes = {setting["omaUri"].rsplit("/", 2)[1]: ET.fromstring(setting["value"])  # noqa: S314 - our own output
                 for setting in body["omaSettings"]}
        assert {node: collection.get("Type") for node, collection in nodes.items()} == \
            {"StoreApps": "Appx", "EXE": "Exe"}
        for collection in nodes.values():
            assert collection.tag == "RuleCollection" and collection.get("EnforcementMode") == "Enabled"
            actions = [rule.get("Action") for rule in collection]
            assert actions[0] == "Allow" and set(actions[1:]) <= {"Deny"}
    strict = ET.parse(exported / "intune" / "windows" / "windows-all.applocker.xml").getroot()  # noqa: S314 - ours
    denied = [c.get("ProductName") for c in strict.iter("FilePublisherCondition")][1:]
    assert denied == ["BytedancePte.Ltd.TikTok"]
    assert [c.get("Path") for c in strict.iter("FilePathCondition")][1:] == [
        r"%OSDRIVE%\Program Files\TikTok LIVE Studio\*",
        r"%OSDRIVE%\Users\*\AppData\Local\Programs\TikTok LIVE Studio\*"]
    relaxed = ET.parse(exported / "intune" / "windows" / "windows-except-tiktok.applocker.xml").getroot()  # noqa: S314
    assert [rule.get("Action") for rule in relaxed.iter() if rule.get("Action")] == ["Allow", "Allow"]


def test_santa_rules_are_what_santactl_imports(exported):
    for path in documents(exported, "santa/rules/*.json"):
        rules = json.loads(path.read_text())["rules"]
        for rule in rules:
            assert set(rule) == {"identifier", "policy", "rule_type", "custom_msg"} and rule["policy"] == "BLOCKLIST"
            assert re.fullmatch({"BINARY": r"[0-9a-f]{64}", "TEAMID": r"[A-Z0-9]{10}",
                                 "SIGNINGID": r"([A-Z0-9]{10}|platform):.+"}[rule["rule_type"]], rule["identifier"])
    strict = json.loads((exported / "santa" / "rules" / "macos-all.json").read_text())["rules"]
    assert {rule["rule_type"] for rule in strict} == {"BINARY", "SIGNINGID", "TEAMID"}
