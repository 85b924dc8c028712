"""Shared fixtures: policy sources written to temp dirs, real processes under banned names."""

from __future__ import annotations

import copy
import datetime as dt
import os
import random
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import settings

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_POLICY = REPO / "inventory" / "example" / "policy"
# A fixed "today" for tests, so the example register's dates give the same answers every year.
TODAY = dt.date(2026, 11, 24)
# One seed per run for everything random in the tests (hypothesis and `chance`), printed in the
# header, so any failure is repeated with BANWATCH_TEST_SEED=<seed>.
SEED_VARIABLE = "BANWATCH_TEST_SEED"
TEST_SEED = int(os.environ.get(SEED_VARIABLE) or secrets.randbelow(2**32))
# No deadline per example: timing stays out of pass/fail tests (a loaded machine is slow, not wrong).
settings.register_profile("banwatch", deadline=None)
settings.load_profile("banwatch")


@pytest.hookimpl(tryfirst=True)  # before hypothesis's own pytest_configure reads its seed option
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab: needs the fleet lab (root and openssh-server); select with -m lab")
    if config.getoption("hypothesis_seed", None) is None:
        config.option.hypothesis_seed = str(TEST_SEED)


def pytest_report_header(config: pytest.Config) -> str:
    return (f"random seed: {config.getoption('hypothesis_seed')} (hypothesis and `chance`; "
            f"repeat a run with {SEED_VARIABLE}=<seed>)")


@pytest.fixture
def chance(request: pytest.FixtureRequest) -> random.Random:
    """A random source seeded from the run's seed and the test's id: the same choices on a rerun."""
    return random.Random(f"{request.config.getoption('hypothesis_seed')}:{request.node.nodeid}")  # noqa: S311 - test data, not a secret


@pytest.fixture(autouse=True)
def no_fleet_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """A BANWATCH_FLEET_CONFIG the developer exported (as `make demo` suggests) never reaches a test."""
    monkeypatch.delenv("BANWATCH_FLEET_CONFIG", raising=False)


@pytest.fixture
def example_policy_dir() -> Path:
    return EXAMPLE_POLICY


def example_documents() -> tuple[dict[str, Any], dict[str, Any]]:
    banlist = yaml.safe_load((EXAMPLE_POLICY / "banlist.yml").read_text())
    register = yaml.safe_load((EXAMPLE_POLICY / "exemptions.yml").read_text())
    return copy.deepcopy(banlist), copy.deepcopy(register)


PolicyWriter = Callable[..., Path]


@pytest.fixture
def write_policy(tmp_path: Path) -> PolicyWriter:
    """Write a policy source; pass dicts (dumped as YAML) or raw YAML text per file."""

    def write(banlist: dict[str, Any] | str | None = None, exemptions: dict[str, Any] | str | None = None) -> Path:
        default_banlist, default_register = example_documents()
        folder = tmp_path / "policy"
        folder.mkdir(exist_ok=True)
        for name, value, default in (("banlist.yml", banlist, default_banlist),
                                     ("exemptions.yml", exemptions, default_register)):
            content = default if value is None else value
            text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
            (folder / name).write_text(text)
        return folder

    return write


@pytest.fixture
def spawn_named(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start a copy of `sleep` under a given file name (in a given folder), and stop it after."""
    started: list[subprocess.Popen[bytes]] = []
    sleep = shutil.which("sleep")
    assert sleep

    def spawn(name: str, folder: str = "bin", argv0: str | None = None) -> subprocess.Popen[bytes]:
        directory = tmp_path / folder
        directory.mkdir(parents=True, exist_ok=True)
        binary = directory / name
        if not binary.exists():
            shutil.copy2(sleep, binary)
        proc = subprocess.Popen([argv0 or str(binary), "300"], executable=str(binary))
        started.append(proc)
        deadline = time.monotonic() + 5
        # Wait for the exec to land so /proc shows the new image: the kernel switches `exe` a
        # moment before it lays out the new arguments, so wait for both.
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{proc.pid}/cmdline", "rb") as cmdline:
                    if os.readlink(f"/proc/{proc.pid}/exe") == str(binary) and cmdline.read():
                        break
            except OSError:
                pass
            time.sleep(0.01)
        return proc

    yield spawn
    for proc in started:
        proc.kill()
        proc.wait()
