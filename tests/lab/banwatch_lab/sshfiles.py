"""The lab's SSH material: its client key, one host key per endpoint, sshd configs, known_hosts."""

from __future__ import annotations

import os
import shutil
import subprocess

from banwatch.core.atomic import write_atomic
from banwatch_lab.layout import Endpoint, LabPaths

SSHD = "/usr/sbin/sshd"

# Common to both modes: keys only, no passwords, no forwarding, room for Ansible's forks.
_COMMON = """\
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
PermitTunnel no
MaxStartups 200:30:400
MaxSessions 64
LogLevel INFO
Subsystem sftp internal-sftp
"""


def keygen(requests: list[tuple[str, str]]) -> None:
    """An Ed25519 key pair at each (path, comment) that has none yet, generated in parallel."""
    running = []
    for path, comment in requests:
        if os.path.exists(path) and os.path.exists(path + ".pub"):
            continue
        for stale in (path, path + ".pub"):
            if os.path.exists(stale):
                os.unlink(stale)
        running.append(subprocess.Popen(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE))
    for process in running:
        _, error = process.communicate()
        if process.returncode != 0:
            raise subprocess.CalledProcessError(process.returncode, process.args, stderr=error)


def public_key(path: str) -> str:
    with open(path + ".pub", encoding="ascii") as handle:
        return handle.read().strip()


def namespaced_sshd_config(endpoint: Endpoint) -> str:
    """The endpoint's /etc/ssh/sshd_config: the stock include directory, so roles can add to it."""
    return (f"# banwatch-lab endpoint {endpoint.name}\n"
            "Include /etc/ssh/sshd_config.d/*.conf\n"
            f"ListenAddress {endpoint.address}:{endpoint.port}\n"
            "HostKey /etc/ssh/ssh_host_ed25519_key\n"
            "PidFile /run/sshd.pid\n"
            "PermitRootLogin prohibit-password\n"
            "AuthorizedKeysFile .ssh/authorized_keys\n"
            + _COMMON)


def plain_sshd_config(endpoint: Endpoint, paths: LabPaths) -> str:
    """An unprivileged sshd: everything in the lab directory, logins as the user who started it."""
    folder = paths.endpoint_dir(endpoint.name)
    return (f"# banwatch-lab endpoint {endpoint.name} (plain mode: no namespaces)\n"
            f"ListenAddress {endpoint.address}:{endpoint.port}\n"
            f"HostKey {folder}/ssh_host_ed25519_key\n"
            f"PidFile {folder}/sshd.pid\n"
            f"AuthorizedKeysFile {paths.ssh}/authorized_keys\n"
            "StrictModes no\n"
            + _COMMON)


def prepare(endpoints: list[Endpoint], paths: LabPaths, *, namespaced: bool) -> None:
    """Keys and configs for every endpoint, and the lab's pinned known_hosts."""
    os.makedirs(paths.ssh, mode=0o700, exist_ok=True)
    host_keys = {e.name: os.path.join(paths.endpoint_dir(e.name), "ssh_host_ed25519_key") for e in endpoints}
    for endpoint in endpoints:
        os.makedirs(paths.endpoint_dir(endpoint.name), mode=0o700, exist_ok=True)
    keygen([(paths.client_key, "banwatch-lab"),
            *((host_keys[e.name], f"{e.name}@banwatch-lab") for e in endpoints)])
    write_atomic(os.path.join(paths.ssh, "authorized_keys"), (public_key(paths.client_key) + "\n").encode(), 0o600)
    lines = []
    for endpoint in endpoints:
        config = namespaced_sshd_config(endpoint) if namespaced else plain_sshd_config(endpoint, paths)
        write_atomic(paths.endpoint_file(endpoint.name, "sshd_config"), config.encode(), 0o600, durable=False)
        key_type, key_data = public_key(host_keys[endpoint.name]).split()[:2]
        lines.append(f"{endpoint.known_hosts_name} {key_type} {key_data}\n")
    write_atomic(paths.known_hosts, "".join(lines).encode(), 0o644)


def sshd_binary() -> str | None:
    return SSHD if os.access(SSHD, os.X_OK) else shutil.which("sshd")
