"""What the banwatch.deploy roles need from this repository, for the inventories that tests and
benchmarks make (the lab's, which `banwatch-lab up` writes into a temp dir): the roles assume no
repository layout, so whoever owns an inventory says where the agent's source and its wheels are.
`make demo`'s lab gets the same from inventory/lab/group_vars/all.yml."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
ROLE_VARS = {
    "banwatch_agent_source_dir": str(REPO / "agent"),
    "banwatch_agent_wheel_cache": str(REPO / ".cache" / "wheels"),
    # One bundle cache for every lab built from this checkout, as for make demo's.
    "banwatch_agent_bundle_dir": str(REPO / ".cache" / "bundles"),
}


def write_group_vars(inventory: Path, extra: dict[str, object] | None = None) -> Path:
    """group_vars/all.yml beside the inventory file, which Ansible reads with it."""
    folder = inventory.parent / "group_vars"
    folder.mkdir(exist_ok=True)
    path = folder / "all.yml"
    path.write_text("# The repository's files for the roles (tests/repo_vars.py).\n"
                    + yaml.safe_dump({**ROLE_VARS, **(extra or {})}, sort_keys=False))
    return path
