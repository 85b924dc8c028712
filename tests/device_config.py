"""A device's agent.yml and keys in a temp directory, for the spool, key and shipper tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from banwatch.core import signing
from banwatch.device.config import AgentConfig, load_config
from banwatch.device.keys import init_keys


def write_agent_config(folder: Path, *, keys: bool = True, **settings: Any) -> AgentConfig:
    """agent.yml under `folder` (state in folder/state), with the device's keys made unless `keys=False`."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "policy-keys" / "banwatch-policy.pub").exists():
        signing.generate(str(folder / "policy-keys"))
    document = {"host_name": "lab-ep-01", "trusted_keys": [str(folder / "policy-keys" / "banwatch-policy.pub")],
                "state_dir": str(folder / "state"), **settings}
    path = folder / "agent.yml"
    path.write_text(yaml.safe_dump(document))
    config = load_config(str(path))
    if keys:
        init_keys(config)
    return config
