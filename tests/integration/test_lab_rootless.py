"""The fleet lab without root: an unprivileged user gets isolated endpoints in a user namespace,
each with a root-owned `/` of its own, deploys to them and has their reports shipped to the
collector and ingested, as `make demo` does; where user namespaces are unavailable, `banwatch-lab
up` and `make demo` refuse at once.

The user runs this virtualenv's interpreter: run these tests from one other users can read (made
with /usr/bin/python3 -m venv outside /root, say), or they skip saying so."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.conftest import BIN, SPARE_NETWORK, Lab, lab_leftovers, require_lab_support
from tests.repo_vars import write_group_vars

pytestmark = pytest.mark.lab

LAB_USER = "banwatch-lab-test"
SUBORDINATE_IDS = 65536
# A user's PATH (login.defs's ENV_PATH), without root's sbin directories.
USER_PATH = "/usr/local/bin:/usr/bin:/bin"


def next_free_ids() -> int:
    """The first id above every subordinate range already granted (at least 100000)."""
    end = 100000
    for path in ("/etc/subuid", "/etc/subgid"):
        if os.path.exists(path):
            for line in Path(path).read_text().splitlines():
                fields = line.split(":")
                if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
                    end = max(end, int(fields[1]) + int(fields[2]))
    return end


def as_user(*argv: str, check: bool = True, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    settings = [f"{name}={value}" for name, value in {"PATH": USER_PATH, **(env or {})}.items()]
    result = subprocess.run(["runuser", "-u", LAB_USER, "--", "env", *settings, *argv], capture_output=True,
                            text=True, timeout=timeout, check=False, cwd=REPO)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} as {LAB_USER} failed ({result.returncode}):\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def lab_user() -> Iterator[pwd.struct_passwd]:
    """A system user with a subordinate id range, made for this module and removed after it."""
    require_lab_support()
    for tool in ("newuidmap", "newgidmap", "runuser", "setpriv"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (make setup installs uidmap)")
    created = False
    try:
        pwd.getpwnam(LAB_USER)
    except KeyError:
        # A home of its own, as a newcomer has: Ansible's tasks on the control node keep files there.
        subprocess.run(["useradd", "--system", "--create-home", "--home-dir", f"/home/{LAB_USER}",
                        "--shell", "/usr/sbin/nologin", LAB_USER], check=True)
        start = next_free_ids()
        ids = f"{start}-{start + SUBORDINATE_IDS - 1}"
        subprocess.run(["usermod", "--add-subuids", ids, "--add-subgids", ids, LAB_USER], check=True)
        created = True
    try:
        runs = as_user(sys.executable, "-c", "import banwatch_lab", check=False)
        if runs.returncode != 0:
            pytest.skip(f"{LAB_USER} cannot run this virtualenv's interpreter {sys.executable}: run these tests "
                        "from a virtualenv and checkout other users can read (/usr/bin/python3 -m venv, "
                        f"outside /root): {runs.stderr.strip()[-200:]}")
        yield pwd.getpwnam(LAB_USER)
    finally:
        if created:
            subprocess.run(["userdel", "--remove", LAB_USER], check=False)
            for path in ("/etc/subuid", "/etc/subgid"):
                kept = [line for line in Path(path).read_text().splitlines(keepends=True)
                        if not line.startswith(f"{LAB_USER}:")]
                Path(path).write_text("".join(kept))


@pytest.fixture
def user_dir(lab_user: pwd.struct_passwd) -> Iterator[Path]:
    """A folder of the user's own (pytest's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="banwatch-lab-rootless-"))
    os.chown(folder, lab_user.pw_uid, lab_user.pw_gid)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_an_unprivileged_user_runs_isolated_endpoints(lab_user: pwd.struct_passwd, user_dir: Path):
    directory, inventory = user_dir / "lab", user_dir / "hosts.yml"
    lab = Lab(directory, inventory)
    try:
        up = as_user(str(BIN / "banwatch-lab"), "up", "--dir", str(directory), "--endpoints", "2",
                     "--network", SPARE_NETWORK, "--inventory", str(inventory))
        assert "(user-namespaces)" in up.stdout and "Not isolated" not in up.stderr
        assert lab.state["mode"] == "user-namespaces" and lab.state["user"] == "root"
        # The endpoints' processes are the user's as the host sees them: no privilege was used.
        init = Path(f"/proc/{lab.endpoint('lab-ep-01')['init_pid']}/status").read_text()
        assert f"Uid:\t{lab_user.pw_uid}\t" in init
        name = f"TikTok-{uuid.uuid4().hex[:6]}"
        pid = int(as_user(str(BIN / "banwatch-lab"), "run", "--dir", str(directory), "lab-ep-01", "--as", name,
                          "--", "sleep", "600").stdout)
        package = f"tiktok-lab-{uuid.uuid4().hex[:6]}"
        as_user(str(BIN / "banwatch-lab"), "install-package", "--dir", str(directory), "lab-ep-02", package, "2.0")
        # Over the endpoint's own sshd: root inside, its own name, process table and dpkg database.
        inside = lab.ssh("lab-ep-01", "id -u; hostname; ps -eo pid=,comm=")
        assert inside.returncode == 0, inside.stderr
        uid, hostname, *processes = inside.stdout.splitlines()
        assert (uid, hostname) == ("0", "lab-ep-01")
        # Its own `/`: root's, as sshd wants every directory above a chroot to be.
        owners = lab.ssh("lab-ep-01", "stat -c %u / /var /var/lib /etc; touch /new 2>&1; ls /usr/sbin/sshd")
        assert owners.stdout.splitlines()[:4] == ["0"] * 4 and "Read-only file system" in owners.stdout
        assert owners.stdout.splitlines()[-1] == "/usr/sbin/sshd"
        assert f"{pid} {name}" in [" ".join(line.split()) for line in processes]
        assert name not in lab.ssh("lab-ep-02", "ps -eo comm=").stdout
        assert lab.ssh("lab-ep-02", f"dpkg-query -W -f '${{Version}}' {package}").stdout == "2.0"
        assert lab.ssh("lab-ep-01", f"dpkg-query -W {package}").returncode != 0
        assert subprocess.run(["dpkg-query", "-W", package], capture_output=True, check=False).returncode != 0
        status = json.loads(as_user(str(BIN / "banwatch-lab"), "status", "--dir", str(directory),
                                    "--format", "json").stdout)
        assert [row["ssh"] for row in status] == [f"ok ({row['host']})" for row in status]
        as_user(str(BIN / "banwatch-lab"), "down", "--dir", str(directory))
        deadline = time.monotonic() + 5
        while lab_leftovers(directory) != ([], []) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lab_leftovers(directory) == ([], [])
    finally:
        as_user(str(BIN / "banwatch-lab"), "down", "--dir", str(directory), check=False)


def test_an_unprivileged_users_devices_ship_reports_to_the_collector(lab_user: pwd.struct_passwd, user_dir: Path):
    """make demo's steps as the user: deploy, report now, ingest as the lab's root, the fleet view."""
    directory, inventory = user_dir / "lab", user_dir / "hosts.yml"
    lab = Lab(directory, inventory)
    # Bundles beside the inventory: this checkout is root's.
    env = {"HOME": lab_user.pw_dir, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
           "BANWATCH_FLEET_CONFIG": str(directory / "fleet.yml")}
    try:
        as_user(str(BIN / "banwatch-lab"), "up", "--dir", str(directory), "--endpoints", "1",
                "--network", SPARE_NETWORK, "--inventory", str(inventory))
        write_group_vars(inventory, {"banwatch_agent_bundle_dir": str(user_dir / "bundles")})
        as_user(str(BIN / "banwatch-lab"), "run", "--dir", str(directory), "lab-ep-01", "--as", "TikTok",
                "--", "sleep", "600")
        for playbook in ("banwatch.deploy.site", "banwatch.deploy.report_now"):
            run = as_user(str(BIN / "ansible-playbook"), "-i", str(inventory), playbook, env=env, check=False,
                          timeout=600)
            assert run.returncode == 0, run.stdout[-4000:]
        dropbox = Path(f"/proc/{lab.endpoint('lab-collector')['init_pid']}/root/var/lib/banwatch-collector/incoming")
        owners = {path.stat().st_uid for path in dropbox.iterdir()}
        assert owners and lab_user.pw_uid not in owners  # the drop box user's: a subordinate id
        ingest = as_user(str(BIN / "banwatch-lab"), "as-root", "--dir", str(directory), "--",
                         str(BIN / "banwatch"), "fleet", "ingest", env=env)
        assert " 0 quarantined" in ingest.stdout, ingest.stdout
        status = as_user(str(BIN / "banwatch"), "fleet", "status", "--format", "json", env=env, check=False)
        assert status.returncode in (0, 1), status.stderr
        rows = json.loads(status.stdout)
        assert [(row["host"], row["state"]) for row in rows] == [("lab-ep-01", "violation")], rows
    finally:
        as_user(str(BIN / "banwatch-lab"), "down", "--dir", str(directory), check=False)


def in_capped_user_namespace(user: pwd.struct_passwd, *argv: str) -> subprocess.CompletedProcess[str]:
    """`argv` run as `user` inside a user namespace of root's in which no user namespace may be made:
    user.max_user_namespaces is 0 there, a real setting that ends with that namespace."""
    capped = ('echo 0 > /proc/sys/user/max_user_namespaces && uid=$1 gid=$2 && shift 2 && '
              'exec setpriv --reuid="$uid" --regid="$gid" --init-groups -- "$@"')
    # sh starts before its ids are mapped, so without capabilities: once they are, it starts again.
    wait_for_map = 'read _ && exec sh -c "$CAPPED" sh "$@"'
    process = subprocess.Popen(["unshare", "--user", "--", "sh", "-c", wait_for_map, "sh", str(user.pw_uid),
                                str(user.pw_gid), *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=REPO, env={**os.environ, "CAPPED": capped})
    try:
        ours = os.readlink("/proc/self/ns/user")
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{process.pid}/ns/user") == ours:
            assert time.monotonic() < deadline, "unshare made no user namespace"
            time.sleep(0.01)
        for name in ("uid_map", "gid_map"):  # every id as itself: root may map what it likes
            Path(f"/proc/{process.pid}/{name}").write_text("0 0 4294967295\n")
        stdout, stderr = process.communicate("\n", timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_without_user_namespaces_up_and_demo_refuse_at_once(lab_user: pwd.struct_passwd, user_dir: Path):
    directory = user_dir / "lab"
    up = in_capped_user_namespace(lab_user, str(BIN / "banwatch-lab"), "up", "--dir", str(directory),
                                  "--network", SPARE_NETWORK, "--inventory", str(user_dir / "hosts.yml"))
    assert up.returncode == 2, up.stderr
    assert up.stderr.count("\n") == 1 and "Traceback" not in up.stderr
    assert "user.max_user_namespaces" in up.stderr and "sudo make demo" in up.stderr
    assert not directory.exists() and up.stdout == ""
    # make demo says the same before its setup (no virtualenv, no apt) or anything else runs.
    demo = in_capped_user_namespace(lab_user, "make", "--no-print-directory", "-C", str(REPO), "demo",
                                    f"LAB_DIR={directory}", f"VENV={user_dir / 'venv'}")
    assert demo.returncode != 0
    assert "user.max_user_namespaces" in demo.stderr and "sudo make demo" in demo.stderr
    assert demo.stdout == "" and not directory.exists() and not (user_dir / "venv").exists()
