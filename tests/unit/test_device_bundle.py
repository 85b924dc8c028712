"""The bundle a device installs carries banwatch's core and device parts only, and they run alone."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest
import tomllib

from banwatch.control.bundle import DEVICE_PROJECT, build_bundle
from tests.conftest import REPO

AGENT = REPO / "agent"
WHEELS = REPO / ".cache" / "wheels"


def project(name: str) -> dict:
    with open(AGENT / name, "rb") as handle:
        return tomllib.load(handle)["project"]


def test_the_device_project_needs_what_the_project_needs():
    assert project(DEVICE_PROJECT)["dependencies"] == project("pyproject.toml")["dependencies"]
    assert list(project(DEVICE_PROJECT)["scripts"]) == ["banwatch-agent"]


@pytest.fixture(scope="module")
def device_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (WHEELS / ".complete").exists():
        pytest.skip("no wheel cache: run 'make setup'")
    out = tmp_path_factory.mktemp("bundle")
    bundle = build_bundle(str(AGENT), str(WHEELS), str(out))
    [name] = [n for n in bundle.wheels if n.startswith("banwatch-")]
    with tarfile.open(bundle.archive) as tar:
        tar.extract(name, out, filter="data")
    return out / name


def test_the_wheel_holds_core_and_device_only(device_wheel: Path):
    with zipfile.ZipFile(device_wheel) as wheel:
        modules = {n for n in wheel.namelist() if n.endswith(".py")}
        entry_points = next(wheel.read(n).decode() for n in wheel.namelist() if n.endswith("entry_points.txt"))
    assert modules and {m.split("/")[1] for m in modules if m.count("/") > 1} == {"core", "device"}
    assert "banwatch/__init__.py" in modules and "banwatch/cli.py" not in modules
    assert "banwatch-agent = banwatch.device.cli.main:main" in entry_points and "banwatch =" not in entry_points


def test_every_device_module_imports_from_the_wheel_alone(device_wheel: Path, tmp_path: Path):
    """Without site (-S: no editable install of the whole project), only the wheel and the dependencies."""
    with zipfile.ZipFile(device_wheel) as wheel:
        wheel.extractall(tmp_path)  # noqa: S202 - the wheel this test just built
    probe = ("import importlib, pkgutil, banwatch.core, banwatch.device\n"
             "for package in (banwatch.core, banwatch.device):\n"
             "    for module in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
             "        importlib.import_module(module.name)\n"
             "print(banwatch.device.__file__)")
    path = f"{tmp_path}:{sysconfig.get_paths()['purelib']}:{sysconfig.get_paths()['platlib']}"
    done = subprocess.run([sys.executable, "-S", "-c", probe], env={"PYTHONPATH": path}, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(tmp_path))
