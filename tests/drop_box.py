"""A real OpenSSH drop box on a loopback port, as the banwatch_collector role configures one.

The same `internal-sftp` restrictions (umask 0277, only the requests the shipper needs), keys
only, no chroot (that needs root; the lab's collector has it), the login being whoever runs the
tests. Started and stopped by the test, which owns everything in its temp directory.
"""

from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from banwatch.device.report.ship import SFTP_REQUESTS
from banwatch_lab import sshfiles

SFTP_COMMAND = f"internal-sftp -u 0277 -p {','.join(SFTP_REQUESTS)}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class DropBox:
    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def incoming(self) -> Path:
        return self.folder / "incoming"

    @property
    def known_hosts(self) -> Path:
        return self.folder / "known_hosts"

    @property
    def user(self) -> str:
        return getpass.getuser()

    def start(self) -> None:
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        self.process = subprocess.Popen([sshfiles.sshd_binary() or sshfiles.SSHD, "-D", "-e", "-f",
                                         str(self.folder / "sshd_config")], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=open(self.folder / "log", "ab"))  # noqa: SIM115
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.folder / 'log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("sshd did not listen in 20 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)
        self.process = None

    def reports(self) -> list[Path]:
        return sorted(p for p in self.incoming.iterdir() if p.name.endswith(".report.json"))


def make_drop_box(folder: Path, authorized: list[str]) -> DropBox:
    """Configure (not start) an sshd that lets the given public keys (OpenSSH lines) drop reports."""
    folder.mkdir(parents=True, exist_ok=True)
    box = DropBox(folder, free_port())
    box.incoming.mkdir(mode=0o700, exist_ok=True)
    host_key = folder / "host_key"
    sshfiles.keygen([(str(host_key), "drop-box")])
    (folder / "authorized_keys").write_text("".join(f"restrict {line}\n" for line in authorized))
    os.chmod(folder / "authorized_keys", 0o600)
    key_type, key_data = sshfiles.public_key(str(host_key)).split()[:2]
    box.known_hosts.write_text(f"[127.0.0.1]:{box.port} {key_type} {key_data}\n")
    (folder / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1:{box.port}\n"
        f"HostKey {host_key}\n"
        f"PidFile {folder / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\n"
        "StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nUseDNS no\n"
        "AllowTcpForwarding no\nX11Forwarding no\nPermitTunnel no\nLogLevel VERBOSE\n"
        f"ForceCommand {SFTP_COMMAND}\n"
        "Subsystem sftp internal-sftp\n")
    return box
