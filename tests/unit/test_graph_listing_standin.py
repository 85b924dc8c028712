"""The Graph stand-in lists managedDevices and detectedApps (with their managedDevices) as Graph
v1.0 does, in pages linked by @odata.nextLink, each item valid against the vendored CSDL slice;
what a test writes to the state file is what the next listing shows."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from banwatch_lab.standins.graph import GraphStandin, listing_problem
from banwatch_lab.standins.http import Request, Response

TOKEN = "eyJ0.test"  # noqa: S105 - the stand-in's test token, no secret
DEVICES = "/v1.0/deviceManagement/managedDevices"
APPS = "/v1.0/deviceManagement/detectedApps"


def _state(count: int) -> dict[str, object]:
    devices = {f"00000000-0000-0000-0000-{index:012}": {
        "deviceName": f"laptop-{index}", "operatingSystem": "Windows", "complianceState": "compliant",
        "lastSyncDateTime": "2026-11-30T08:00:00Z"} for index in range(count)}
    return {"groups": {}, "deviceConfigurations": {}, "deviceCompliancePolicies": {}, "assignments": {},
            "managedDevices": devices,
            "detectedApps": {"app-wechat": {"displayName": "WeChat", "version": "3.9", "platform": "windows",
                                            "managedDevices": sorted(devices)[:2]}}}


@pytest.fixture
def graph(tmp_path: Path) -> GraphStandin:
    (tmp_path / "graph.json").write_text(json.dumps(_state(7)))
    server = GraphStandin(str(tmp_path / "graph.json"), "tenant", {})
    server.tokens[TOKEN] = float("inf")
    return server


def get(graph: GraphStandin, path: str, **query: str) -> Response:
    return graph(Request("GET", path, {key: [value] for key, value in query.items()},
                         {"authorization": f"Bearer {TOKEN}", "host": "graph.lab:8444"}, b""))


def walk(graph: GraphStandin, path: str, item_type: str, **query: str) -> list[dict[str, object]]:
    """Every item, following @odata.nextLink; each page checked against the CSDL slice."""
    items: list[dict[str, object]] = []
    while True:
        answer = get(graph, path, **query)
        assert answer.status == 200 and listing_problem(answer.body, item_type) is None, answer
        items += answer.body["value"]
        link = answer.body.get("@odata.nextLink")
        if link is None:
            return items
        split = urlsplit(link)
        assert split.scheme == "https" and split.netloc == "graph.lab:8444" and split.path == path
        path, query = split.path, {key: values[0] for key, values in parse_qs(split.query).items()}


@pytest.mark.parametrize("top", [None, "1", "3", "7", "1000"])
def test_every_managed_device_is_listed_once_in_valid_pages(graph, top):
    items = walk(graph, DEVICES, "managedDevice", **({"$top": top} if top else {}))
    assert [item["id"] for item in items] == sorted(graph.state["managedDevices"])


def test_detected_apps_come_with_their_managed_devices(graph):
    (app,) = walk(graph, APPS, "detectedApp", **{"$expand": "managedDevices"})
    assert app["displayName"] == "WeChat" and app["deviceCount"] == 2
    assert [device["id"] for device in app["managedDevices"]] == sorted(graph.state["managedDevices"])[:2]


@pytest.mark.parametrize(("path", "query"), [(DEVICES, {"$top": "0"}), (DEVICES, {"$top": "x"}),
                                             (DEVICES, {"$skiptoken": "99"}), (DEVICES, {"$filter": "x"}),
                                             (APPS, {}), (APPS, {"$expand": "users"})])
def test_a_listing_query_graph_would_refuse_is_a_400(graph, path, query):
    answer = get(graph, path, **query)
    assert answer.status == 400 and answer.body["error"]["code"] == "BadRequest"


def test_what_a_test_writes_is_listed_next_and_a_device_graph_could_not_send_is_never_served(graph, tmp_path):
    state = _state(1)
    state["managedDevices"]["00000000-0000-0000-0000-000000000000"]["lastSyncDateTime"] = "2026-10-01T00:00:00Z"
    (tmp_path / "new.json").write_text(json.dumps(state))
    (tmp_path / "new.json").replace(tmp_path / "graph.json")
    assert [item["lastSyncDateTime"] for item in walk(graph, DEVICES, "managedDevice")] == ["2026-10-01T00:00:00Z"]
    state["managedDevices"]["00000000-0000-0000-0000-000000000000"]["complianceState"] = "fine"
    (tmp_path / "new.json").write_text(json.dumps(state))
    (tmp_path / "new.json").replace(tmp_path / "graph.json")
    with pytest.raises(ValueError, match="managedDevice listing"):
        get(graph, DEVICES)
