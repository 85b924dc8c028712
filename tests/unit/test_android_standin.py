"""The Android Management API stand-in answers as the API documents, and holds every body to the
discovery document: a valid Policy or Device is stored, anything else is a 400 with Google's
error body, and no body whatever makes it raise (hypothesis, seeded by the run's seed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from banwatch_lab.standins import discovery
from banwatch_lab.standins.google import AndroidStandin
from banwatch_lab.standins.http import Request, Response

ENTERPRISE = "enterprises/LC02"
DEVICE = f"{ENTERPRISE}/devices/d1"
POLICY = f"{ENTERPRISE}/policies/banwatch-all"
TOKEN = "ya29.test"  # noqa: S105 - the stand-in's test token, no secret
BLOCKED = {"applications": [{"packageName": "com.zhiliaoapp.musically", "installType": "BLOCKED"}],
           "playStoreMode": "BLACKLIST", "statusReportingSettings": {"applicationReportsEnabled": True}}


@pytest.fixture
def standin(tmp_path: Path) -> AndroidStandin:
    state = tmp_path / "android.json"
    state.write_text(json.dumps({"policies": {}, "devices": {DEVICE: {"name": DEVICE, "policyName": "x"}}}))
    server = AndroidStandin(str(state), "https://lab.invalid/token", {}, faults_file=str(tmp_path / "faults.json"))
    server.tokens[TOKEN] = float("inf")
    return server


def call(standin: AndroidStandin, method: str, name: str, body: Any = None, query: str | None = None) -> Response:
    raw = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    return standin(Request(method, f"/v1/{name}", {"updateMask": [query]} if query else {},
                           {"authorization": f"Bearer {TOKEN}"}, raw))


def is_google_error(response: Response, status: int) -> bool:
    error = response.body.get("error", {})
    return response.status == status and error.get("code") == status and \
        isinstance(error.get("message"), str) and isinstance(error.get("status"), str)


def test_a_valid_policy_is_stored_versioned_and_a_device_moves_to_it_only_once_it_exists(standin, tmp_path):
    moved = call(standin, "PATCH", DEVICE, {"policyName": POLICY}, "policyName")
    assert is_google_error(moved, 400) and "not found" in moved.body["error"]["message"]
    assert call(standin, "PATCH", POLICY, BLOCKED).body == {**BLOCKED, "name": POLICY, "version": "1"}
    assert call(standin, "PATCH", POLICY, BLOCKED).body["version"] == "2"
    assert call(standin, "PATCH", DEVICE, {"policyName": "banwatch-all"}, "policyName").body["policyName"] == POLICY
    assert call(standin, "GET", POLICY).status == 200 and is_google_error(call(standin, "GET", POLICY + "x"), 404)
    saved = json.loads((tmp_path / "android.json").read_text())
    assert saved["devices"][DEVICE]["policyName"] == POLICY and saved["policies"][POLICY]["version"] == "2"


@pytest.mark.parametrize(("body", "said"), [
    ({"applications": [{"packageName": "a.b", "installtype": "BLOCKED"}]}, "installtype"),
    ({"playStoreMode": "BLOCKLIST"}, "BLOCKLIST"),
    ({"applications": {"packageName": "a.b"}}, "is not of type 'array'"),
    ({"name": f"{ENTERPRISE}/policies/other"}, "does not match"),
    (b"\xff{", "Invalid JSON payload"),
])
def test_a_policy_the_discovery_document_does_not_allow_is_a_400_and_nothing_is_stored(standin, body, said):
    answer = call(standin, "PATCH", POLICY, body)
    assert is_google_error(answer, 400) and said in answer.body["error"]["message"]
    assert standin.state["policies"] == {}


def test_a_device_patch_checks_its_mask_and_the_device_schema(standin):
    call(standin, "PATCH", POLICY, BLOCKED)
    assert is_google_error(call(standin, "PATCH", DEVICE, {"policyName": POLICY}), 400)  # no updateMask
    assert is_google_error(call(standin, "PATCH", DEVICE, {"policyname": POLICY}, "policyName"), 400)
    assert is_google_error(call(standin, "PATCH", f"{ENTERPRISE}/devices/nope", {"policyName": POLICY}, "policyName"),
                           404)
    assert is_google_error(call(standin, "GET", "enterprises/other/devices/d1"), 403)


def test_an_injected_failure_answers_its_status_and_writes_nothing(standin, tmp_path):
    (tmp_path / "faults.json").write_text(json.dumps([{"method": "PATCH", "path": f"/v1/{POLICY}", "status": 503}]))
    assert is_google_error(call(standin, "PATCH", POLICY, BLOCKED), 503)
    assert standin.state["policies"] == {}


def test_the_discovery_schema_has_the_slice_the_push_uses():
    assert discovery.document()["revision"] and discovery.problem("Policy", BLOCKED) is None
    assert discovery.problem("Device", {"policyName": POLICY}) is None


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                     lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children,
                                                                                        max_size=4), max_leaves=12)
_POLICY_FIELDS = frozenset(discovery.document()["schemas"]["Policy"]["properties"])
# Bodies that are no Policy: not JSON, JSON that is no object, or an object with a field Policy lacks.
_GARBAGE = (st.binary(max_size=64).filter(lambda raw: not _is_json_object(raw))
            | _JSON.filter(lambda value: not isinstance(value, dict)).map(lambda value: json.dumps(value).encode())
            | st.tuples(st.text(min_size=1, max_size=12).filter(lambda key: key not in _POLICY_FIELDS), _JSON,
                        st.dictionaries(st.sampled_from(sorted(_POLICY_FIELDS)), _JSON, max_size=3))
            .map(lambda parts: json.dumps({**parts[2], parts[0]: parts[1]}).encode()))


def _is_json_object(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except ValueError:
        return False


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(body=_GARBAGE, device=st.booleans())
def test_garbage_bodies_are_refused_with_a_400_never_a_traceback(standin, body, device):
    answer = call(standin, "PATCH", DEVICE if device else POLICY, body, "policyName" if device else None)
    assert is_google_error(answer, 400), answer
    assert standin.state["policies"] == {} and standin.state["devices"][DEVICE]["policyName"] == "x"


def test_a_field_the_discovery_document_types_any_takes_any_json_value():
    """Discovery's `"type": "any"` (openNetworkConfiguration's values, for one) is no constraint in
    JSON Schema: found by the garbage-body test with seed 4."""
    assert discovery.problem("Policy", {"openNetworkConfiguration": {"": None, "x": [1, {"y": True}]}}) is None
    assert "openNetworkConfiguration" in (discovery.problem("Policy", {"openNetworkConfiguration": 3}) or "")


def _listing_standin(tmp_path: Path, count: int) -> AndroidStandin:
    devices = {f"{ENTERPRISE}/devices/d{index:03}": {
        "name": f"{ENTERPRISE}/devices/d{index:03}", "state": "ACTIVE", "appliedPolicyName": POLICY,
        "appliedPolicyVersion": "3", "lastStatusReportTime": "2026-11-30T08:00:00Z",
        "applicationReports": [{"packageName": "com.tencent.mm", "versionName": "8.0", "state": "INSTALLED"}],
        "nonComplianceDetails": [{"settingName": "applications", "nonComplianceReason": "APP_INSTALLED",
                                  "packageName": "com.tencent.mm"}]} for index in range(count)}
    state = tmp_path / "android.json"
    state.write_text(json.dumps({"policies": {}, "devices": devices}))
    server = AndroidStandin(str(state), "https://lab.invalid/token", {})
    server.tokens[TOKEN] = float("inf")
    return server


def list_page(standin: AndroidStandin, **query: str) -> Response:
    return standin(Request("GET", f"/v1/{ENTERPRISE}/devices", {key: [value] for key, value in query.items()},
                           {"authorization": f"Bearer {TOKEN}"}, b""))


@pytest.mark.parametrize(("count", "size", "pages"), [(1, None, 1), (10, None, 1), (11, None, 2), (25, "7", 4),
                                                      (250, "500", 3)])
def test_the_listing_pages_every_device_once_each_page_a_valid_list_devices_response(tmp_path, count, size, pages):
    standin, seen, served, token = _listing_standin(tmp_path, count), [], 0, None
    while True:
        query = {**({"pageSize": size} if size else {}), **({"pageToken": token} if token else {})}
        answer = list_page(standin, **query)
        assert answer.status == 200 and discovery.problem("ListDevicesResponse", answer.body) is None
        served += 1
        seen += [device["name"] for device in answer.body["devices"]]
        token = answer.body.get("nextPageToken")
        if token is None:
            break
    assert served == pages and seen == sorted(standin.state["devices"])


@pytest.mark.parametrize("query", [{"pageSize": "ten"}, {"pageSize": "-1"}, {"pageToken": "bm9wZQ"},
                                   {"pageToken": "%%"}, {"filter": "x"}])
def test_a_listing_query_the_api_would_refuse_is_a_400(tmp_path, query):
    assert is_google_error(list_page(_listing_standin(tmp_path, 3), **query), 400)


def test_a_device_a_test_writes_is_what_the_next_listing_shows_and_a_wrong_one_is_never_served(tmp_path):
    standin = _listing_standin(tmp_path, 1)
    state = json.loads((tmp_path / "android.json").read_text())
    device = state["devices"][f"{ENTERPRISE}/devices/d000"]
    device["applicationReports"] = [{"packageName": "com.lemon.lvoverseas", "state": "INSTALLED"}]
    (tmp_path / "android.json.new").write_text(json.dumps(state))
    (tmp_path / "android.json.new").replace(tmp_path / "android.json")
    assert list_page(standin).body["devices"][0]["applicationReports"][0]["packageName"] == "com.lemon.lvoverseas"
    device["applicationReports"] = [{"packageName": "com.lemon.lvoverseas", "state": "PRESENT"}]
    (tmp_path / "android.json.new").write_text(json.dumps(state))
    (tmp_path / "android.json.new").replace(tmp_path / "android.json")
    with pytest.raises(ValueError, match="ListDevicesResponse"):
        list_page(standin)
