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
# Reporting (all optional; see docs/reporting.md):
device_key: /var/lib/banwatch/keys/device.key   # signs every report (`banwatch-agent keys init` makes it)
spool_dir: /var/lib/banwatch/spool       # signed reports waiting to be shipped
spool_max_reports: 1000                  # when either bound is passed, the oldest reports are dropped
spool_max_bytes: 67108864                #   (and the next report says how many)
collector_host: collector.corp.example.gov   # no collector_host: reports stay spooled (playbooks/collect.yml)
collector_port: 22
collector_user: banwatch-drop
collector_known_hosts: /etc/banwatch/collector_known_hosts   # the collector's pinned host key
collector_key: /var/lib/banwatch/keys/ship_ed25519           # the SSH key this device logs in with
collector_dir: /incoming                 # the drop box, as the collector's chroot shows it
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
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from banwatch.core import host_names, signing
from banwatch.core.checker import Checker
from banwatch.core.errors import InputError, Problem
from banwatch.core.safe_yaml import load_yaml_file
from banwatch.device import identity

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
SPOOL_KEYS = ("device_key", "spool_dir", "spool_max_reports", "spool_max_bytes")
COLLECTOR_KEYS = ("collector_host", "collector_port", "collector_user", "collector_known_hosts", "collector_key",
                  "collector_dir")
# Keys that name files or folders: a NUL byte in one would be a ValueError, not an OSError, wherever it is opened.
PATH_KEYS = ("trusted_keys", "policy_path", "state_dir", "run_dir", "log_file", "device_key", "spool_dir",
             "collector_known_hosts", "collector_key", "collector_dir")
DEFAULT_SCAN_INTERVAL = 600
# About a week of reports at the default scan interval (1,000 reports, one per 10 minutes), with room in bytes
# for reports many times their usual size.
DEFAULT_SPOOL_MAX_REPORTS = 1000
DEFAULT_SPOOL_MAX_BYTES = 64 * 1024 * 1024
MIN_SPOOL_BYTES = 1024 * 1024  # one report of the largest size the collector accepts
DEFAULT_COLLECTOR_USER = "banwatch-drop"
DEFAULT_COLLECTOR_DIR = "/incoming"
# What `log_level` accepts (the agent log's levels, agent_log.py, which a config check never loads).
LOG_LEVELS = ("debug", "info", "warning", "error")
DEFAULT_COLLECTOR_KNOWN_HOSTS = "/etc/banwatch/collector_known_hosts"
SHIP_KEY_NAME = "ship_ed25519"  # the device's SSH login key for the collector (OpenSSH format)


@dataclass(frozen=True)
class SpoolSettings:
    """Where signed reports wait for the shipper, and how much may wait ("" = under the state dir)."""

    directory: str = ""
    max_reports: int = DEFAULT_SPOOL_MAX_REPORTS
    max_bytes: int = DEFAULT_SPOOL_MAX_BYTES


@dataclass(frozen=True)
class CollectorSettings:
    """The SFTP drop box reports are shipped to, its host key pinned in `known_hosts`."""

    host: str
    port: int
    user: str
    known_hosts: str
    key: str
    directory: str


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
    device_key: str = ""  # "" = <state_dir>/keys/device.key
    spool: SpoolSettings = field(default_factory=SpoolSettings)
    collector: CollectorSettings | None = None  # None: reports stay spooled until collect.yml fetches them
    mode: str = "monitor"
    detection: str = "auto"
    log_level: str = "info"
    poll_interval: int = SERVICE_NUMBERS["poll_interval"][0]
    kill_grace: int = SERVICE_NUMBERS["kill_grace"][0]
    package_check_interval: int = SERVICE_NUMBERS["package_check_interval"][0]
    report_delay: int = SERVICE_NUMBERS["report_delay"][0]
    cpu_limit_percent: int = SERVICE_NUMBERS["cpu_limit_percent"][0]
    memory_limit_mb: int = SERVICE_NUMBERS["memory_limit_mb"][0]


    def __post_init__(self) -> None:
        if not self.device_key:
            object.__setattr__(self, "device_key", os.path.join(self.keys_dir, "device.key"))
        if not self.spool.directory:
            object.__setattr__(self, "spool", SpoolSettings(os.path.join(self.state_dir, "spool"),
                                                            self.spool.max_reports, self.spool.max_bytes))

    @property
    def keys_dir(self) -> str:
        """The device's own keys (report signing, SSH login to the collector)."""
        return os.path.join(self.state_dir, "keys")

    @property
    def ship_key(self) -> str:
        return self.collector.key if self.collector else os.path.join(self.keys_dir, SHIP_KEY_NAME)


def load_config(path: str = DEFAULT_CONFIG) -> AgentConfig:
    doc = load_yaml_file(path)
    problems: list[Problem] = []
    check = Checker(doc, problems)
    fields = check.mapping(doc.data, (), None, required=("trusted_keys",), optional=KEYS + SPOOL_KEYS + COLLECTOR_KEYS)
    if fields is None:
        raise InputError(problems)
    host_name = check.text(fields, "host_name", (), None) or identity.hostname()
    why = host_names.problem(host_name)  # it names the device's SSH key and is what every report claims
    if why is not None:
        check.add(("host_name",), f"host_name {host_names.shown(host_name)}", f"not a usable host name: {why}",
                  f"set 'host_name:' to the device's inventory name: {host_names.RULE}")
    _refuse_nul_paths(check, fields)
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
        "log_level": check.choice(fields, "log_level", (), None, LOG_LEVELS) or "info",
    }
    for key, (default, low, high) in SERVICE_NUMBERS.items():
        value = check.whole_number(fields, key, (), None, low=low, high=high)
        service[key] = default if value is None else value
    trusted: dict[str, Ed25519PublicKey] = {}
    for index, key_file in enumerate(key_files):
        if "\0" in key_file:
            continue  # refused above
        full = key_file if os.path.isabs(key_file) else os.path.join(os.path.dirname(path), key_file)
        try:
            key = signing.load_public_key(full)
        except InputError as exc:
            check.add(("trusted_keys", index), None, f"trusted key {key_file}: {exc.problems[0].message}",
                      exc.problems[0].fix)
            continue
        trusted[signing.key_id(key)] = key
    device_key = check.text(fields, "device_key", (), None) or ""  # "": the default under state_dir
    if device_key and not device_key.endswith(".key"):
        check.add(("device_key",), None, f"'{device_key}' does not end in .key",
                  "name the private key <name>.key; its public key <name>.pub is kept beside it")
    spool = SpoolSettings(
        check.text(fields, "spool_dir", (), None) or "",
        check.whole_number(fields, "spool_max_reports", (), None, low=1, high=1_000_000) or DEFAULT_SPOOL_MAX_REPORTS,
        check.whole_number(fields, "spool_max_bytes", (), None, low=MIN_SPOOL_BYTES, high=1 << 40)
        or DEFAULT_SPOOL_MAX_BYTES)
    collector = _collector(check, fields, os.path.join(state_dir, "keys", SHIP_KEY_NAME))
    if problems:
        raise InputError(problems)
    return AgentConfig(os.path.abspath(path), host_name, trusted, policy_path, state_dir,
                       scan_interval or DEFAULT_SCAN_INTERVAL, run_dir, log_file, device_key, spool, collector,
                       **service)


def _refuse_nul_paths(check: Checker, fields: dict[str, Any]) -> None:
    """A problem for each path key holding a NUL byte: refused here, not a traceback when opened."""
    for key in PATH_KEYS:
        value = fields.get(key)
        if any(isinstance(item, str) and "\0" in item for item in (value if isinstance(value, list) else [value])):
            check.add((key,), None, f"'{key}' holds a NUL byte, which no path can hold", "remove it from the path")


def _collector(check: Checker, fields: dict[str, Any], default_key: str) -> CollectorSettings | None:
    """The collector, when `collector_host` is set; other collector keys without it are a mistake."""
    host = check.text(fields, "collector_host", (), None)
    if host is None:
        stray = [key for key in COLLECTOR_KEYS if key in fields and key != "collector_host"]
        if stray and "collector_host" not in fields:
            check.add((stray[0],), None, f"'{stray[0]}' is set but 'collector_host' is not",
                      "add 'collector_host:' (the collector's address), or remove the collector keys")
        return None
    directory = check.text(fields, "collector_dir", (), None) or DEFAULT_COLLECTOR_DIR
    if not directory.startswith("/"):
        check.add(("collector_dir",), None, f"'{directory}' is not an absolute path",
                  f"write the drop box as the collector's chroot shows it, e.g. {DEFAULT_COLLECTOR_DIR}")
    return CollectorSettings(
        host,
        check.whole_number(fields, "collector_port", (), None, low=1, high=65535) or 22,
        check.text(fields, "collector_user", (), None) or DEFAULT_COLLECTOR_USER,
        check.text(fields, "collector_known_hosts", (), None) or DEFAULT_COLLECTOR_KNOWN_HOSTS,
        check.text(fields, "collector_key", (), None) or default_key,
        directory.rstrip("/") or "/")
