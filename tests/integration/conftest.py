"""The fleet lab as a session fixture: brought up once for the integration tests, always torn down."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.repo_vars import write_group_vars

BIN = Path(sys.executable).parent
# A network of its own, so a lab left up by `make demo` (127.0.1.N) does not collide; another
# checkout testing on the same machine at the same time sets BANWATCH_TEST_NETWORK to its own.
TEST_NETWORK = os.environ.get("BANWATCH_TEST_NETWORK", "127.0.9")
# The roles' tests start from fresh devices: a lab of their own, on a network of its own.
FRESH_NETWORK = os.environ.get("BANWATCH_FRESH_TEST_NETWORK", "127.0.10")
# The labs a test starts and stops itself, one at a time (down after a crash, plain, without root).
SPARE_NETWORK = os.environ.get("BANWATCH_SPARE_TEST_NETWORK", "127.0.11")
TEST_ENDPOINTS = 4  # two general, one press_office (exempted), one classified


def banwatch(*args: str, check: bool = True, program: str = "banwatch") -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(BIN / program), *args], capture_output=True, text=True, timeout=120,
                            check=False, cwd=REPO)
    if check and result.returncode != 0:
        raise AssertionError(f"{program} {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def banwatch_lab(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return banwatch(*args, check=check, program="banwatch-lab")


@dataclass
class Lab:
    directory: Path
    inventory: Path

    @property
    def state(self) -> dict[str, Any]:
        return json.loads((self.directory / "state.json").read_text())

    def endpoint(self, name: str) -> dict[str, Any]:
        return next(e for e in self.state["endpoints"] if e["name"] == name)

    def lab(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return banwatch_lab(*args[:1], "--dir", str(self.directory), *args[1:], check=check)

    def ssh(self, host: str, command: str, *, known_hosts: Path | None = None) -> subprocess.CompletedProcess[str]:
        """A real OpenSSH login to the endpoint, its host key pinned by the lab's known_hosts."""
        endpoint = self.endpoint(host)
        return subprocess.run(
            ["ssh", "-i", str(self.directory / "ssh" / "id_ed25519"), "-o", "IdentitiesOnly=yes",
             "-o", f"UserKnownHostsFile={known_hosts or self.directory / 'known_hosts'}",
             "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-p", str(endpoint["port"]),
             f"root@{endpoint['address']}", command],
            capture_output=True, text=True, timeout=60, check=False)

    def ansible(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "ansible"), "-i", str(self.inventory), *args], capture_output=True,
                              text=True, timeout=300, check=False, cwd=REPO,
                              env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})

    def playbook(self, playbook: str, *args: str) -> subprocess.CompletedProcess[str]:
        """A playbook by its path in the repository (playbooks/site.yml) or its name in the
        collection (banwatch.deploy.site), which the repository's ansible.cfg resolves to the same file."""
        target = playbook if playbook.startswith("banwatch.deploy.") else str(REPO / playbook)
        return subprocess.run([str(BIN / "ansible-playbook"), "-i", str(self.inventory), target,
                               *args], capture_output=True, text=True, timeout=600, check=False, cwd=REPO,
                              env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP counters per host (summed over the plays of the run)."""
    totals: dict[str, dict[str, int]] = {}
    for host, counters in re.findall(r"^(\S+)\s+: (ok=.*)$", output, re.MULTILINE):
        for key, value in re.findall(r"(\w+)=(\d+)", counters):
            totals.setdefault(host, {}).setdefault(key, 0)
            totals[host][key] += int(value)
    return totals


def device_root(lab: Lab, host: str) -> Path:
    return Path(f"/proc/{lab.endpoint(host)['init_pid']}/root")


def lab_leftovers(directory: Path) -> tuple[list[str], list[str]]:
    """Processes and mounts (seen from the host) that still mention the lab directory."""
    processes = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(directory) in cmdline:
            processes.append(f"{entry}: {cmdline}")
    mounts = [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(directory) in line]
    return processes, mounts


def require_lab_support() -> None:
    if os.geteuid() != 0:
        pytest.skip("the fleet lab's isolated endpoints need root")
    if not shutil.which("sshd") and not os.access("/usr/sbin/sshd", os.X_OK):
        pytest.skip("openssh-server is not installed (make setup installs it)")


@contextlib.contextmanager
def running_lab(directory: Path, network: str) -> Iterator[Lab]:
    """A lab of TEST_ENDPOINTS endpoints and a collector, up for the `with` block; beside its
    inventory, what the roles need from this repository (tests/repo_vars.py)."""
    require_lab_support()
    handle = Lab(directory, directory / "hosts.yml")
    try:
        handle.lab("up", "--endpoints", str(TEST_ENDPOINTS), "--network", network,
                   "--inventory", str(handle.inventory))
        write_group_vars(handle.inventory)
        yield handle
    finally:
        banwatch_lab("down", "--dir", str(directory), check=False)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The lab most integration tests share."""
    with running_lab(tmp_path_factory.mktemp("lab"), TEST_NETWORK) as handle:
        yield handle


@pytest.fixture(scope="module")
def fresh_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A lab whose devices nothing has touched yet, for one test module."""
    with running_lab(tmp_path_factory.mktemp("fresh-lab"), FRESH_NETWORK) as handle:
        yield handle
