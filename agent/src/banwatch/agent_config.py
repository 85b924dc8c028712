"""The agent's configuration (`/etc/banwatch/agent.yml`): who the device is, which keys it trusts.

```yaml
host_name: ws-fin-014.corp.example.gov   # its inventory name (default: the hostname)
trusted_keys:                            # public keys (PEM files) policies must be signed with
  - /etc/banwatch/keys/banwatch-policy.pub
policy_path: /etc/banwatch/policy.json   # the installed, signed policy
state_dir: /var/lib/banwatch             # what the agent remembers across restarts
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from banwatch import hostinfo, signing
from banwatch.errors import InputError, Problem
from banwatch.policy.checker import Checker
from banwatch.safe_yaml import load_yaml_file

DEFAULT_CONFIG = "/etc/banwatch/agent.yml"
KEYS = ("host_name", "trusted_keys", "policy_path", "state_dir")


@dataclass(frozen=True)
class AgentConfig:
    path: str
    host_name: str
    trusted_keys: dict[str, Ed25519PublicKey]
    policy_path: str
    state_dir: str


def load_config(path: str = DEFAULT_CONFIG) -> AgentConfig:
    doc = load_yaml_file(path)
    problems: list[Problem] = []
    check = Checker(doc, problems)
    fields = check.mapping(doc.data, (), None, required=("trusted_keys",), optional=KEYS)
    if fields is None:
        raise InputError(problems)
    host_name = check.text(fields, "host_name", (), None) or hostinfo.hostname()
    key_files = check.text_list(fields, "trusted_keys", (), None)
    if "trusted_keys" in fields and not key_files and not problems:
        check.add(("trusted_keys",), None, "no trusted key", "list the policy signing key's .pub file")
    policy_path = check.text(fields, "policy_path", (), None) or "/etc/banwatch/policy.json"
    state_dir = check.text(fields, "state_dir", (), None) or "/var/lib/banwatch"
    trusted: dict[str, Ed25519PublicKey] = {}
    for index, key_file in enumerate(key_files):
        full = key_file if os.path.isabs(key_file) else os.path.join(os.path.dirname(path), key_file)
        try:
            key = signing.load_public_key(full)
        except InputError as exc:
            check.add(("trusted_keys", index), None, f"trusted key {key_file}: {exc.problems[0].message}",
                      exc.problems[0].fix)
            continue
        trusted[signing.key_id(key)] = key
    if problems:
        raise InputError(problems)
    return AgentConfig(path, host_name, trusted, policy_path, state_dir)
