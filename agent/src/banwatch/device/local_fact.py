"""The Ansible local fact a device carries about banwatch: `/etc/ansible/facts.d/banwatch.fact`.

`ansible_local.banwatch` then tells an operator (or a playbook) which agent release runs, which
policy is installed, and when either last changed, without asking the agent. The agent writes
it itself, in the same process that installs a policy or after a release switch, so it never
disagrees with the device; content depends only on the device's state, so an unchanged device
keeps a byte-identical file (Ansible runs stay idempotent).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

from banwatch import __version__
from banwatch.core.atomic import write_atomic
from banwatch.core.timestamps import isoformat

DEFAULT_FACT_FILE = "/etc/ansible/facts.d/banwatch.fact"
DEFAULT_RELEASE_LINK = "/opt/banwatch/current"


def fact_document(policy_state: dict[str, Any], release_link: str) -> dict[str, Any]:
    """What the fact says: the release `release_link` points at and the installed policy."""
    try:
        activated = isoformat(dt.datetime.fromtimestamp(os.lstat(release_link).st_mtime, dt.timezone.utc))
        release: str | None = os.path.realpath(release_link)
    except OSError:
        activated, release = None, None
    installed_at = policy_state.get("installed_at")
    return {
        "agent_version": __version__,
        "agent_release": release,
        "agent_activated_at": activated,
        "policy_version": policy_state.get("highest_version"),
        "policy_digest": policy_state.get("installed_digest"),
        "policy_installed_at": installed_at,
        "last_change": max(filter(None, (activated, installed_at)), default=None),
    }


def write_fact(path: str, document: dict[str, Any]) -> bool:
    """Rewrite the fact file when its content differs; True when it did."""
    data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
    try:
        with open(path, "rb") as handle:
            if handle.read() == data:
                return False
    except OSError:
        pass
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    write_atomic(path, data, 0o644)
    return True
