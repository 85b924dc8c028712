"""The fleet lab: endpoints are isolated from each other, reachable with pinned host keys, and
`down` leaves nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import (
    BIN,
    SPARE_NETWORK,
    TEST_NETWORK,
    Lab,
    banwatch_lab,
    lab_leftovers,
    require_lab_support,
)

pytestmark = pytest.mark.lab


def test_process_started_in_one_endpoint_is_invisible_in_another(lab: Lab):
    name = f"TikTok-{uuid.uuid4().hex[:6]}"
    pid = int(lab.lab("run", "lab-ep-01", "--as", name, "--", "sleep", "600").stdout)
    inside = lab.ssh("lab-ep-01", "ps -eo pid=,comm=")
    assert f"{pid} {name}" in " ".join(inside.stdout.split())
    other = lab.ssh("lab-ep-02", "ps -eo comm=")
    assert other.returncode == 0 and name not in other.stdout
    # The endpoint has a process table of its own: its init is PID 1, and there are few processes.
    assert len(other.stdout.split()) < 10


def test_each_endpoint_has_its_own_hostname_and_machine_id(lab: Lab):
    seen = {}
    for endpoint in lab.state["endpoints"]:
        result = lab.ssh(endpoint["name"], "hostname; cat /etc/machine-id")
        assert result.returncode == 0, result.stderr
        hostname, machine_id = result.stdout.split()
        assert hostname == endpoint["name"]
        assert machine_id == endpoint["machine_id"]
        seen[hostname] = machine_id
    assert len(set(seen.values())) == len(seen)
    with open("/etc/machine-id") as handle:
        assert handle.read().strip() not in seen.values()


def test_package_added_to_one_endpoint_is_seen_there_only(lab: Lab):
    package = f"tiktok-lab-{uuid.uuid4().hex[:6]}"
    lab.lab("install-package", "lab-ep-02", package, "3.4.5")
    assert lab.ssh("lab-ep-02", f"dpkg-query -W -f '${{Version}}' {package}").stdout == "3.4.5"
    assert lab.ssh("lab-ep-01", f"dpkg-query -W {package}").returncode != 0
    assert subprocess.run(["dpkg-query", "-W", package], capture_output=True, check=False).returncode != 0
    # The agent's own dpkg source, run inside each endpoint, agrees.
    for host, present in (("lab-ep-02", True), ("lab-ep-01", False)):
        listing = lab.ssh(host, f"{BIN}/banwatch-agent software --source dpkg --format json")
        assert (package in {obs["name"] for obs in json.loads(listing.stdout)}) is present


def test_endpoint_state_directories_are_private_and_the_host_is_read_only(lab: Lab):
    marker = uuid.uuid4().hex
    assert lab.ssh("lab-ep-01", f"echo {marker} > /etc/banwatch/marker && cat /etc/banwatch/marker").stdout.strip() \
        == marker
    assert lab.ssh("lab-ep-02", "cat /etc/banwatch/marker").returncode != 0
    assert not Path("/etc/banwatch/marker").exists()
    for folder in ("/opt/banwatch", "/var/lib/banwatch"):
        assert lab.ssh("lab-ep-01", f"touch {folder}/x && test -f {folder}/x").returncode == 0
    assert "Read-only file system" in lab.ssh("lab-ep-01", "touch /usr/banwatch-lab-test").stderr


def test_ansible_ping_with_pinned_host_keys(lab: Lab, tmp_path: Path):
    result = lab.ansible("all", "-m", "ansible.builtin.ping")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(lab.state["endpoints"])
    groups = lab.ansible("classified:press_office", "--list-hosts").stdout
    assert "lab-ep-03" in groups and "lab-ep-04" in groups and "lab-ep-01" not in groups
    # Pinning is real: with another key on record for the endpoint, the login is refused.
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    endpoint = lab.endpoint("lab-ep-01")
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"{endpoint['address']} {(tmp_path / 'stranger.pub').read_text()}")
    refused = lab.ssh("lab-ep-01", "true", known_hosts=wrong)
    assert refused.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in refused.stderr


def test_status_up_is_a_no_op_and_bad_requests(lab: Lab):
    status = json.loads(lab.lab("status", "--format", "json").stdout)
    assert [row["host"] for row in status][-1] == "lab-collector"
    assert all(row["ssh"] == f"ok ({row['host']})" for row in status)
    pids = [e["init_pid"] for e in lab.state["endpoints"]]
    again = lab.lab("up", "--endpoints", "4", "--network", TEST_NETWORK, "--inventory", str(lab.inventory))
    assert "already up" in again.stdout
    assert [e["init_pid"] for e in lab.state["endpoints"]] == pids
    unknown = lab.lab("run", "nope", "--", "true", check=False)
    assert unknown.returncode == 2 and "no endpoint named 'nope'" in unknown.stderr
    missing = lab.lab("run", "lab-ep-01", "--", "/no/such/program", check=False)
    assert missing.returncode == 3 and "not found" in missing.stderr
    bad_package = lab.lab("install-package", "lab-ep-01", "Not_A_Name", check=False)
    assert bad_package.returncode == 2 and "not a Debian package name" in bad_package.stderr
    real_package = lab.lab("install-package", "lab-ep-01", "bash", check=False)
    assert real_package.returncode == 2 and "already installed" in real_package.stderr
    # as-root in a root lab: the command as it is, its exit code the command's.
    as_root = lab.lab("as-root", "--", "sh", "-c", "id -u; exit 7", check=False)
    assert (as_root.returncode, as_root.stdout) == (7, "0\n")
    no_command = lab.lab("as-root", check=False)
    no_program = lab.lab("as-root", "--", "/no/such/program", check=False)
    assert no_command.returncode == 2 and "no command given" in no_command.stderr
    assert no_program.returncode == 3 and "cannot run /no/such/program" in no_program.stderr
    assert "Traceback" not in (unknown.stderr + missing.stderr + bad_package.stderr + real_package.stderr
                               + no_command.stderr + no_program.stderr)


def process_names() -> str:
    return subprocess.run(["ps", "-eo", "comm="], capture_output=True, text=True, check=True).stdout


def test_down_leaves_no_process_or_mount_even_after_a_crash(tmp_path: Path):
    require_lab_support()
    directory, inventory = tmp_path / "lab", tmp_path / "hosts.yml"
    up = ("up", "--dir", str(directory), "--endpoints", "2", "--network", SPARE_NETWORK,
          "--inventory", str(inventory))
    try:
        banwatch_lab(*up)
        state = json.loads((directory / "state.json").read_text())
        name = f"TikTok-{uuid.uuid4().hex[:6]}"
        banwatch_lab("run", "--dir", str(directory), "lab-ep-01", "--as", name, "--", "sleep", "600")
        assert name in process_names()
        # A crash: one endpoint dies, and the state file is lost.
        os.kill(state["endpoints"][1]["init_pid"], 9)
        (directory / "state.json").unlink()
        stopped = banwatch_lab("down", "--dir", str(directory))
        assert "stopped" in stopped.stdout
        deadline = time.monotonic() + 5
        while lab_leftovers(directory) != ([], []) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lab_leftovers(directory) == ([], [])
        assert name not in process_names()
        again = banwatch_lab("down", "--dir", str(directory))
        assert "nothing to stop" in again.stdout
    finally:
        banwatch_lab("down", "--dir", str(directory), check=False)


def test_plain_mode_without_namespaces(tmp_path: Path):
    """What --plain gives where namespaces are unavailable: plain sshd instances on loopback ports, and a warning."""
    require_lab_support()
    directory, inventory = tmp_path / "lab", tmp_path / "hosts.yml"
    try:
        up = banwatch_lab("up", "--plain", "--dir", str(directory), "--endpoints", "2", "--network", SPARE_NETWORK,
                      "--inventory", str(inventory))
        assert "Not isolated" in up.stderr and "process table" in up.stderr
        status = json.loads(banwatch_lab("status", "--dir", str(directory), "--format", "json").stdout)
        assert all(row["ssh"].startswith("ok") and row["address"] == "127.0.0.1" for row in status)
        assert len({row["port"] for row in status}) == 3
        pid = int(banwatch_lab("run", "--dir", str(directory), "lab-ep-01", "--", "sleep", "600").stdout)
        refused = banwatch_lab("install-package", "--dir", str(directory), "lab-ep-01", "foo", check=False)
        assert refused.returncode == 3 and "namespaced" in refused.stderr
        banwatch_lab("down", "--dir", str(directory))
        assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
        assert lab_leftovers(directory) == ([], [])
    finally:
        banwatch_lab("down", "--dir", str(directory), check=False)
