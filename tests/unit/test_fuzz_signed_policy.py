"""Signed policies as outside data: whatever sits at the policy path or comes in on `policy install`
(arbitrary bytes, huge or deeply nested JSON, a validly signed payload with wrong types in it)
ends in a recorded rejection with the last good policy still in force, never a traceback; and
`install` and the running agent's `load` decide every case alike (one rule, PolicyStore.admit)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from banwatch.control.ansible_inventory import InventoryHost
from banwatch.control.effective import build_payloads
from banwatch.control.policy_source import load_policy_source
from banwatch.core import signing
from banwatch.core.policy.payload import PAYLOAD_TYPE
from banwatch.core.policy.verify import MAX_POLICY_BYTES
from banwatch.device.detect.matcher import Matcher
from banwatch.device.detect.verdicts import HostIdentity, decide
from banwatch.device.policy_store import INSTALLED, REJECTED, UNCHANGED, PolicyStore
from banwatch.device.sources.observations import KIND_PACKAGE, KIND_PROCESS, Observation
from tests.conftest import EXAMPLE_POLICY
from tests.unit.test_signed_policy import ISSUED, NOW, device

KEY = signing.Ed25519PrivateKey.generate()
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)


def good_payload(version: int = 1) -> dict[str, Any]:
    source = load_policy_source(EXAMPLE_POLICY, ISSUED.date())
    host = InventoryHost("ws-press-01", {"press_office"})  # bound to the host name: the CLI on this machine too
    return build_payloads(source, [host], version=version, issued_at=ISSUED)["ws-press-01"]


GOOD = good_payload()


def sign(payload: Any, payload_bytes: bytes | None = None) -> bytes:
    """The payload signed as `policy build` signs it (or these exact payload bytes)."""
    raw = signing.canonical_json(payload) if payload_bytes is None else payload_bytes
    return signing.canonical_json(signing.sign(raw, PAYLOAD_TYPE, [KEY]))


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document a value can be replaced."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths_of(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths_of(item, (*prefix, index))
    return found


@st.composite
def mutated_payloads(draw: st.DrawFn) -> dict[str, Any]:
    """The good payload, version 2, with one to three values replaced by any JSON value (or removed)."""
    payload = copy.deepcopy({**GOOD, "version": 2})
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths_of(payload)[1:]))
        parent = payload
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and draw(st.booleans()) and path[-1] != "schema":
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON_VALUES)
    return payload


def fresh_device(folder: str) -> PolicyStore:
    """A device with the good policy, version 1, installed: the last good one to keep."""
    store = device(Path(folder), KEY)
    good = Path(folder) / "v1.json"
    good.write_bytes(sign(GOOD))
    assert store.install(str(good), now=NOW).result == INSTALLED
    return store


def assert_usable(store: PolicyStore, version: int) -> dict[str, Any]:
    """What `load` hands the running agent works: the version wanted, and its rules match and decide."""
    source, info = store.load(NOW)
    assert info["version"] == version
    observations = [Observation("processes", KIND_PROCESS, "TikTok", exe="/opt/TikTok", cmdline=["TikTok", "-x"]),
                    Observation("dpkg", KIND_PACKAGE, "tiktok-desktop", version="1")]
    findings = Matcher(source.apps).match_all(observations)
    decide(findings, source.exemptions, HostIdentity("ws-press-01", frozenset({"press_office"})), NOW.date())
    return info


@FUZZ
@given(payload=mutated_payloads())
def test_a_validly_signed_payload_with_anything_in_it_is_installed_whole_or_rejected(payload: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = fresh_device(folder)
        before = Path(store.config.policy_path).read_bytes()
        candidate = Path(folder) / "candidate.json"
        candidate.write_bytes(sign(payload))
        result = store.install(str(candidate), now=NOW)
        assert result.result in (INSTALLED, UNCHANGED, REJECTED)
        if result.result == REJECTED:
            assert Path(store.config.policy_path).read_bytes() == before  # the last good one stays
            assert store.state()["last_rejection"]["reason"] == result.reason
            assert_usable(store, 1)
        else:
            assert_usable(store, 2)


@FUZZ
@given(data=st.binary(max_size=2048) | st.builds(lambda doc: json.dumps(doc).encode(), JSON_VALUES))
def test_any_bytes_at_the_policy_path_leave_the_last_good_policy_in_force(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = fresh_device(folder)
        Path(store.config.policy_path).write_bytes(data)
        info = assert_usable(store, 1)
        assert info["rejected"]["file"] == store.config.policy_path and info["rejected"]["reason"]
        assert store.state()["last_rejection"] == info["rejected"]


@settings(max_examples=60, deadline=None)
@given(payload=mutated_payloads(), installed_first=st.booleans())
def test_install_and_the_running_agent_decide_alike(payload: dict[str, Any], installed_first: bool) -> None:
    """The same file, the same device state: `install` rejects it exactly when `load` does."""
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as other:
        installing, loading = fresh_device(one), fresh_device(other)
        if installed_first:  # the highest installed is 2 on both: the candidate is now a rollback or a repeat
            for store, folder in ((installing, one), (loading, other)):
                (Path(folder) / "v2.json").write_bytes(sign(good_payload(2)))
                store.install(str(Path(folder) / "v2.json"), now=NOW)
        candidate = Path(one) / "candidate.json"
        candidate.write_bytes(sign(payload))
        installed = installing.install(str(candidate), now=NOW)
        Path(loading.config.policy_path).write_bytes(candidate.read_bytes())
        _, info = loading.load(NOW)
        assert (installed.result == REJECTED) == ("rejected" in info)
        if installed.result == REJECTED:
            assert info["rejected"]["reason"] == installed.reason


@pytest.mark.parametrize(("data", "reason"), [
    (b"[" * (MAX_POLICY_BYTES - 1), "nested too deeply"),
    (b" " * (MAX_POLICY_BYTES + 1), "oversized"),
    (b"\xff\xfe{}", "malformed JSON"),
    (sign({**GOOD, "version": 2, "expires_at": "2026-12-25T09:00:00"}), "not a time with a zone"),
    (sign({**GOOD, "version": 2, "host": "ws-press-01"}), "'host' must hold"),
    (sign(None, json.dumps({**GOOD, "version": 2, "note": "\ud800"}, sort_keys=True).encode()), "lone surrogate"),
    (sign({**GOOD, "version": 2, "apps": [{**GOOD["apps"][0], "match": {"process_names": ["*"]}}]}),
     "could match everything"),
    (sign({**GOOD, "version": 2, "apps": [{**GOOD["apps"][0], "match": {"process_names": [7]}}]}),
     "must be non-empty text"),
], ids=lambda value: value if isinstance(value, str) else "")
def test_each_kind_of_junk_is_one_clear_rejection_through_the_cli(tmp_path: Path, data: bytes, reason: str) -> None:
    """`banwatch-agent policy install -`, as Ansible runs it: exit 2, one JSON line, no traceback."""
    store = fresh_device(str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "banwatch.device.cli.main", "policy", "install", "-",
                           "--config", store.config.path], input=data, capture_output=True, timeout=60, check=False)
    assert done.returncode == 2 and b"Traceback" not in done.stderr, done.stderr
    answer = json.loads(done.stdout)
    assert answer["result"] == "rejected" and reason in answer["reason"], answer
    assert store.state()["last_rejection"]["file"] == "standard input"


def test_a_damaged_state_refuses_every_policy_rather_than_reopen_rollback(tmp_path: Path) -> None:
    store = fresh_device(str(tmp_path))
    state = store.state()
    Path(store.state_path).write_text(json.dumps({**state, "highest_version": "many"}))
    candidate = tmp_path / "v2.json"
    candidate.write_bytes(sign(good_payload(2)))
    result = store.install(str(candidate), now=NOW)
    assert result.result == REJECTED and "is damaged" in result.reason
    assert Path(store.config.policy_path).read_bytes() == sign(GOOD)


def test_an_expired_installed_policy_still_loads_from_the_kept_copy(tmp_path: Path) -> None:
    """The kept copy is held to the same rule: expired, it keeps its ban list, not its exemptions."""
    store = fresh_device(str(tmp_path))
    Path(store.config.policy_path).unlink()
    source, info = store.load(NOW + dt.timedelta(days=60))
    assert info["state"] == "expired" and source.exemptions == () and "cannot read" in info["rejected"]["reason"]
