"""`banwatch-lab up` for 20 endpoints and `banwatch-lab down`, against starting one bare sshd.

Floor: one `sshd -D` with a prepared config and host key, from exec until it listens.
Measured: `banwatch-lab up --endpoints 20` from a fresh directory (keys, configs,
namespaces, overlays, sshd, readiness of all 21 hosts), then `banwatch-lab down`. Targets: up under
10 s, and at most 3x the floor per endpoint.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from banwatch_lab.control import listening_sockets
from bench.common import verdict

ENDPOINTS = 20
NETWORK = "127.0.8"
FLOOR_ADDRESS = "127.0.7.1"
BIN = Path(sys.executable).parent


def bare_sshd_start(folder: Path) -> float:
    """Seconds from exec until it listens, for one sshd with everything prepared (the lab's
    readiness test too)."""
    key = folder / "host_key"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    config = folder / "sshd_config"
    config.write_text(f"ListenAddress {FLOOR_ADDRESS}:22\nHostKey {key}\nPidFile {folder}/sshd.pid\nUsePAM no\n")
    os.makedirs("/run/sshd", exist_ok=True)
    started = time.perf_counter()
    sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)], stderr=subprocess.DEVNULL)
    try:
        while (FLOOR_ADDRESS, 22) not in listening_sockets():
            time.sleep(0.001)
        return time.perf_counter() - started
    finally:
        sshd.terminate()
        sshd.wait()


def timed(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([str(BIN / "banwatch-lab"), *args], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> list[str]:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return ["lab: skipped (needs root for namespaced endpoints)"]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        floor = min(bare_sshd_start(folder) for _ in range(5))
        ups, downs = [], []
        for attempt in range(3):
            lab = folder / f"lab{attempt}"
            ups.append(timed("up", "--dir", str(lab), "--endpoints", str(ENDPOINTS), "--network", NETWORK,
                             "--inventory", str(folder / "hosts.yml")))
            downs.append(timed("down", "--dir", str(lab)))
    up, down = min(ups), min(downs)
    per_endpoint = up / ENDPOINTS
    ratio = per_endpoint / floor
    return [
        f"lab up ({ENDPOINTS} endpoints + collector): {up:.2f} s (target < 10 s) {verdict(up, 10)}",
        f"per endpoint: {per_endpoint * 1000:.1f} ms vs floor (one bare sshd) {floor * 1000:.1f} ms "
        f"= {ratio:.2f}x (target <= 3x) {verdict(ratio, 3)}",
        f"lab down: {down:.2f} s",
    ]


if __name__ == "__main__":
    print("\n".join(main()))
