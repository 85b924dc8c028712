"""`banwatch-lab`: bring a lab up and down, say how it is, and act inside its endpoints.

Each endpoint is `unshare --pid --mount --uts --ipc` around `banwatch_lab.endpoint` (its
PID 1, which runs its sshd). Without root, it is the same inside a user namespace (`--user`),
which maps the user to root and the user's subordinate ids (`newuidmap`) to the endpoint's
other users, as rootless containers do; `preflight` says up front when that cannot work.
`--plain` endpoints are plain sshd instances on ports of 127.0.0.1: reachable over SSH like the
real thing, but sharing the host's processes, files and identity, which `up` says.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import NoReturn

import yaml

from banwatch.core import signing
from banwatch.core.atomic import write_atomic
from banwatch.core.errors import InputError
from banwatch.device.sources import dpkg
from banwatch.device.sources.base import SourceContext
from banwatch_lab import endpoint as endpoint_module
from banwatch_lab import preflight, procs, sshfiles
from banwatch_lab import spawn as spawn_module
from banwatch_lab.layout import (
    COLLECTOR_DROPBOX,
    COLLECTOR_NAME,
    DEFAULT_NETWORK,
    SSH_PORT,
    UNPRIVILEGED_SSH_PORT,
    Endpoint,
    LabPaths,
    inventory,
    inventory_text,
    plan,
)
from banwatch_lab.state import (
    ISOLATED,
    NAMESPACES,
    PLAIN,
    USER_NAMESPACES,
    LabError,
    LabState,
    LabUnsupported,
    endpoint_root,
    load_state,
    save_state,
)

READY_TIMEOUT = 30.0
NOT_ISOLATED = ("process table", "hostname", "machine id", "/etc/banwatch, /opt/banwatch, /var/lib/banwatch",
                "dpkg database", "root login (each endpoint logs in as you)")
# Both become the file name <name>_<version>_all.deb in the lab's packages/: bounded, one line.
_PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]{1,99}\Z")
_PACKAGE_VERSION = re.compile(r"^[0-9][A-Za-z0-9.+~-]{0,59}\Z")
# What dpkg runs inside an endpoint as its root: root's PATH, with the sbin directories (ldconfig,
# start-stop-daemon) that a user's PATH lacks when the lab was started without root.
ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def device_python() -> str:
    """The interpreter Ansible uses on endpoints: the system's, as on a real device."""
    return "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


def up(root: str, count: int, inventory_path: str, *, network: str = DEFAULT_NETWORK,
       plain: bool = False, policy_source: str | None = None) -> tuple[LabState, bool]:
    """Start the lab, or leave a running one as it is. Returns (state, started now).

    Namespaced (in a user namespace without root) unless `plain` is asked for."""
    mode = isolation(plain)
    paths = LabPaths(root)
    state = load_state(paths)
    if state is not None and state.endpoints and len(state.running()) == len(state.endpoints):
        return state, False
    down(root)  # whatever a crashed earlier run left
    namespaced = mode in ISOLATED
    _check_tools(mode)
    endpoints = plan(count, namespaced=namespaced, machine_ids=[uuid.uuid4().hex for _ in range(count + 1)],
                     network=network, ssh_port=UNPRIVILEGED_SSH_PORT if mode == USER_NAMESPACES else SSH_PORT)
    os.makedirs(paths.root, mode=0o700, exist_ok=True)
    _check_addresses_free(endpoints)
    sshfiles.prepare(endpoints, paths, namespaced=namespaced)
    if not os.path.exists(paths.policy_key):  # kept across ups, like the SSH client key
        signing.generate(paths.policy_keys)
    state = LabState(mode, "root" if namespaced else pwd.getpwuid(os.geteuid()).pw_name,
                     device_python(), os.path.abspath(inventory_path), endpoints)
    launchers = [_launch(endpoint, paths, mode) for endpoint in endpoints]
    for endpoint, launcher in zip(endpoints, launchers):  # all started first: they come up in parallel
        endpoint.launcher_pid, endpoint.launcher_started = launcher.pid, procs.start_time(launcher.pid)
        if namespaced:
            endpoint.init_pid = procs.wait_for_namespace_init(launcher.pid)
            endpoint.init_started = procs.start_time(endpoint.init_pid) if endpoint.init_pid else None
    save_state(paths, state)  # before waiting: a crash from here on leaves pids `down` can find
    try:
        _wait_ready(endpoints, launchers, paths)
    except LabError:
        down(root)
        raise
    write_inventory(state, paths, policy_source)
    write_fleet_config(state, paths, policy_source)
    return state, True


def isolation(plain: bool) -> str:
    """The lab's mode; refused up front when this user cannot have isolated endpoints here."""
    if plain:
        return PLAIN
    if os.geteuid() == 0:
        return NAMESPACES
    refused = preflight.problem()
    if refused is not None:
        raise LabUnsupported(f"the fleet lab cannot isolate its endpoints: {refused}; "
                             "or 'banwatch-lab up --plain' for endpoints without isolation")
    return USER_NAMESPACES


def write_inventory(state: LabState, paths: LabPaths, policy_source: str | None) -> None:
    document = inventory(state.endpoints, paths, user=state.user, python=state.python,
                         policy_source=os.path.abspath(policy_source) if policy_source else None)
    os.makedirs(os.path.dirname(state.inventory), exist_ok=True)
    note = f"Generated by `banwatch-lab up` for the lab in {paths.root}; rewritten on every up, removed by down."
    write_atomic(state.inventory, inventory_text(document, note).encode())


def write_fleet_config(state: LabState, paths: LabPaths, policy_source: str | None) -> None:
    """The fleet configuration of this lab (BANWATCH_FLEET_CONFIG=.lab/fleet.yml): its store beside
    it, the lab's inventory, the keys the agent role enrols, and the collector's drop box as this
    machine sees it (through the collector endpoint's root)."""
    collector = next(e for e in state.endpoints if e.name == COLLECTOR_NAME)
    document = {"store": os.path.join(paths.root, "fleet.db"), "inventory": state.inventory,
                "enrolled": os.path.join(paths.enrolled, "devices"),
                "dropbox": os.path.join(endpoint_root(state, collector), COLLECTOR_DROPBOX)}
    if policy_source:
        document["policy"] = os.path.abspath(policy_source)
    note = f"# Generated by `banwatch-lab up` for the lab in {paths.root}; removed by down.\n"
    write_atomic(paths.fleet_config, (note + yaml.safe_dump(document, sort_keys=False)).encode())


def _script(module: ModuleType) -> list[str]:
    """Run a stdlib-only lab module as an isolated script: no site-packages, half the start-up time."""
    return [sys.executable, "-I", "-S", str(module.__file__)]


def _check_tools(mode: str) -> None:
    needed = {"sshd (openssh-server)": sshfiles.sshd_binary(), "ssh-keygen": shutil.which("ssh-keygen")}
    if mode in ISOLATED:
        needed.update({"unshare": shutil.which("unshare"), "nsenter": shutil.which("nsenter")})
    if mode == USER_NAMESPACES:
        needed.update({f"{tool} (uidmap)": shutil.which(tool) for tool in ("newuidmap", "newgidmap")})
    missing = [name for name, found in needed.items() if not found]
    if missing:
        raise LabError(f"missing: {', '.join(missing)}; install openssh-server, util-linux and uidmap "
                       "(`make setup` does it), then run 'banwatch-lab up' again")


def _user_namespace_options() -> list[str]:
    """unshare's options for a user namespace: this user as root, its subordinate ids as 1 to 65536."""
    uid = os.geteuid()
    user = pwd.getpwuid(uid).pw_name
    uids = preflight.subordinate_range(preflight.SUBUID, user, uid)
    gids = preflight.subordinate_range(preflight.SUBGID, user, uid)
    if uids is None or gids is None:  # preflight checked; the files changed since
        raise LabUnsupported(f"{user} has no subordinate ids in {preflight.SUBUID} and {preflight.SUBGID}")
    return ["--user", "--map-root-user", f"--map-users={uids[0]},1,{uids[1]}", f"--map-groups={gids[0]},1,{gids[1]}"]


def _check_addresses_free(endpoints: list[Endpoint]) -> None:
    for endpoint in endpoints:
        try:
            with socket.create_connection((endpoint.address, endpoint.port), timeout=0.2):
                pass
        except OSError:
            continue
        raise LabError(f"{endpoint.address}:{endpoint.port} is already in use by another server; "
                       f"stop it or run the lab with another --dir after 'banwatch-lab down'")


def _launch(endpoint: Endpoint, paths: LabPaths, mode: str) -> subprocess.Popen[bytes]:
    folder = paths.endpoint_dir(endpoint.name)
    config = os.path.join(folder, "sshd_config")
    if mode in ISOLATED:
        by_user = mode == USER_NAMESPACES
        spec = {"name": endpoint.name, "address": endpoint.address, "machine_id": endpoint.machine_id,
                "host_key": os.path.join(folder, "ssh_host_ed25519_key"), "sshd_config": config,
                "authorized_keys": os.path.join(paths.ssh, "authorized_keys"),
                "isolation": endpoint_module.USER if by_user else endpoint_module.ROOT}
        command = ["unshare", *(_user_namespace_options() if by_user else []),
                   "--pid", "--mount", "--uts", "--ipc", "--fork", "--kill-child",
                   "--propagation", "private", "--", *_script(endpoint_module),
                   *(spec[name] for name in endpoint_module.SPEC_FIELDS)]
    else:
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        command = [sshfiles.sshd_binary() or sshfiles.SSHD, "-D", "-e", "-f", config]
    with open(os.path.join(folder, "log"), "wb") as log:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _wait_ready(endpoints: list[Endpoint], launchers: list[subprocess.Popen[bytes]], paths: LabPaths) -> None:
    """Until every endpoint's sshd listens; fail fast when one dies. Reading the kernel's table of
    listening sockets costs nothing, where probing each sshd would make it fork a session."""
    pending = dict(zip([e.name for e in endpoints], zip(endpoints, launchers)))
    deadline = time.monotonic() + READY_TIMEOUT
    while pending:
        listening = listening_sockets()
        for name, (endpoint, launcher) in list(pending.items()):
            if launcher.poll() is not None:
                raise LabError(f"endpoint {name} failed to start:\n{_log_tail(paths, name)}")
            if (endpoint.address, endpoint.port) in listening:
                del pending[name]
        if pending and time.monotonic() > deadline:
            raise LabError(f"endpoints not answering after {READY_TIMEOUT:.0f} s: {', '.join(pending)}")
        if pending:
            time.sleep(0.005)


def listening_sockets() -> set[tuple[str, int]]:
    """(IPv4 address, port) of every TCP socket in LISTEN state, from /proc/net/tcp."""
    found = set()
    with open("/proc/net/tcp", encoding="ascii") as handle:
        next(handle)
        for line in handle:
            fields = line.split()
            if fields[3] != "0A":  # TCP_LISTEN
                continue
            address, port = fields[1].split(":")
            found.add((socket.inet_ntoa(bytes.fromhex(address)[::-1]), int(port, 16)))
    return found


def _log_tail(paths: LabPaths, name: str, lines: int = 15) -> str:
    try:
        with open(paths.endpoint_file(name, "log"), encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:]).rstrip() or "(no output)"
    except OSError:
        return "(no log)"


def _is_lab_process(args: list[str], paths: LabPaths) -> bool:
    """An endpoint init (or its unshare) or a plain-mode sshd of this lab, from its argv."""
    under_lab = [arg for arg in args if arg.startswith(os.path.join(paths.endpoints, ""))]
    if not under_lab:
        return False
    if any(arg.endswith(os.path.join("banwatch_lab", "endpoint.py")) for arg in args):
        return True
    return os.path.basename(args[0]) == "sshd" and "-f" in args


def down(root: str) -> int | None:
    """Stop every process of the lab (recorded, or stray from a crash); None if nothing ran."""
    paths = LabPaths(root)
    try:
        state = load_state(paths)
    except LabError:  # a damaged state file: fall back on finding the lab's processes by argv
        state = None
        os.unlink(paths.state)
    recorded: list[tuple[int, int | None]] = []
    if state is not None:
        recorded = [(e.init_pid, e.init_started) for e in state.endpoints if e.init_pid is not None]
        recorded += [(e.launcher_pid, e.launcher_started) for e in state.endpoints if e.launcher_pid is not None]
        recorded += state.spawned
    stopped = procs.stop(recorded)
    strays = procs.strays(lambda args: _is_lab_process(args, paths))
    stopped += procs.stop([(pid, procs.start_time(pid)) for pid in strays])
    if state is not None:
        for path in (state.inventory, paths.fleet_config, paths.state):
            if os.path.exists(path):
                os.unlink(path)
    return stopped if stopped or state is not None else None


def require_state(root: str) -> LabState:
    state = load_state(LabPaths(root))
    if state is None or not state.running():
        raise LabError(f"no lab is running in {os.path.abspath(root)}; start one with 'banwatch-lab up'")
    return state


def ssh_check(endpoint: Endpoint, state: LabState, paths: LabPaths) -> str:
    """Log in with the lab's key, the host key pinned; what the endpoint calls itself, or why not."""
    import paramiko  # noqa: PLC0415 - costs 90 ms at import; only `lab status` needs it

    client = paramiko.SSHClient()
    try:
        client.load_host_keys(paths.known_hosts)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(endpoint.address, endpoint.port, username=state.user, key_filename=paths.client_key,
                       timeout=5, banner_timeout=5, auth_timeout=5, allow_agent=False, look_for_keys=False)
        _, stdout, _ = client.exec_command("hostname", timeout=5)
        return f"ok ({stdout.read().decode(errors='replace').strip()})"
    except (paramiko.SSHException, OSError) as exc:
        return f"error: {exc or type(exc).__name__}"
    finally:
        client.close()


def status(root: str) -> tuple[LabState | None, list[tuple[Endpoint, bool, str]]]:
    paths = LabPaths(root)
    state = load_state(paths)
    if state is None:
        return None, []
    running = {e.name for e in state.running()}

    def check(endpoint: Endpoint) -> tuple[Endpoint, bool, str]:
        alive = endpoint.name in running
        return endpoint, alive, ssh_check(endpoint, state, paths) if alive else "down"

    with ThreadPoolExecutor(max_workers=16) as pool:
        return state, list(pool.map(check, state.endpoints))


def _enter(state: LabState, endpoint: Endpoint) -> list[str]:
    """The command prefix that runs a program inside an endpoint (nothing in plain mode)."""
    if state.mode not in ISOLATED:
        return []
    user = ["--user"] if state.mode == USER_NAMESPACES else []
    return ["nsenter", "--target", str(endpoint.init_pid), *user, "--pid", "--mount", "--uts", "--ipc", "--"]


def run_in(root: str, host: str, command: list[str], alias: str | None = None) -> int:
    """Start `command` inside endpoint `host`, detached; its pid as the endpoint sees it."""
    state = require_state(root)
    endpoint = state.endpoint(host)
    if not command:
        raise InputError.single("CMD", "no command given", "write the command after '--', e.g. -- sleep 600")
    if alias is not None and ("/" in alias or alias in ("", ".", "..")):
        raise InputError.single("--as", f"'{alias}' is not a file name", "give a bare name such as TikTok")
    spawn = [*_script(spawn_module), *(["--as", alias] if alias else []), "--", *command]
    result = subprocess.run([*_enter(state, endpoint), *spawn], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LabError(result.stderr.strip() or f"could not start the command in {host}")
    pid = int(result.stdout.split()[-1])
    if state.mode == PLAIN:
        state.spawned.append((pid, procs.start_time(pid)))
        save_state(LabPaths(root), state)
    return pid


def as_lab_root(root: str, command: list[str]) -> NoReturn:
    """Run `command` on this machine (its files, network and processes) as the lab's root: in a lab
    started without root, as root of the collector's user namespace (`podman unshare`'s job), whose
    privileges cover the files the endpoints' other users own, such as the reports in the drop box
    (0400, the drop box user's); in a root lab, as it is."""
    state = require_state(root)
    if not command:
        raise InputError.single("CMD", "no command given",
                                "write the command after '--', e.g. -- banwatch fleet ingest")
    if state.mode == USER_NAMESPACES:
        collector = state.endpoint(COLLECTOR_NAME)
        command = ["nsenter", "--target", str(collector.init_pid), "--user", "--", *command]
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        raise LabError(f"cannot run {command[0]}: {exc.strerror}") from None


def install_package(root: str, host: str, name: str, version: str = "1.0") -> None:
    """Install a real (empty) .deb named `name` into the endpoint's own dpkg database."""
    if not _PACKAGE_NAME.match(name):
        raise InputError.single("NAME", f"'{name}' is not a Debian package name",
                                "use 2 to 100 lower-case letters, digits, '+', '-' and '.', starting with a letter "
                                "or digit")
    if not _PACKAGE_VERSION.match(version):
        raise InputError.single("VERSION", f"'{version}' is not a package version",
                                "start with a digit, e.g. 1.0, in at most 60 characters")
    state = require_state(root)
    endpoint = state.endpoint(host)
    if state.mode not in ISOLATED:
        raise LabError("install-package needs a namespaced lab (not --plain): in plain mode every endpoint "
                       "shares the host's dpkg database")
    existing = dpkg.collect(SourceContext(root=endpoint_root(state, endpoint)))
    if any(obs.name == name for obs in existing):
        raise InputError.single("NAME", f"package '{name}' is already installed on {host}",
                                "choose a name that is not an installed package")
    deb = build_package(LabPaths(root), name, version)
    # The endpoint cannot see the lab directory when it is under /tmp or /run (its own there):
    # hand the package over through its root, as the host sees it.
    inside = f"/run/banwatch-lab-{name}_{version}_all.deb"
    shutil.copyfile(deb, endpoint_root(state, endpoint) + inside)
    try:
        result = subprocess.run([*_enter(state, endpoint), "dpkg", "--install", inside],
                                capture_output=True, text=True, check=False, env={**os.environ, "PATH": ROOT_PATH})
    finally:
        os.unlink(endpoint_root(state, endpoint) + inside)
    if result.returncode != 0:
        raise LabError(f"dpkg --install failed on {host}: {result.stderr.strip()}")


def build_package(paths: LabPaths, name: str, version: str) -> str:
    """An empty binary package (control file only), built once and kept in the lab's packages/."""
    os.makedirs(paths.packages, exist_ok=True)
    deb = os.path.join(paths.packages, f"{name}_{version}_all.deb")
    if os.path.exists(deb):
        return deb
    control = (f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
               "Maintainer: banwatch-lab <lab@banwatch.invalid>\nSection: misc\nPriority: optional\n"
               "Description: package added by banwatch-lab install-package\n"
               " An empty package, so package detection can be tested per endpoint.\n")
    with tempfile.TemporaryDirectory(dir=paths.packages) as build:
        os.makedirs(os.path.join(build, "DEBIAN"))
        with open(os.path.join(build, "DEBIAN", "control"), "w", encoding="utf-8") as handle:
            handle.write(control)
        subprocess.run(["dpkg-deb", "--root-owner-group", "--build", build, deb + ".tmp"],
                       check=True, capture_output=True)
    os.replace(deb + ".tmp", deb)
    return deb
