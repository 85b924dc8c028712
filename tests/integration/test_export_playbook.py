"""The scheduled export for real: banwatch.deploy.export_managed run by ansible-playbook on a copy
of the example project, twice (the second run changes nothing), in check mode (nothing written),
and after an exemption expired (its devices move to the stricter document); the timer playbook
writes units that systemd-analyze accepts, and a second run changes nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.conftest import recap

BIN = Path(sys.executable).parent
PRESS_PHONE = "and-press-02.mobile.example.gov"
UNITS = ("banwatch-export.service", "banwatch-export.timer")


def playbook(inventory: Path, name: str, *args: str) -> str:
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), name, *args],
                            check=False, capture_output=True, text=True, timeout=300, cwd=REPO,
                            env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout


def changed(output: str) -> int:
    return recap(output)["localhost"]["changed"]


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The example inventory and policy source, in a directory of their own."""
    shutil.copytree(REPO / "inventory" / "example", tmp_path / "inventory")
    return tmp_path / "inventory" / "hosts.yml"


def test_the_export_playbook_keeps_a_right_export_and_moves_devices_once_an_exemption_expires(project: Path):
    out = project.parent / "managed"  # the default: beside the inventory
    checked = playbook(project, "banwatch.deploy.export_managed", "--check", "--diff")
    assert changed(checked) == 1 and not out.exists()
    assert "android_management/manifest.json" in checked  # --diff names the files that would change

    assert changed(playbook(project, "banwatch.deploy.export_managed")) == 1
    first = files_of(out)
    assert json.loads(first["export.json"])["policy_version"] == 1
    assert changed(playbook(project, "banwatch.deploy.export_managed")) == 0
    assert files_of(out) == first

    register = project.parent / "policy" / "exemptions.yml"  # EX-2026-014 (press_office) has ended
    register.write_text(register.read_text().replace("approved_on: 2026-09-01\n    expires: 2027-08-31",
                                                     "approved_on: 2025-12-01\n    expires: 2026-01-01"))
    assert changed(playbook(project, "banwatch.deploy.export_managed")) == 1
    manifest = json.loads((out / "android_management" / "manifest.json").read_text())
    assert manifest["policy_version"] == 2
    assert manifest["devices"][PRESS_PHONE]["document"] == "work-profile-all"
    assert changed(playbook(project, "banwatch.deploy.export_managed")) == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="the units are written owned by root")
def test_the_timer_playbook_writes_units_systemd_accepts_and_a_rerun_changes_nothing(project: Path, tmp_path: Path):
    units = tmp_path / "units"
    units.mkdir()
    settings = json.dumps({"banwatch_export_unit_dir": str(units), "banwatch_export_timer_enabled": False})
    assert changed(playbook(project, "banwatch.deploy.export_managed_timer", "-e", settings)) == 1
    assert sorted(path.name for path in units.iterdir()) == sorted(UNITS)
    service = (units / "banwatch-export.service").read_text()
    assert f"-i {project} banwatch.deploy.export_managed" in service
    assert "OnCalendar=*-*-* 00:15:00 UTC" in (units / "banwatch-export.timer").read_text()
    assert changed(playbook(project, "banwatch.deploy.export_managed_timer", "-e", settings)) == 0

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here: the units were written but not verified")
    verified = subprocess.run([analyze, "verify", *(str(units / unit) for unit in UNITS)],
                              check=False, capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0, verified.stderr
