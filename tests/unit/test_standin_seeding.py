"""The stand-ins' seeded devices (the example inventory's Android and Intune devices) are listed
as the vendors list them, and what a test sets through `set_standin_devices` is what the next
listing shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from banwatch_lab.standins import control, discovery
from banwatch_lab.standins.google import AndroidStandin
from banwatch_lab.standins.graph import GraphStandin, listing_problem
from banwatch_lab.standins.http import Request
from banwatch_lab.state import LabError

ROOT = Path(__file__).resolve().parents[2]
INVENTORY, POLICY = ROOT / "inventory/example/hosts.yml", ROOT / "inventory/example/policy"
TOKEN = "lab.test"  # noqa: S105 - the stand-ins' test token, no secret


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[str, AndroidStandin, GraphStandin]:
    paths = control.StandinPaths.of(str(tmp_path))
    Path(paths.root).mkdir(parents=True)
    control.seed(paths, str(INVENTORY), str(POLICY))
    android = AndroidStandin(paths.file("android.json"), "https://lab.invalid/token", {})
    graph = GraphStandin(paths.file("graph.json"), "tenant", {})
    android.tokens[TOKEN] = graph.tokens[TOKEN] = float("inf")
    return str(tmp_path), android, graph


def get(standin: AndroidStandin | GraphStandin, path: str, **query: str) -> dict:
    answer = standin(Request("GET", path, {key: [value] for key, value in query.items()},
                             {"authorization": f"Bearer {TOKEN}", "host": "lab"}, b""))
    assert answer.status == 200, answer
    return answer.body


def test_the_seeded_devices_are_valid_listings_and_a_set_device_is_listed_as_set(seeded):
    lab, android, graph = seeded
    phones = get(android, "/v1/enterprises/LC02my9vtl/devices")
    assert discovery.problem("ListDevicesResponse", phones) is None and len(phones["devices"]) >= 2
    laptops = get(graph, "/v1.0/deviceManagement/managedDevices")
    assert listing_problem(laptops, "managedDevice") is None and laptops["value"]
    phone = phones["devices"][0]["name"].rsplit("/", 1)[1]
    laptop = laptops["value"][0]["id"]
    control.set_standin_devices(lab, "android_management", {phone: {
        "applicationReports": [{"packageName": "com.tencent.mm", "state": "INSTALLED"}],
        "lastStatusReportTime": "2026-10-01T00:00:00Z"}})
    control.set_standin_devices(lab, "intune", {laptop: {"lastSyncDateTime": "2026-10-02T00:00:00Z"}},
                                {"wechat": {"displayName": "WeChat", "managedDevices": [laptop]}})
    shown = {device["name"].rsplit("/", 1)[1]: device for device in
             get(android, "/v1/enterprises/LC02my9vtl/devices")["devices"]}
    assert shown[phone]["applicationReports"][0]["packageName"] == "com.tencent.mm"
    assert get(graph, "/v1.0/deviceManagement/managedDevices")["value"][0]["lastSyncDateTime"].startswith("2026-10-02")
    apps = get(graph, "/v1.0/deviceManagement/detectedApps", **{"$expand": "managedDevices"})
    assert listing_problem(apps, "detectedApp") is None and apps["value"][0]["managedDevices"][0]["id"] == laptop


def test_setting_a_device_the_stand_in_does_not_have_is_a_lab_error(seeded):
    with pytest.raises(LabError, match="no device nope"):
        control.set_standin_devices(seeded[0], "intune", {"nope": {}})
