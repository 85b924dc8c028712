"""The fleet lab without root: an unprivileged user gets isolated endpoints in a user namespace,
each with a root-owned `/` of its own, deploys to them and has their reports shipped to the
collector and ingested, as `make demo` does; where user namespaces are unavailable, `banwatch-lab
up` and `make demo` refuse at once.

The user runs this checkout's virtualenv where it can read both. Where it cannot (a checkout under
/root, or a virtualenv made with an interpreter under /root, as pyenv's are), the tests install a
copy other users can read: the checkout's files and a virtualenv of the system's Python, from the
package index, as `make setup` does."""

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.integration.conftest import BIN, SPARE_NETWORK, Lab, lab_leftovers, require_lab_support
from tests.repo_vars import ROLE_VARS, write_group_vars

pytestmark = pytest.mark.lab

LAB_USER = "banwatch-lab-test"
SUBORDINATE_IDS = 65536
# A user's PATH (login.defs's ENV_PATH), without root's sbin directories.
USER_PATH = "/usr/local/bin:/usr/bin:/bin"
SYSTEM_PYTHON = "/usr/bin/python3"
# What a readable copy of the checkout leaves out: this user's own state and caches.
NOT_COPIED = (".git", ".venv", ".lab", ".pytest_cache", ".hypothesis", "__pycache__", "build", "bundles",
              "*.egg-info")


@dataclass(frozen=True)
class UserInstall:
    """The checkout and virtualenv the user runs: this one, or a readable copy of it."""

    repo: Path
    bin: Path

    def run(self, program: str, *args: str, **options: Any) -> subprocess.CompletedProcess[str]:
        """`program` of this virtualenv, as the user, in this checkout."""
        return as_user(str(self.bin / program), *args, cwd=self.repo, **options)

    def role_vars(self) -> dict[str, str]:
        return {name: value.replace(str(REPO), str(self.repo)) for name, value in ROLE_VARS.items()}


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


def as_user(*argv: str, check: bool = True, env: dict[str, str] | None = None, timeout: float = 120,
            cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    settings = [f"{name}={value}" for name, value in {"PATH": USER_PATH, **(env or {})}.items()]
    result = subprocess.run(["runuser", "-u", LAB_USER, "--", "env", *settings, *argv], capture_output=True,
                            text=True, timeout=timeout, check=False, cwd=cwd)
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
        yield pwd.getpwnam(LAB_USER)
    finally:
        if created:
            subprocess.run(["userdel", "--remove", LAB_USER], check=False)
            for path in ("/etc/subuid", "/etc/subgid"):
                kept = [line for line in Path(path).read_text().splitlines(keepends=True)
                        if not line.startswith(f"{LAB_USER}:")]
                Path(path).write_text("".join(kept))


def readable_copy(folder: Path) -> UserInstall:
    """The checkout's files under `folder`, and a virtualenv of the system's Python with the project
    installed from them: all root's, and readable by everyone."""
    repo, venv = folder / "repo", folder / "venv"
    shutil.copytree(REPO, repo, symlinks=True, ignore=shutil.ignore_patterns(*NOT_COPIED))
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(venv)], check=True, capture_output=True)
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", f"{repo / 'agent'}[control]",
                              str(repo / "tests" / "lab")], capture_output=True, text=True, check=False,
                             timeout=900)
    assert install.returncode == 0, install.stderr[-4000:]
    for path in (folder, *folder.rglob("*")):
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o555 if path.is_dir() else path.stat().st_mode | 0o444)
    return UserInstall(repo, venv / "bin")


@pytest.fixture(scope="module")
def user_install(lab_user: pwd.struct_passwd) -> Iterator[UserInstall]:
    """This checkout and virtualenv where the user can run them, else a readable copy (module docstring)."""
    runs = as_user(sys.executable, "-c", "import banwatch_lab, pathlib; pathlib.Path('ansible.cfg').read_bytes()",
                   check=False)
    if runs.returncode == 0:
        yield UserInstall(REPO, BIN)
        return
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"{LAB_USER} cannot run {sys.executable} here, and there is no {SYSTEM_PYTHON} to make a "
                    f"virtualenv it can: {runs.stderr.strip()[-200:]}")
    folder = Path(tempfile.mkdtemp(prefix="banwatch-rootless-install-"))
    try:
        yield readable_copy(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def user_dir(lab_user: pwd.struct_passwd) -> Iterator[Path]:
    """A folder of the user's own (pytest's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="banwatch-lab-rootless-"))
    os.chown(folder, lab_user.pw_uid, lab_user.pw_gid)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_an_unprivileged_user_runs_isolated_endpoints(lab_user: pwd.struct_passwd, user_install: UserInstall,
                                                       user_dir: Path):
    directory, inventory = user_dir / "lab", user_dir / "hosts.yml"
    lab = Lab(directory, inventory)
    try:
        up = user_install.run("banwatch-lab", "up", "--dir", str(directory), "--endpoints", "2",
                              "--network", SPARE_NETWORK, "--inventory", str(inventory))
        assert "(user-namespaces)" in up.stdout and "Not isolated" not in up.stderr
        assert lab.state["mode"] == "user-namespaces" and lab.state["user"] == "root"
        # The endpoints' processes are the user's as the host sees them: no privilege was used.
        init = Path(f"/proc/{lab.endpoint('lab-ep-01')['init_pid']}/status").read_text()
        assert f"Uid:\t{lab_user.pw_uid}\t" in init
        name = f"TikTok-{uuid.uuid4().hex[:6]}"
        pid = int(user_install.run("banwatch-lab", "run", "--dir", str(directory), "lab-ep-01", "--as", name,
                                   "--", "sleep", "600").stdout)
        package = f"tiktok-lab-{uuid.uuid4().hex[:6]}"
        user_install.run("banwatch-lab", "install-package", "--dir", str(directory), "lab-ep-02", package, "2.0")
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
        status = json.loads(user_install.run("banwatch-lab", "status", "--dir", str(directory),
                                             "--format", "json").stdout)
        assert [row["ssh"] for row in status] == [f"ok ({row['host']})" for row in status]
        user_install.run("banwatch-lab", "down", "--dir", str(directory))
        deadline = time.monotonic() + 5
        while lab_leftovers(directory) != ([], []) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lab_leftovers(directory) == ([], [])
    finally:
        user_install.run("banwatch-lab", "down", "--dir", str(directory), check=False)


def test_an_unprivileged_users_devices_ship_reports_to_the_collector(lab_user: pwd.struct_passwd,
                                                                    user_install: UserInstall, user_dir: Path):
    """make demo's steps as the user: deploy, report now, ingest as the lab's root, the fleet view."""
    directory, inventory = user_dir / "lab", user_dir / "hosts.yml"
    lab = Lab(directory, inventory)
    # Bundles in the user's folder: the checkout may be root's alone.
    env = {"HOME": lab_user.pw_dir, "ANSIBLE_CONFIG": str(user_install.repo / "ansible.cfg"),
           "BANWATCH_FLEET_CONFIG": str(directory / "fleet.yml")}
    try:
        user_install.run("banwatch-lab", "up", "--dir", str(directory), "--endpoints", "1",
                         "--network", SPARE_NETWORK, "--inventory", str(inventory))
        write_group_vars(inventory, {**user_install.role_vars(),
                                     "banwatch_agent_bundle_dir": str(user_dir / "bundles")})
        user_install.run("banwatch-lab", "run", "--dir", str(directory), "lab-ep-01", "--as", "TikTok",
                         "--", "sleep", "600")
        for playbook in ("banwatch.deploy.site", "banwatch.deploy.report_now"):
            run = user_install.run("ansible-playbook", "-i", str(inventory), playbook, env=env, check=False,
                                   timeout=600)
            assert run.returncode == 0, run.stdout[-4000:]
        dropbox = Path(f"/proc/{lab.endpoint('lab-collector')['init_pid']}/root/var/lib/banwatch-collector/incoming")
        owners = {path.stat().st_uid for path in dropbox.iterdir()}
        assert owners and lab_user.pw_uid not in owners  # the drop box user's: a subordinate id
        ingest = user_install.run("banwatch-lab", "as-root", "--dir", str(directory), "--",
                                  str(user_install.bin / "banwatch"), "fleet", "ingest", env=env)
        assert " 0 refused" in ingest.stdout, ingest.stdout
        status = user_install.run("banwatch", "fleet", "status", "--format", "json", env=env, check=False)
        assert status.returncode in (0, 1), status.stderr
        rows = json.loads(status.stdout)
        assert [(row["host"], row["state"]) for row in rows] == [("lab-ep-01", "violation")], rows
    finally:
        user_install.run("banwatch-lab", "down", "--dir", str(directory), check=False)


def in_capped_user_namespace(user: pwd.struct_passwd, cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """`argv` run as `user` inside a user namespace of root's in which no user namespace may be made:
    user.max_user_namespaces is 0 there, a real setting that ends with that namespace."""
    capped = ('echo 0 > /proc/sys/user/max_user_namespaces && uid=$1 gid=$2 && shift 2 && '
              'exec setpriv --reuid="$uid" --regid="$gid" --init-groups -- "$@"')
    # sh starts before its ids are mapped, so without capabilities: once they are, it starts again.
    wait_for_map = 'read _ && exec sh -c "$CAPPED" sh "$@"'
    process = subprocess.Popen(["unshare", "--user", "--", "sh", "-c", wait_for_map, "sh", str(user.pw_uid),
                                str(user.pw_gid), *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=cwd, env={**os.environ, "CAPPED": capped})
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


def test_without_user_namespaces_up_and_demo_refuse_at_once(lab_user: pwd.struct_passwd, user_install: UserInstall,
                                                             user_dir: Path):
    directory = user_dir / "lab"
    up = in_capped_user_namespace(lab_user, user_install.repo, str(user_install.bin / "banwatch-lab"), "up",
                                  "--dir", str(directory), "--network", SPARE_NETWORK,
                                  "--inventory", str(user_dir / "hosts.yml"))
    assert up.returncode == 2, up.stderr
    assert up.stderr.count("\n") == 1 and "Traceback" not in up.stderr
    assert "user.max_user_namespaces" in up.stderr and "sudo make demo" in up.stderr
    assert not directory.exists() and up.stdout == ""
    # make demo says the same before its setup (no virtualenv, no apt) or anything else runs.
    demo = in_capped_user_namespace(lab_user, user_install.repo, "make", "--no-print-directory",
                                    "-C", str(user_install.repo), "demo", f"LAB_DIR={directory}",
                                    f"VENV={user_dir / 'venv'}")
    assert demo.returncode != 0
    assert "user.max_user_namespaces" in demo.stderr and "sudo make demo" in demo.stderr
    assert demo.stdout == "" and not directory.exists() and not (user_dir / "venv").exists()
