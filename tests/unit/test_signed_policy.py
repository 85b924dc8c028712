"""The signed policy chain: build and sign on the control node, verify and install on the device."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from banwatch.control.ansible_inventory import InventoryHost, load_inventory
from banwatch.control.effective import build_payloads
from banwatch.control.policy_source import load_policy_source
from banwatch.core import signing
from banwatch.core.errors import InputError
from banwatch.core.policy.payload import PAYLOAD_TYPE
from banwatch.core.policy.verify import PolicyRejected, verify_policy
from banwatch.device.config import load_config
from banwatch.device.policy_store import INSTALLED, REJECTED, UNCHANGED, PolicyStore
from tests.conftest import EXAMPLE_POLICY, REPO

ISSUED = dt.datetime(2026, 11, 25, 9, tzinfo=dt.timezone.utc)
NOW = ISSUED + dt.timedelta(hours=1)
MACHINE_A, MACHINE_B = "a" * 32, "b" * 32


@pytest.fixture(scope="module")
def key() -> signing.Ed25519PrivateKey:
    return signing.Ed25519PrivateKey.generate()


def signed(key, *, version: int = 1, host: str = "ws-press-01", groups=("press_office",), machine_id=MACHINE_A,
           issued: dt.datetime = ISSUED, keys=None) -> bytes:
    source = load_policy_source(EXAMPLE_POLICY, issued.date())
    payload = build_payloads(source, [InventoryHost(host, set(groups), {"banwatch_machine_id": machine_id})],
                             version=version, issued_at=issued)[host]
    return signing.canonical_json(signing.sign(signing.canonical_json(payload), PAYLOAD_TYPE, keys or [key]))


def check(data: bytes, key, machine_id: str = MACHINE_A, now: dt.datetime = NOW):
    return verify_policy(data, {signing.key_id(key.public_key()): key.public_key()}, machine_id=machine_id,
                         host_name=None, now=now)


def mutate_envelope(data: bytes, change) -> bytes:
    envelope = json.loads(data)
    change(envelope)
    return json.dumps(envelope).encode()


def test_valid_policy_carries_only_this_hosts_exemptions(key):
    policy = check(signed(key), key)
    assert [e["id"] for e in policy.payload["exemptions"]] == ["EX-2026-014"]
    general = check(signed(key, host="ws-fin-014", groups=("general",)), key)
    assert general.payload["exemptions"] == []
    assert {a["id"] for a in general.payload["apps"]} == {"tiktok", "wechat", "capcut", "temu"}


def _flip_payload_byte(envelope):
    raw = bytearray(base64.b64decode(envelope["payload"]))
    raw[len(raw) // 2] ^= 0x01
    envelope["payload"] = base64.b64encode(bytes(raw)).decode()


def _flip_signature_byte(envelope):
    raw = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    raw[0] ^= 0x01
    envelope["signatures"][0]["sig"] = base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(("change", "reason"), [
    (_flip_payload_byte, "bad signature by key"),
    (_flip_signature_byte, "bad signature by key"),
    (lambda e: e["signatures"][0].update(keyid="0123456789abcdef"), "signed by unknown key(s) 0123456789abcdef"),
    (lambda e: e.update(signatures=[]), "missing signature"),
    (lambda e: e.pop("signatures"), "expected fields"),
    (lambda e: e.update(payloadType="application/json"), "wrong payload type"),
    (lambda e: e.update(extra=1), "expected fields"),
    (lambda e: e.update(payload="%%%"), "not valid base64"),
])
def test_tampering_with_any_part_is_rejected(key, change, reason):
    with pytest.raises(PolicyRejected, match=reason.replace("(", r"\(").replace(")", r"\)")):
        check(mutate_envelope(signed(key), change), key)


@settings(max_examples=60, deadline=None)
@given(position=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_any_change_to_the_payload_is_rejected(key, position, bit):
    data = signed(key)
    envelope = json.loads(data)
    raw = bytearray(base64.b64decode(envelope["payload"]))
    raw[position % len(raw)] ^= 1 << bit
    envelope["payload"] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(PolicyRejected):
        check(json.dumps(envelope).encode(), key)


def test_malformed_and_oversized_files(key, tmp_path):
    with pytest.raises(PolicyRejected, match="malformed JSON"):
        check(b"{not json", key)
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (4 * 1024 * 1024 + 1))
    store = device(tmp_path, key)
    result = store.install(str(big), now=NOW)
    assert result.result == REJECTED and "oversized" in result.reason


def test_policy_for_another_machine_and_expiry(key):
    with pytest.raises(PolicyRejected, match="meant for another device"):
        check(signed(key, machine_id=MACHINE_B), key)
    with pytest.raises(PolicyRejected, match="expired at 2026-12-25T09:00:00Z"):
        check(signed(key), key, now=ISSUED + dt.timedelta(days=31))


def device(tmp_path: Path, *keys) -> PolicyStore:
    folder = tmp_path / "device"
    (folder / "keys").mkdir(parents=True, exist_ok=True)
    names = []
    for index, key in enumerate(keys):
        (folder / "keys" / f"k{index}.pub").write_bytes(signing.public_pem(key.public_key()))
        names.append(f"keys/k{index}.pub")
    (folder / "etc").mkdir(exist_ok=True)
    (folder / "etc" / "machine-id").write_text(MACHINE_A + "\n")
    config = folder / "agent.yml"
    config.write_text(json.dumps({"host_name": "ws-press-01", "trusted_keys": names,
                                  "policy_path": str(folder / "policy.json"), "state_dir": str(folder / "state")}))
    return PolicyStore(load_config(str(config)), root=str(folder))


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_install_unchanged_rollback_and_same_version_different_content(key, tmp_path):
    store = device(tmp_path, key)
    v2 = write(tmp_path, "v2.json", signed(key, version=2))
    assert store.install(v2, now=NOW).result == INSTALLED
    assert store.install(v2, now=NOW).result == UNCHANGED
    installed = Path(store.config.policy_path).read_bytes()
    old = store.install(write(tmp_path, "v1.json", signed(key, version=1)), now=NOW)
    assert old.result == REJECTED and "rollback: version 1 is older than version 2" in old.reason
    other = store.install(write(tmp_path, "v2b.json", signed(key, version=2, issued=ISSUED - dt.timedelta(hours=1))),
                          now=NOW)
    assert other.result == REJECTED and "already installed with different content" in other.reason
    assert Path(store.config.policy_path).read_bytes() == installed  # the last good one stays
    # Deleting the policy file does not reopen rollback: the highest version is remembered.
    Path(store.config.policy_path).unlink()
    assert store.install(write(tmp_path, "v1.json", signed(key, version=1)), now=NOW).result == REJECTED
    assert store.install(write(tmp_path, "v3.json", signed(key, version=3)), now=NOW).result == INSTALLED


def test_rejection_is_recorded_for_the_next_report(key, tmp_path):
    store = device(tmp_path, key)
    store.install(write(tmp_path, "v1.json", signed(key)), now=NOW)
    store.install(write(tmp_path, "b.json", signed(key, version=5, machine_id=MACHINE_B)), now=NOW)
    _, info = store.load(NOW)
    assert info["version"] == 1 and "meant for another device" in info["last_rejection"]["reason"]


def test_expired_policy_keeps_the_ban_list_but_drops_exemptions(key, tmp_path):
    store = device(tmp_path, key)
    store.install(write(tmp_path, "v1.json", signed(key)), now=NOW)
    source, info = store.load(NOW)
    assert [e.id for e in source.exemptions] == ["EX-2026-014"] and info["state"] == "valid"
    later = ISSUED + dt.timedelta(days=40)
    source, info = store.load(later)
    assert source.exemptions == () and {a.id for a in source.apps} >= {"tiktok"}
    assert info["state"] == "expired" and info["exemptions_honoured"] is False and "no longer honoured" in info["note"]


def test_key_rotation_end_to_end(tmp_path):
    old, new = signing.Ed25519PrivateKey.generate(), signing.Ed25519PrivateKey.generate()
    store = device(tmp_path, old)
    assert store.install(write(tmp_path, "1.json", signed(old, version=1)), now=NOW).result == INSTALLED
    # Before the device trusts the new key, a policy signed by it alone is refused.
    assert store.install(write(tmp_path, "2.json", signed(new, version=2)), now=NOW).result == REJECTED
    # 1. add the new key to the agents; 2. sign with the new key (and the old one while both are trusted).
    store = device(tmp_path, old, new)
    assert store.install(write(tmp_path, "2.json", signed(new, version=2, keys=[new, old])), now=NOW).result \
        == INSTALLED
    # 3. remove the old key: the new key's policies still install, the old key's no longer do.
    (tmp_path / "device" / "keys" / "k0.pub").write_bytes(signing.public_pem(new.public_key()))
    store = device(tmp_path, new)
    assert store.install(write(tmp_path, "3.json", signed(new, version=3)), now=NOW).result == INSTALLED
    refused = store.install(write(tmp_path, "4.json", signed(old, version=4)), now=NOW)
    assert refused.result == REJECTED and "unknown key" in refused.reason


def test_build_is_deterministic_and_refuses_a_never_exemptable_host(key, tmp_path):
    assert signed(key) == signed(key)
    source = load_policy_source(EXAMPLE_POLICY, ISSUED.date())
    both = InventoryHost("ws-press-09", {"press_office", "classified"})
    with pytest.raises(InputError, match="never-exemptable classified"):
        build_payloads(source, [both], version=1, issued_at=ISSUED)


def test_example_inventory_groups_include_parents():
    hosts = load_inventory(str(REPO / "inventory" / "example" / "hosts.yml"))
    assert hosts["ws-press-01.corp.example.gov"].groups == {"endpoints", "workstations", "press_office"}
    assert hosts["sec-analyst-01.secure.example.gov"].groups == {"endpoints", "classified"}


def test_encrypted_key_needs_its_passphrase(tmp_path):
    files = signing.generate(str(tmp_path / "keys"), b"correct horse")
    assert oct(Path(files.private).stat().st_mode & 0o777) == "0o600"
    assert signing.key_id(signing.load_private_key(files.private, b"correct horse").public_key()) == files.key_id
    with pytest.raises(InputError, match="passphrase"):
        signing.load_private_key(files.private)
    with pytest.raises(InputError, match="already there"):
        signing.generate(str(tmp_path / "keys"))
