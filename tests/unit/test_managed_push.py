"""The push's decisions before any write: what to read, what differs, what is refused; and the
service account's JWT, signed by the push and verified by the lab's stand-in of Google's token
endpoint (a real RS256 check against the account's public key)."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from banwatch.control.managed.export import export
from banwatch.control.managed.google_auth import ANDROID_SCOPE, JWT_BEARER_GRANT, assertion
from banwatch.control.managed.push import PushRefused, Reply, replies
from banwatch.control.managed.push_android import AndroidPush, banned_packages
from banwatch.control.policy_source import load_policy_source
from banwatch_lab.standins.google import AndroidStandin
from banwatch_lab.standins.http import Request
from tests.conftest import EXAMPLE_POLICY, REPO

EXAMPLE_INVENTORY = REPO / "inventory" / "example" / "hosts.yml"
ISSUED = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.timezone.utc)
ENTERPRISE = "enterprises/LC02my9vtl"
API = "https://android.invalid"
TOKEN_URL = "https://oauth.invalid/token"  # noqa: S105 - a URL, no secret
PRESS_PHONE = "and-press-02.mobile.example.gov"


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export") / "managed"
    export(str(EXAMPLE_POLICY), str(EXAMPLE_INVENTORY), str(folder), version=1, issued_at=ISSUED)
    return folder


@pytest.fixture(scope="module")
def banned() -> frozenset[str]:
    return banned_packages(load_policy_source(EXAMPLE_POLICY, ISSUED.date()))


def nothing_there(push: AndroidPush) -> dict[str, Reply]:
    """The manager before a first push: no banwatch policy, every device on its default."""
    return {read["item"]: Reply(200, {"name": read["item"], "policyName": f"{ENTERPRISE}/policies/default"})
            if "/devices/" in read["item"] else Reply(404, {"error": {"code": 404, "message": "not found"}})
            for read in push.reads()}


def as_pushed(push: AndroidPush) -> dict[str, Reply]:
    """The manager after a push: what the plan wrote, as the API returns it."""
    found = nothing_there(push)
    for write in push.plan(found).writes:
        name = write.url.removeprefix(f"{API}/v1/").split("?")[0]
        found[name] = Reply(200, {**found[name].body, **write.body} if "/devices/" in name
                            else {**write.body, "name": name, "version": "3"})
    return found


def test_the_first_push_writes_every_policy_then_every_device_and_the_second_nothing(out, banned):
    push = AndroidPush(str(out), banned, API)
    reads = [read["item"] for read in push.reads()]
    assert reads[:4] == sorted(f"{ENTERPRISE}/policies/banwatch-{doc}" for doc in
                               ("fully-managed-all", "personally-owned-all", "work-profile-all",
                                "work-profile-except-tiktok"))
    assert len(reads) == 8 and all("/devices/" in read for read in reads[4:])
    plan = push.plan(nothing_there(push))
    assert [write.method for write in plan.writes] == ["PATCH"] * 8
    assert [("/policies/" in write.url) for write in plan.writes] == [True] * 4 + [False] * 4  # documents first
    device_writes = plan.writes[4:]
    assert all(write.url.endswith("?updateMask=policyName") for write in device_writes)
    press = next(write for write in device_writes if PRESS_PHONE in write.what)
    assert press.body == {"policyName": f"{ENTERPRISE}/policies/banwatch-work-profile-except-tiktok"}
    assert plan.diffs[4]["before"].count("policies/default") == 1 and plan.diffs[0]["before"] == ""
    assert push.plan(as_pushed(push)).writes == []


def test_a_policy_changed_at_the_manager_is_written_back_alone(out, banned):
    push = AndroidPush(str(out), banned, API)
    found = as_pushed(push)
    name = f"{ENTERPRISE}/policies/banwatch-work-profile-all"
    found[name] = Reply(200, {**found[name].body, "playStoreMode": "WHITELIST"})
    plan = push.plan(found)
    assert [write.what for write in plan.writes] == [f"android_management policy {name}"]
    assert '"WHITELIST"' in plan.diffs[0]["before"] and '"BLACKLIST"' in plan.diffs[0]["after"]


def edited(out: Path, tmp_path: Path, document: str, change: dict[str, Any]) -> Path:
    """A copy of the Android export with one document's policy changed by hand."""
    folder = tmp_path / "edited" / "android_management"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_bytes((out / "android_management" / "manifest.json").read_bytes())
    (folder / "policies").mkdir()
    for policy in (out / "android_management" / "policies").iterdir():
        body = json.loads(policy.read_text())
        if policy.name == f"banwatch-{document}.json":
            body.update(change)
        (folder / "policies" / policy.name).write_text(json.dumps(body))
    return folder.parent


@pytest.mark.parametrize(("change", "said"), [
    ({"playStoreMode": "WHITELIST"}, "playStoreMode is 'WHITELIST'"),
    ({"playStoreMode": "PLAY_STORE_MODE_UNSPECIFIED"}, "playStoreMode is 'PLAY_STORE_MODE_UNSPECIFIED'"),
    ({"personalUsagePolicies": {"personalPlayStoreMode": "ALLOWLIST"}}, "personalPlayStoreMode is 'ALLOWLIST'"),
    ({"applications": [{"packageName": "com.whatsapp", "installType": "BLOCKED"}]},
     "blocks 'com.whatsapp', which the ban register does not ban"),
    ({"personalUsagePolicies": {"personalApplications": [{"packageName": "org.example", "installType": "BLOCKED"}]}},
     "blocks 'org.example'"),
])
def test_a_document_the_register_does_not_back_is_refused_by_name_before_any_read(out, banned, tmp_path, change, said):
    folder = edited(out, tmp_path, "fully-managed-all", change)
    with pytest.raises(PushRefused) as refused:
        AndroidPush(str(folder), banned, API)
    assert "android_management document fully-managed-all" in str(refused.value) and said in str(refused.value)


def test_a_register_that_no_longer_bans_an_app_refuses_the_documents_blocking_it(out):
    said = re.escape("blocks 'com.ss.android.ugc.trill', which the ban register does not ban")
    with pytest.raises(PushRefused, match=said):
        AndroidPush(str(out), frozenset(), API)


@pytest.mark.parametrize(("status", "said"), [(404, "HTTP 404: no such device; nothing was written; fix: enrol"),
                                              (403, "HTTP 403: no such device; nothing was written; fix: check")])
def test_a_device_the_manager_does_not_show_stops_the_push_before_any_write(out, banned, status, said):
    push = AndroidPush(str(out), banned, API)
    found = nothing_there(push)
    device = f"{ENTERPRISE}/devices/c07b5e2d9a13f468"
    found[device] = Reply(status, {"error": {"code": status, "message": "no such device"}})
    with pytest.raises(PushRefused, match=f"device {device} \\(host {PRESS_PHONE}\\) answered {said}"):
        push.plan(found)


def test_an_export_folder_without_an_android_manifest_says_to_export_first(tmp_path, banned):
    with pytest.raises(PushRefused, match=r"cannot read the Android manifest .*run banwatch export"):
        AndroidPush(str(tmp_path), banned, API)


def test_the_reads_of_a_uri_loop_are_keyed_by_their_item():
    found = replies([{"item": {"item": "a", "url": "u"}, "status": 200, "json": {"x": 1}},
                     {"item": {"item": "b", "url": "v"}, "status": -1, "msg": "timed out"}], "found")
    assert found == {"a": Reply(200, {"x": 1}), "b": Reply(-1, None)}
    with pytest.raises(PushRefused):
        replies([{"status": 200}], "found")


# The service account's JWT ----------------------------------------------------------------


def service_account(key: rsa.RSAPrivateKey, email: str = "push@lab.iam.gserviceaccount.com") -> dict[str, str]:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return {"type": "service_account", "client_email": email, "private_key": pem, "token_uri": TOKEN_URL}


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def token_endpoint(tmp_path: Path, key: rsa.RSAPrivateKey, clock: float) -> AndroidStandin:
    state = tmp_path / "android.json"
    state.write_text(json.dumps({"policies": {}, "devices": {}}))
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return AndroidStandin(str(state), TOKEN_URL, {"push@lab.iam.gserviceaccount.com": public}, clock=lambda: clock)


def post_assertion(standin: AndroidStandin, signed: str) -> tuple[int, Any]:
    body = f"grant_type={JWT_BEARER_GRANT.replace(':', '%3A')}&assertion={signed}".encode()
    answer = standin(Request("POST", "/token", {}, {}, body))
    return answer.status, answer.body


def test_the_signed_assertion_is_accepted_by_the_token_endpoint_and_its_token_opens_the_api(tmp_path, key):
    now = int(time.time())
    signed, token_uri = assertion(json.dumps(service_account(key)), ANDROID_SCOPE, now, "sa")
    assert token_uri == TOKEN_URL
    standin = token_endpoint(tmp_path, key, now)
    status, body = post_assertion(standin, signed)
    assert status == 200 and body["token_type"] == "Bearer"  # noqa: S105 - the token's type, no secret
    opened = standin(Request("GET", f"/v1/{ENTERPRISE}/policies/x", {},
                             {"authorization": f"Bearer {body['access_token']}"}, b""))
    assert opened.status == 403  # authenticated; this empty stand-in knows no enterprise
    assert standin(Request("GET", f"/v1/{ENTERPRISE}/policies/x", {}, {"authorization": "Bearer forged"}, b"")).status \
        == 401


@pytest.mark.parametrize("case", [
    ("other key", ANDROID_SCOPE, 0, "Invalid JWT Signature"),
    ("other account", ANDROID_SCOPE, 0, "iss is no service account"),
    ("key", "https://www.googleapis.com/auth/cloud-platform", 0, "scope must include"),
    ("key", ANDROID_SCOPE, 3601, "short-lived token"),
])
def test_the_token_endpoint_refuses_a_wrong_signature_account_scope_or_an_expired_assertion(tmp_path, key, case):
    signer, scope, late, said = case
    now = int(time.time())
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    account = {"other key": service_account(other), "other account": service_account(key, "x@y.z")}.get(
        signer, service_account(key))
    signed, _ = assertion(account, scope, now, "sa")
    status, body = post_assertion(token_endpoint(tmp_path, key, now + late), signed)
    assert status == 400 and body["error"] == "invalid_grant" and said in body["error_description"]


@pytest.mark.parametrize(("account", "said"), [
    ({}, "sa is not set"), ("not json", "sa: not JSON"), ({"type": "user"}, "'type' is not 'service_account'"),
    ({"type": "service_account", "client_email": "a", "private_key": "b", "token_uri": "http://x"}, "not an https"),
    ({"type": "service_account", "client_email": "a", "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n",
      "token_uri": "https://x"}, "'private_key' is not an RSA private key"),
])
def test_a_service_account_that_is_not_one_is_refused_without_quoting_it(account, said):
    with pytest.raises(PushRefused, match=said) as refused:
        assertion(account, ANDROID_SCOPE, 0, "sa")
    assert "BEGIN" not in str(refused.value) and "AAAA" not in str(refused.value)
