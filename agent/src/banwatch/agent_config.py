"""The agent's configuration (`/etc/banwatch/agent.yml`): who the device is, which keys it trusts.

```yaml
host_name: ws-fin-014.corp.example.gov   # its inventory name (default: the hostname)
trusted_keys:                            # public keys (PEM files) policies must be signed with
  - /etc/banwatch/keys/banwatch-policy.pub
policy_path: /etc/banwatch/policy.json   # the installed, signed policy
state_dir: /var/lib/banwatch             # what the agent remembers across restarts
scan_interval: 600                       # seconds between full scans (a new policy is scanned at once)
run_dir: /run/banwatch                   # the supervised service's pid file
log_file: /var/log/banwatch/agent.log    # where the supervised service writes its log
# The service (all optional; docs/agent.md):
mode: monitor                # monitor (report only) or enforce (apply each app's kill/quarantine)
detection: auto              # auto (exec events where the kernel sends them, else polling) or polling
poll_interval: 5             # seconds between process polls when polling
kill_grace: 3                # seconds from SIGTERM to SIGKILL
package_check_interval: 30   # seconds between checks of the package databases for changes
report_delay: 5              # seconds detections are gathered into one report before it leaves
log_level: info              # debug, info, warning or error (JSON lines on stderr)
cpu_limit_percent: 10        # the agent's own CPU share (of one core) before it backs off
memory_limit_mb: 200         # the agent's own resident memory before it sheds caches, then restarts
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from banwatch import hostinfo, signing
from banwatch.agent_log import LEVELS
from banwatch.errors import InputError, Problem
from banwatch.policy.checker import Checker
from banwatch.safe_yaml import load_yaml_file

DEFAULT_CONFIG = "/etc/banwatch/agent.yml"
MODES = ("monitor", "enforce")
DETECTIONS = ("auto", "polling")
# Service settings: key → (default, lowest, highest). Whole numbers, so a YAML typo is caught.
SERVICE_NUMBERS = {
    "poll_interval": (5, 1, 3600),
    "kill_grace": (3, 1, 60),
    "package_check_interval": (30, 5, 3600),
    "report_delay": (5, 0, 300),
    "cpu_limit_percent": (10, 1, 100),
    "memory_limit_mb": (200, 64, 4096),  # the agent itself needs about 40 MB
}
KEYS = ("host_name", "trusted_keys", "policy_path", "state_dir", "scan_interval", "run_dir", "log_file",
        "mode", "detection", "log_level", *SERVICE_NUMBERS)
DEFAULT_SCAN_INTERVAL = 600


@dataclass(frozen=True)
class AgentConfig:
    path: str
    host_name: str
    trusted_keys: dict[str, Ed25519PublicKey]
    policy_path: str
    state_dir: str
    scan_interval: int = DEFAULT_SCAN_INTERVAL
    run_dir: str = "/run/banwatch"
    log_file: str = "/var/log/banwatch/agent.log"
    mode: str = "monitor"
    detection: str = "auto"
    log_level: str = "info"
    poll_interval: int = SERVICE_NUMBERS["poll_interval"][0]
    kill_grace: int = SERVICE_NUMBERS["kill_grace"][0]
    package_check_interval: int = SERVICE_NUMBERS["package_check_interval"][0]
    report_delay: int = SERVICE_NUMBERS["report_delay"][0]
    cpu_limit_percent: int = SERVICE_NUMBERS["cpu_limit_percent"][0]
    memory_limit_mb: int = SERVICE_NUMBERS["memory_limit_mb"][0]


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
    scan_interval = check.whole_number(fields, "scan_interval", (), None, low=5, high=86400)
    run_dir = check.text(fields, "run_dir", (), None) or "/run/banwatch"
    log_file = check.text(fields, "log_file", (), None) or "/var/log/banwatch/agent.log"
    service: dict[str, Any] = {
        "mode": check.choice(fields, "mode", (), None, MODES) or "monitor",
        "detection": check.choice(fields, "detection", (), None, DETECTIONS) or "auto",
        "log_level": check.choice(fields, "log_level", (), None, LEVELS) or "info",
    }
    for key, (default, low, high) in SERVICE_NUMBERS.items():
        value = check.whole_number(fields, key, (), None, low=low, high=high)
        service[key] = default if value is None else value
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
    return AgentConfig(os.path.abspath(path), host_name, trusted, policy_path, state_dir,
                       scan_interval or DEFAULT_SCAN_INTERVAL, run_dir, log_file, **service)
