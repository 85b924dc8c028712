"""The Intune push's decisions before any write (what to read, create, patch and assign; what is
refused), and the Graph stand-in's answers: Graph's metadata and the AppLocker parser applied to
every body, Graph's error bodies, and no body whatever making it raise (hypothesis, seeded by the
run's seed)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from banwatch.control.managed.export import export
from banwatch.control.managed.push import PushRefused, Reply
from banwatch.control.managed.push_intune import EXCLUDE, INCLUDE, Banned, IntunePush, filter_url
from banwatch.control.policy_source import load_policy_source
from banwatch_lab.standins.graph import GRAPH_SCOPE, GraphStandin
from banwatch_lab.standins.http import Request, Response
from tests.conftest import EXAMPLE_POLICY, REPO

ISSUED = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.timezone.utc)
ROOT = "https://graph.invalid"
API, BETA = f"{ROOT}/v1.0", f"{ROOT}/beta"
STRICT, RELAXED = "banwatch windows-all", "banwatch windows-except-tiktok"
GROUPS = {"banwatch-windows": "11111111-1111-4111-8111-111111111111",
          "banwatch-windows-except-tiktok": "22222222-2222-4222-8222-222222222222"}
CONFIGS = "/v1.0/deviceManagement/deviceConfigurations"


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example's Intune export for its Windows laptops alone (its iPhones under Intune left out)."""
    folder = tmp_path_factory.mktemp("export")
    inventory = yaml.safe_load((REPO / "inventory" / "example" / "hosts.yml").read_text())
    groups = inventory["all"]["children"]
    iphones = groups["managed"]["children"].pop("intune_iphones")["hosts"]
    for group in ("press_office", "classified"):
        groups[group]["hosts"] = {host: None for host in groups[group]["hosts"] if host not in iphones}
    (folder / "windows.yml").write_text(yaml.safe_dump(inventory))
    export(str(EXAMPLE_POLICY), str(folder / "windows.yml"), str(folder / "managed"), version=1, issued_at=ISSUED)
    return folder / "managed"


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example's Intune export with its iPhones under Intune."""
    folder = tmp_path_factory.mktemp("full")
    export(str(EXAMPLE_POLICY), str(REPO / "inventory" / "example" / "hosts.yml"), str(folder), version=1,
           issued_at=ISSUED)
    return folder


def test_the_ios_compliance_policy_alone_is_read_and_written_on_graph_beta(full, banned):
    push = IntunePush(str(full), banned, API, BETA)
    found = {read["item"]: Reply(200, {"value": []}) for read in push.reads()}
    found.update({item: Reply(200, {"value": [{"id": f"g{index}", "displayName": item}]})
                  for index, item in enumerate(found) if item.startswith("groups:")})
    on_beta = {read["item"].split(":")[0] for read in push.reads() if read["url"].startswith(f"{BETA}/")}
    assert on_beta == {"deviceCompliancePolicies"}
    writes = push.plan(found).writes
    beta = [write for write in writes if write.url.startswith(f"{BETA}/")]
    assert {write.method for write in beta} == {"POST"} and len(beta) == 4  # two policies, two assigns
    assert all("/deviceCompliancePolicies" in write.url for write in beta)
    assert all(write.url.startswith(f"{API}/deviceManagement/deviceConfigurations") for write in writes
               if write not in beta)


def test_a_graph_base_url_without_its_version_is_refused_by_name(out, banned):
    with pytest.raises(PushRefused, match=re.escape("'https://graph.invalid' does not end in /v1.0")):
        IntunePush(str(out), banned, ROOT, BETA)


@pytest.fixture(scope="module")
def banned() -> Banned:
    return Banned.of(load_policy_source(EXAMPLE_POLICY, ISSUED.date()))


def empty_tenant(push: IntunePush) -> dict[str, Reply]:
    found = {read["item"]: Reply(200, {"value": []}) for read in push.reads()}
    found.update({f"groups:{name}": Reply(200, {"value": [{"id": gid, "displayName": name}]})
                  for name, gid in GROUPS.items()})
    return found


def test_a_first_push_creates_both_configurations_then_assigns_them_with_the_exclusion(out, banned):
    push = IntunePush(str(out), banned, API, BETA)
    assert [read["item"] for read in push.reads()] == [
        f"deviceConfigurations:{STRICT}", f"deviceConfigurations:{RELAXED}", "groups:banwatch-windows",
        "groups:banwatch-windows-except-tiktok"]
    assert push.reads()[0]["url"] == filter_url(API, "deviceManagement/deviceConfigurations", STRICT, expand=True)
    assert "%27banwatch%20windows-all%27" in push.reads()[0]["url"]
    plan = push.plan(empty_tenant(push))
    assert [(write.method, write.url.removeprefix(ROOT)) for write in plan.writes] == [
        ("POST", CONFIGS), ("POST", CONFIGS), ("POST", f"{CONFIGS}/{{created0}}/assign"),
        ("POST", f"{CONFIGS}/{{created1}}/assign")]
    assert plan.writes[0].key == "created0" and "[banwatch-digest sha256:" in plan.writes[0].body["description"]
    assert plan.writes[2].body == {"assignments": [
        {"target": {"@odata.type": INCLUDE, "groupId": GROUPS["banwatch-windows"]}},
        {"target": {"@odata.type": EXCLUDE, "groupId": GROUPS["banwatch-windows-except-tiktok"]}}]}


def held(push: IntunePush, *, description: str | None = None) -> dict[str, Reply]:
    """The tenant after a push: each body (its OMA values encrypted) with its assignments."""
    found = empty_tenant(push)
    plan = push.plan(found)
    for index, write in enumerate(plan.writes[:2]):
        body = {**write.body, "id": f"id{index}", "omaSettings": [{"value": "ZW5jcnlwdGVk"}],
                **({"description": description} if description is not None else {}),
                "assignments": [{"target": target["target"]} for target in plan.writes[index + 2].body["assignments"]]}
        found[f"deviceConfigurations:{write.body['displayName']}"] = Reply(200, {"value": [body]})
    return found


def test_what_intune_holds_with_the_same_digest_and_assignments_is_left_alone(out, banned):
    push = IntunePush(str(out), banned, API, BETA)
    assert push.plan(held(push)).writes == []


def test_a_changed_description_digest_patches_the_body_by_its_id(out, banned):
    push = IntunePush(str(out), banned, API, BETA)
    plan = push.plan(held(push, description="edited in the portal"))
    assert [(write.method, write.url.removeprefix(ROOT)) for write in plan.writes] == [
        ("PATCH", f"{CONFIGS}/id0"), ("PATCH", f"{CONFIGS}/id1")]


@pytest.mark.parametrize(("reply", "said"), [
    (Reply(200, {"value": []}), "group banwatch-windows is not in Entra ID"),
    (Reply(200, {"value": [{"id": "a"}, {"id": "b"}]}), "group banwatch-windows is more than once"),
    (Reply(403, {"error": {"code": "Forbidden", "message": "Insufficient privileges"}}),
     "reading group banwatch-windows answered HTTP 403: Insufficient privileges"),
])
def test_a_group_that_cannot_be_resolved_stops_the_push_before_any_write(out, banned, reply, said):
    push = IntunePush(str(out), banned, API, BETA)
    found = empty_tenant(push)
    found["groups:banwatch-windows"] = reply
    with pytest.raises(PushRefused, match=said):
        push.plan(found)


def test_two_configurations_of_one_name_are_refused(out, banned):
    push = IntunePush(str(out), banned, API, BETA)
    found = empty_tenant(push)
    found[f"deviceConfigurations:{STRICT}"] = Reply(200, {"value": [{"id": "a"}, {"id": "b"}]})
    with pytest.raises(PushRefused, match="Intune holds 2 of that name"):
        push.plan(found)


def test_a_register_that_no_longer_bans_tiktok_refuses_its_applocker_rules(out):
    nothing = Banned(frozenset(), frozenset(), frozenset())
    with pytest.raises(PushRefused, match=re.escape("an AppLocker rule denies 'BytedancePte.Ltd.TikTok'")):
        IntunePush(str(out), nothing, API, BETA)


# The Graph stand-in -------------------------------------------------------------------------

TOKEN = "eyJ0.test"  # noqa: S105 - the stand-in's test token, no secret
OMA = {"@odata.type": "#microsoft.graph.omaSettingString", "displayName": "x",
       "omaUri": "./Vendor/MSFT/AppLocker/ApplicationLaunchRestrictions/g/EXE/Policy",
       "value": '<RuleCollection Type="Exe" EnforcementMode="Enabled"><FilePathRule Id="a" Name="n" Description="" '
                'UserOrGroupSid="S-1-1-0" Action="Deny"><Conditions><FilePathCondition Path="*" /></Conditions>'
                '</FilePathRule></RuleCollection>'}
WINDOWS = {"@odata.type": "#microsoft.graph.windows10CustomConfiguration", "displayName": "banwatch x",
           "omaSettings": [OMA]}


@pytest.fixture
def graph(tmp_path: Path) -> GraphStandin:
    state = tmp_path / "graph.json"
    state.write_text(json.dumps({"groups": {GROUPS["banwatch-windows"]: "banwatch-windows"},
                                 "deviceConfigurations": {}, "deviceCompliancePolicies": {}, "assignments": {}}))
    server = GraphStandin(str(state), "tenant", {"client": hashlib.sha256(b"secret").hexdigest()})
    server.tokens[TOKEN] = float("inf")
    return server


def call(graph: GraphStandin, method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> \
        Response:
    raw = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    return graph(Request(method, path, {key: [value] for key, value in (query or {}).items()},
                         {"authorization": f"Bearer {TOKEN}"}, raw))


def is_graph_error(response: Response, status: int) -> bool:
    error = response.body.get("error", {}) if isinstance(response.body, dict) else {}
    return response.status == status and isinstance(error.get("code"), str) and isinstance(error.get("message"), str)


def test_the_token_endpoint_checks_the_client_credentials(graph):
    def token(secret: str, scope: str = GRAPH_SCOPE) -> Response:
        form = f"grant_type=client_credentials&client_id=client&client_secret={secret}&scope={scope}"
        return graph(Request("POST", "/tenant/oauth2/v2.0/token", {}, {}, form.encode()))

    assert token("secret").status == 200 and token("secret").body["token_type"] == "Bearer"  # noqa: S105
    assert token("wrong").status == 401 and token("wrong").body["error"] == "invalid_client"
    assert token("secret", "https://graph.microsoft.com/User.Read").body["error"] == "invalid_scope"


def test_a_configuration_is_created_listed_encrypted_patched_and_assigned(graph):
    created = call(graph, "POST", CONFIGS, WINDOWS)
    assert created.status == 201
    key = created.body["id"]
    listed = call(graph, "GET", CONFIGS, query={"$filter": "displayName eq 'banwatch x'", "$expand": "assignments"})
    [shown] = listed.body["value"]
    assert shown["omaSettings"][0]["value"] != OMA["value"] and shown["assignments"] == []
    assert call(graph, "PATCH", f"{CONFIGS}/{key}", {**WINDOWS, "description": "d"}).status == 204
    target = {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": GROUPS["banwatch-windows"]}
    assert call(graph, "POST", f"{CONFIGS}/{key}/assign", {"assignments": [{"target": target}]}).status == 200
    unknown = {**target, "groupId": "33333333-3333-4333-8333-333333333333"}
    assert is_graph_error(call(graph, "POST", f"{CONFIGS}/{key}/assign", {"assignments": [{"target": unknown}]}), 400)
    assert call(graph, "GET", f"{CONFIGS}/{key}/assignments").body["value"][0]["target"] == target


@pytest.mark.parametrize(("value", "said"), [
    ("<RuleCollection", "does not parse"),
    ('<RuleCollection Type="Appx" EnforcementMode="Enabled" />', "one RuleCollection of Type Exe"),
    ('<RuleCollection Type="Exe" EnforcementMode="Enabled"><FilePathRule Id="a" Name="n" Description="" '
     'UserOrGroupSid="S-1-1-0" Action="Maybe"><Conditions><FilePathCondition Path="*" /></Conditions>'
     '</FilePathRule></RuleCollection>', "Allow or Deny"),
    ('<RuleCollection Type="Exe" EnforcementMode="Enabled"><Zzz /></RuleCollection>', "does not parse"),
])
def test_an_applocker_value_the_parser_refuses_is_a_400(graph, value, said):
    answer = call(graph, "POST", CONFIGS, {**WINDOWS, "omaSettings": [{**OMA, "value": value}]})
    assert is_graph_error(answer, 400) and said in answer.body["error"]["message"]
    assert graph.state["deviceConfigurations"] == {}


def test_a_compliance_policy_body_is_held_to_the_metadata_too(graph):
    body = {"@odata.type": "#microsoft.graph.iosCompliancePolicy", "displayName": "x",
            "restrictedApps": [{"appId": "com.zhiliaoapp.musically", "name": "TikTok"}],
            "scheduledActionsForRule": [{"ruleName": "PasswordRequired"}]}
    answer = call(graph, "POST", "/v1.0/deviceManagement/deviceCompliancePolicies", body)
    assert is_graph_error(answer, 400) and "'restrictedApps' does not exist" in answer.body["error"]["message"]
    created = call(graph, "POST", "/beta/deviceManagement/deviceCompliancePolicies", body)
    assert created.status == 201 and created.body["restrictedApps"] == body["restrictedApps"]
    unknown = call(graph, "POST", "/beta/deviceManagement/deviceCompliancePolicies", {**body, "restrictedapps": []})
    assert is_graph_error(unknown, 400) and "'restrictedapps' does not exist" in unknown.body["error"]["message"]
    assert is_graph_error(call(graph, "POST", "/beta/deviceManagement/deviceConfigurations", WINDOWS), 400)


def test_the_exported_ios_compliance_policy_is_created_on_beta_and_refused_on_v1(graph, full):
    body = json.loads((full / "intune" / "ios" / "ios-supervised-all.compliance-policy.json").read_text())
    refused = call(graph, "POST", "/v1.0/deviceManagement/deviceCompliancePolicies", body)
    assert is_graph_error(refused, 400) and "'restrictedApps' does not exist" in refused.body["error"]["message"]
    assert graph.state["deviceCompliancePolicies"] == {}
    created = call(graph, "POST", "/beta/deviceManagement/deviceCompliancePolicies", body)
    assert created.status == 201 and created.body["restrictedApps"] == body["restrictedApps"]
    shown = call(graph, "GET", f"/v1.0/deviceManagement/deviceCompliancePolicies/{created.body['id']}").body
    assert "restrictedApps" not in shown and shown["displayName"] == body["displayName"]  # v1.0 has no such property


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children,
                                                                                        max_size=4), max_leaves=12)
_GARBAGE = (st.binary(max_size=64)
            | _JSON.map(lambda value: json.dumps(value).encode())
            | st.dictionaries(st.text(max_size=12), _JSON, max_size=4).map(
                lambda extra: json.dumps({**extra, "@odata.type": "#microsoft.graph.windows10CustomConfiguration",
                                          "displayName": "x", "omaSettings": [{**OMA, "value": str(extra)}]}).encode()))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(body=_GARBAGE, where=st.sampled_from(["create", "assign", "beta create"]))
def test_garbage_bodies_are_refused_with_a_400_never_a_traceback(graph, body, where):
    """(The stand-in lives through every example: each leaves it as it found it.)"""
    key = "00000000-0000-4000-8000-000000000000"
    graph.state["deviceConfigurations"] = {key: dict(WINDOWS)}
    path = {"create": CONFIGS, "assign": f"{CONFIGS}/{key}/assign",
            "beta create": "/beta/deviceManagement/deviceCompliancePolicies"}[where]
    answer = call(graph, "POST", path, body)
    assert is_graph_error(answer, 400), answer
    assert list(graph.state["deviceConfigurations"]) == [key] and graph.state["assignments"] == {}
