"""Graph bodies held to Graph's own v1.0 metadata (the vendored CSDL slice): the export's Intune
bodies, and what the metadata refuses (a property no type in the BaseType chain declares, a
wrong Edm type, an enum value outside its members, an abstract or unrelated @odata.type)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from banwatch.control.managed.export import export
from banwatch_lab.standins import csdl
from tests.conftest import EXAMPLE_POLICY, REPO

ISSUED = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.timezone.utc)
IOS_HOSTS = {"all": {"children": {"managed": {"hosts": {
    "iph-a.example.gov": {"banwatch_managed_by": "intune", "banwatch_managed_enrolment": "ios_supervised",
                          "banwatch_managed_device_id": "0a1b2c3d-0000-4000-8000-000000000001"},
    "iph-b.example.gov": {"banwatch_managed_by": "intune", "banwatch_managed_enrolment": "ios_unsupervised",
                          "banwatch_managed_device_id": "0a1b2c3d-0000-4000-8000-000000000002"}}}}}}


@pytest.fixture(scope="module")
def intune(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Intune export for the example's Windows laptops and for two iPhones under Intune."""
    folder = tmp_path_factory.mktemp("intune")
    export(str(EXAMPLE_POLICY), str(REPO / "inventory" / "example" / "hosts.yml"), str(folder / "windows"),
           version=1, issued_at=ISSUED)
    (folder / "ios.yml").write_text(yaml.safe_dump(IOS_HOSTS))
    export(str(EXAMPLE_POLICY), str(folder / "ios.yml"), str(folder / "ios"), version=1, issued_at=ISSUED)
    return folder


def test_the_slice_names_its_source_and_keeps_the_inheritance_it_needs():
    header = csdl.SLICE.read_text()[:600]
    assert "microsoftgraph/msgraph-metadata" in header and "v1.0-Prod.csdl" in header
    assert csdl.derives("windows10CustomConfiguration", "entity") and csdl.derives("omaSettingString", "omaSetting")
    assert {"id", "displayName", "omaSettings"} <= set(csdl.members("windows10CustomConfiguration"))


def test_the_exported_device_configurations_are_valid_graph_bodies(intune):
    bodies = sorted([*intune.glob("windows/intune/windows/*.json"),
                     *intune.glob("ios/intune/ios/*device-configuration.json")])
    assert len(bodies) == 3
    for path in bodies:
        assert csdl.problem(json.loads(path.read_text()), "deviceConfiguration") is None, path


def test_the_exported_ios_compliance_policies_are_valid_beta_bodies_and_no_v1_bodies(intune):
    """v1.0's iosCompliancePolicy has no restrictedApps: the push sends these to beta."""
    bodies = sorted(intune.glob("ios/intune/ios/*compliance-policy.json"))
    assert len(bodies) == 2
    for path in bodies:
        body = json.loads(path.read_text())
        assert csdl.problem(body, "deviceCompliancePolicy", "beta") is None, path
        assert "'restrictedApps' does not exist" in str(csdl.problem(body, "deviceCompliancePolicy")), path


def test_the_beta_extract_names_its_source_and_lists_beta_properties_only_for_beta():
    header = csdl.BETA_EXTRACT.read_text()[:800]
    assert "beta-entity-types.json" in header and "f54f11b60956ea7b185ca0447b2b80805836ec7b" in header
    assert "restrictedApps" in csdl.members("iosCompliancePolicy", "beta")
    assert "restrictedApps" not in csdl.members("iosCompliancePolicy")
    assert "remoteLock" in csdl.beta().values["deviceComplianceActionType"]
    assert "remoteLock" not in csdl.enum_values("deviceComplianceActionType", "beta")  # v1.0 has no such member


@pytest.mark.parametrize(("body", "said"), [
    ({"@odata.type": "#microsoft.graph.iosCompliancePolicy", "restrictedApps": [{"appId": "a", "appID": "b"}]},
     "'appID' does not exist on type 'microsoft.graph.appListItem'"),
    ({"@odata.type": "#microsoft.graph.iosCompliancePolicy", "restrictedApps": [{"appId": 3}]},
     "not a valid Edm.String"),
    ({"@odata.type": "#microsoft.graph.iosCompliancePolicy", "osMinimumBuildVersion": "1"},
     "outside the stand-in's slice"),
])
def test_what_beta_does_not_allow_is_refused_too(body, said):
    found = csdl.problem(body, "deviceCompliancePolicy", "beta")
    assert found is not None and said in found


WINDOWS = "#microsoft.graph.windows10CustomConfiguration"
OMA = {"@odata.type": "#microsoft.graph.omaSettingString", "displayName": "x", "omaUri": "./a", "value": "v"}


@pytest.mark.parametrize(("body", "said"), [
    ({"@odata.type": WINDOWS, "displayname": "x"}, "property 'displayname' does not exist"),
    ({"displayName": "x"}, "@odata.type is required"),
    ({"@odata.type": "#microsoft.graph.deviceConfiguration"}, "is abstract"),
    ({"@odata.type": "#microsoft.graph.iosCompliancePolicy"}, "is not a type deriving from"),
    ({"@odata.type": WINDOWS, "version": "3"}, "not a valid Edm.Int32"),
    ({"@odata.type": WINDOWS, "displayName": None}, "null is not allowed"),
    ({"@odata.type": WINDOWS, "omaSettings": OMA}, "expected a collection"),
    ({"@odata.type": WINDOWS, "omaSettings": [{**OMA, "@odata.type": None}]}, "@odata.type is required"),
    ({"@odata.type": WINDOWS, "omaSettings": [{**OMA, "isEncrypted": True}]}, "'isEncrypted' does not exist"),
    ({"@odata.type": "#microsoft.graph.iosGeneralDeviceConfiguration", "appsVisibilityListType": "hidden"},
     "not a member of enum graph.appListType"),
])
def test_what_the_metadata_does_not_allow_is_refused_with_where_and_why(body, said):
    found = csdl.problem(body, "deviceConfiguration")
    assert found is not None and said in found


def test_a_valid_body_with_inherited_properties_passes():
    body = {"@odata.type": WINDOWS, "displayName": "banwatch x", "description": "d", "version": 2,
            "lastModifiedDateTime": "2026-11-25T09:00:00Z", "omaSettings": [OMA]}
    assert csdl.problem(body, "deviceConfiguration") is None
