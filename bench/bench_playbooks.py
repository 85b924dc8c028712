"""The Ansible side on 20 lab endpoints: pushing a new policy version, and a whole site.yml.

Floor: the same signed policy file copied to the same 20 endpoints with plain `ssh` (one fresh
connection each, host keys pinned, all 20 at once: the playbooks' parallelism, forks=25).
Measured: `push_policy.yml` after the ban list changed (build and sign 20 policies, install each
through the agent, which verifies it), with cold SSH connections like the floor's. Target: at
most 4x the floor. Also printed: `site.yml` on 20 fresh endpoints and its re-run (no change).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.common import verdict
from tests.repo_vars import write_group_vars

ENDPOINTS = 20
NETWORK = "127.0.4"
REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PUSHES = 5


def playbook(name: str, inventory: Path, policy: Path, control: Path) -> float:
    """Seconds for one run; its SSH connections start cold (a fresh ControlPersist directory)."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control)}
    shutil.rmtree(control, ignore_errors=True)
    started = time.perf_counter()
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(REPO / "playbooks" / name),
                             "-e", f"banwatch_policy_source_dir={policy}"], capture_output=True, text=True,
                            env=env, cwd=REPO, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or "failed=0" not in result.stdout:
        raise RuntimeError(f"{name} failed:\n{result.stdout[-3000:]}")
    return elapsed


def plain_ssh_copy(lab: Path, hosts: dict[str, dict[str, object]], file: Path) -> float:
    """Seconds to copy `file` to every host with plain ssh, all at once."""
    started = time.perf_counter()
    copies = []
    for spec in hosts.values():
        with open(file, "rb") as source:
            copies.append(subprocess.Popen(
                ["ssh", "-i", str(lab / "ssh" / "id_ed25519"), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                 "-o", f"UserKnownHostsFile={lab / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
                 "-o", "ControlMaster=no", "-o", "ControlPath=none", "-p", str(spec["ansible_port"]),
                 f"root@{spec['ansible_host']}", "cat > /var/lib/banwatch/floor.policy.json"],
                stdin=source, stdout=subprocess.DEVNULL))
    if any(copy.wait() != 0 for copy in copies):
        raise RuntimeError("a plain ssh copy failed")
    return time.perf_counter() - started


def change_ban_list(policy: Path, round_number: int) -> None:
    """A real change every push must carry: the ban list's reason for one app is amended."""
    banlist = policy / "banlist.yml"
    document = yaml.safe_load(banlist.read_text())
    document["apps"][-1]["reason"] = f"Under review (benchmark amendment {round_number})."
    banlist.write_text(yaml.safe_dump(document, sort_keys=False))


def lab_hosts(inventory: Path) -> dict[str, dict[str, object]]:
    groups = yaml.safe_load(inventory.read_text())["all"]["children"]["endpoints"]["children"]
    return {name: spec for group in groups.values() for name, spec in group["hosts"].items()}


def main() -> list[str]:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return ["playbooks: skipped (needs root for namespaced lab endpoints)"]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        lab, inventory, policy, control = folder / "lab", folder / "hosts.yml", folder / "policy", folder / "cp"
        shutil.copytree(REPO / "inventory" / "example" / "policy", policy)
        subprocess.run([str(BIN / "banwatch-lab"), "up", "--dir", str(lab), "--endpoints", str(ENDPOINTS),
                        "--network", NETWORK, "--inventory", str(inventory)], check=True, capture_output=True)
        write_group_vars(inventory)
        try:
            site = playbook("site.yml", inventory, policy, control)
            site_again = playbook("site.yml", inventory, policy, control)
            # Push and floor take turns, so a noisy moment on the machine weighs on both alike.
            sample = next((lab / "policies").glob("*.policy.json"))
            pushes, floors = [], []
            for round_number in range(PUSHES):
                change_ban_list(policy, round_number)
                pushes.append(playbook("push_policy.yml", inventory, policy, control))
                floors.append(plain_ssh_copy(lab, lab_hosts(inventory), sample))
            floor = min(floors)
        finally:
            subprocess.run([str(BIN / "banwatch-lab"), "down", "--dir", str(lab)], capture_output=True, check=False)
    push = min(pushes)
    ratio = push / floor
    return [
        f"push a new policy version to {ENDPOINTS} endpoints: {push:.2f} s vs floor (plain ssh copy, same "
        f"parallelism) {floor:.2f} s = {ratio:.2f}x (target <= 4x) {verdict(ratio, 4)}",
        f"site.yml on {ENDPOINTS} fresh endpoints: {site:.1f} s; re-run (nothing to change): {site_again:.1f} s",
    ]


if __name__ == "__main__":
    print("\n".join(main()))
