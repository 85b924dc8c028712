"""agent.yml as outside data: any bytes, any value of any type under any key. `load_config` gives a
configuration or an InputError whose problems are one printable line each, never a traceback;
`config check` says so with exit 2; and a running agent sent SIGHUP with such a file keeps the
configuration it runs, says why, and goes on detecting."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from banwatch.core import signing
from banwatch.core.errors import InputError
from banwatch.device.config import COLLECTOR_KEYS, KEYS, SPOOL_KEYS, load_config
from tests.device import Device, wait_for

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.dates(),
                    st.text(max_size=16), st.sampled_from(["a\0b", "/", "monitor", "enforce", "polling", "/dev/null"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=6), inner, max_size=3), max_leaves=6)
DOCUMENTS = st.dictionaries(st.sampled_from([*KEYS, *SPOOL_KEYS, *COLLECTOR_KEYS, "tusted_keys", "x\ny"]), VALUES,
                            max_size=8)


def check_config(data: bytes, key_file: str | None = None) -> None:
    """Load agent.yml made of `data`: a configuration, or an InputError of printable one-line problems."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "agent.yml")
        path.write_bytes(data)
        try:
            config = load_config(str(path))
        except InputError as exc:
            assert exc.problems and all(str(problem).isprintable() and problem.fix for problem in exc.problems)
            return
    assert config.trusted_keys and key_file is not None


@FUZZ
@given(data=st.binary(max_size=2000))
def test_any_bytes_as_agent_yml(data: bytes) -> None:
    check_config(data)


@FUZZ
@given(document=DOCUMENTS, trusted=st.booleans())
def test_any_value_under_any_key(document: dict[str, Any], trusted: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        key_file = signing.generate(folder).public if trusted else None
        if key_file:
            document = {"trusted_keys": [key_file], **document}
        check_config(yaml.safe_dump(document, allow_unicode=True).encode(), key_file)


JUNK = [
    (b"trusted_keys: [/etc/banwatch/keys/banwatch-policy.pub]\nmode: \x1b[31menforce\n", "not allowed"),
    (b"trusted_keys: [\"a\\0b\"]\n", "NUL byte"),
    (b"trusted_keys: &a [*a]\n", "alias inside its own anchor"),
    (b"trusted_keys: []\npoll_interval: yes\n", "poll_interval"),
    (b"\xff\xfe", "not UTF-8"),
    (b"- just\n- a list\n", "expected a mapping"),
]


@pytest.mark.parametrize(("data", "expected"), JUNK, ids=lambda value: value if isinstance(value, str) else "")
def test_config_check_answers_each_kind_of_junk_with_exit_2(tmp_path: Path, data: bytes, expected: str) -> None:
    path = tmp_path / "agent.yml"
    path.write_bytes(data)
    done = subprocess.run([sys.executable, "-m", "banwatch.device.cli.main", "config", "check", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert all(line.startswith("error: ") and line.isprintable() for line in lines), done.stderr
    assert any(expected in line for line in lines), done.stderr


def status(device: Device) -> dict[str, Any]:
    try:
        return json.loads((device.state_dir / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def last_error(device: Device) -> str:
    return (status(device).get("last_error") or {}).get("message", "")


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[tuple[Device, subprocess.Popen[bytes]]]:
    """`banwatch-agent run` as a real process, polling (no root needed), with a policy in force."""
    device = Device(tmp_path)
    device.write_config(detection="polling", poll_interval=1, report_delay=0)
    device.install([{"id": "bwfuzz", "name": "x", "reason": "test", "severity": "low", "action": "report",
                     "match": {"process_names": ["bwfuzz-never-runs"]}}])
    proc = subprocess.Popen(device.agent_command(), stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: status(device).get("scans"), what="the first scan")
        yield device, proc
    finally:
        proc.kill()
        proc.wait()


def test_sighup_with_a_bad_agent_yml_keeps_the_running_configuration(agent) -> None:
    device, proc = agent
    good = device.config_path.read_bytes()
    for data, expected in JUNK:
        device.config_path.write_bytes(data)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda e=expected: "configuration not reloaded" in last_error(device) and e in last_error(device),
                 what=f"the refused reload ({expected})")
        assert proc.poll() is None and status(device)["mode"] == "monitor"
        assert status(device)["policy"]["version"] == 1
    device.config_path.write_bytes(good.replace(b"mode: monitor", b"") + b"mode: enforce\n")
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: status(device).get("mode") == "enforce", what="the good reload")
    wait_for(lambda: status(device)["last_scan"]["trigger"] == "reload" and not status(device)["last_error"],
             what="the scan after it")
