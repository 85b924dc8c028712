"""What a lab is made of: its endpoints (names, groups, addresses), its files, its inventory."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from typing import Any

from banwatch.core import host_names
from banwatch.core.errors import InputError

ENDPOINT_PREFIX = "lab-ep-"
COLLECTOR_NAME = "lab-collector"
# The banwatch_collector role's drop box on the collector (banwatch_collector_root/incoming).
COLLECTOR_DROPBOX = "var/lib/banwatch-collector/incoming"
MAX_ENDPOINTS = 200
# Namespaced endpoints each own an address of a loopback network (127.0.1.N by default), port 22;
# 2222 when started without root, which may not bind ports below 1024 on the host's network.
DEFAULT_NETWORK = "127.0.1"
SSH_PORT, UNPRIVILEGED_SSH_PORT = 22, 2222
COLLECTOR_OCTET = 250
# The managers' API stand-ins (banwatch-lab standins) listen on <network>.240.
STANDIN_OCTET = 240
# Without namespaces: plain sshd instances on 127.0.0.1, one port each, derived from the network
# so that two labs with different networks never collide.
PLAIN_ADDRESS = "127.0.0.1"
PLAIN_BASE_PORT = 20000
_NETWORK = re.compile(r"^127\.(\d{1,3})\.(\d{1,3})$")
# The groups that exercise the example policy: an exempted group and a never-exemptable one.
GENERAL, EXEMPT_GROUP, SENSITIVE_GROUP, COLLECTORS = "general", "press_office", "classified", "collectors"
ENDPOINT_GROUPS = (GENERAL, EXEMPT_GROUP, SENSITIVE_GROUP)


@dataclass
class Endpoint:
    name: str
    address: str
    port: int
    groups: list[str]
    machine_id: str
    launcher_pid: int | None = None  # `unshare` (namespaced) or sshd itself (plain)
    launcher_started: int | None = None
    init_pid: int | None = None  # the endpoint's PID 1, as the host sees it
    init_started: int | None = None

    @property
    def known_hosts_name(self) -> str:
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"


def group_of(index: int, count: int) -> str:
    """Every sixth endpoint is classified and every sixth press office (the one before it);
    a lab of three to five endpoints still gets one of each."""
    if count < 6 <= count + 3:
        return {count: SENSITIVE_GROUP, count - 1: EXEMPT_GROUP}.get(index, GENERAL)
    return {0: SENSITIVE_GROUP, 5: EXEMPT_GROUP}.get(index % 6, GENERAL)


def network_octets(network: str) -> tuple[int, int]:
    match = _NETWORK.match(network)
    octets = (int(match.group(1)), int(match.group(2))) if match else (-1, -1)
    if not all(0 <= octet <= 255 for octet in octets) or octets == (0, 0):
        raise InputError.single("--network", f"'{network}' is not a loopback network",
                                f"write the first three parts of a 127.x.y.0 address, e.g. {DEFAULT_NETWORK}")
    return octets


def plan(count: int, *, namespaced: bool, machine_ids: list[str], network: str = DEFAULT_NETWORK,
         ssh_port: int = SSH_PORT) -> list[Endpoint]:
    """The endpoints of a lab of `count` devices plus the collector, in start order; namespaced
    ones listen on `ssh_port` of their own address."""
    if not 1 <= count <= MAX_ENDPOINTS:
        raise InputError.single("--endpoints", f"{count} endpoints asked for",
                                f"use a number from 1 to {MAX_ENDPOINTS}")
    second, third = network_octets(network)
    endpoints = []
    for index in range(1, count + 2):
        collector = index == count + 1
        octet = COLLECTOR_OCTET if collector else index
        name = COLLECTOR_NAME if collector else f"{ENDPOINT_PREFIX}{index:02d}"
        groups = [COLLECTORS] if collector else [group_of(index, count)]
        if namespaced:
            address, port = f"{network}.{octet}", ssh_port
        else:
            address, port = PLAIN_ADDRESS, PLAIN_BASE_PORT + ((second * 256 + third) * 256 + octet) % 40000
        endpoints.append(Endpoint(name, address, port, groups, machine_ids[index - 1]))
    return endpoints


class LabPaths:
    """Every file of a lab lives under its directory (default `.lab`)."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.state = os.path.join(self.root, "state.json")
        self.ssh = os.path.join(self.root, "ssh")
        self.client_key = os.path.join(self.ssh, "id_ed25519")
        self.known_hosts = os.path.join(self.root, "known_hosts")
        self.packages = os.path.join(self.root, "packages")
        # The lab's own policy signing key and the signed per-host policies built with it.
        self.policy_keys = os.path.join(self.root, "keys")
        self.policy_key = os.path.join(self.policy_keys, "banwatch-policy.key")
        self.policy_pub = os.path.join(self.policy_keys, "banwatch-policy.pub")
        self.policies = os.path.join(self.root, "policies")
        # What devices enrol (devices/<host>.pub, ssh/<host>.pub, machine-ids/<host>) and the
        # reports playbooks/collect.yml brings home.
        self.enrolled = os.path.join(self.root, "enrolled")
        self.collected = os.path.join(self.root, "collected")
        # Where `banwatch fleet` finds this lab's store, inventory, enrolled keys and drop box.
        self.fleet_config = os.path.join(self.root, "fleet.yml")
        self.endpoints = os.path.join(self.root, "endpoints")

    def endpoint_dir(self, name: str) -> str:
        """An endpoint's folder, named by its inventory name (held to the host name rule)."""
        return host_names.host_file(self.endpoints, name)

    def endpoint_file(self, name: str, file: str) -> str:
        return os.path.join(self.endpoint_dir(name), file)


def endpoint_to_dict(endpoint: Endpoint) -> dict[str, Any]:
    return asdict(endpoint)


def endpoint_from_dict(data: dict[str, Any]) -> Endpoint:
    return Endpoint(**data)


def inventory(endpoints: list[Endpoint], paths: LabPaths, *, user: str, python: str,
              policy_source: str | None) -> dict[str, Any]:
    """The Ansible inventory of a lab: host keys pinned through the lab's own known_hosts, and the
    roles pointed at the lab's signing key and policy source."""
    def hosts(group: str) -> dict[str, Any]:
        return {e.name: {"ansible_host": e.address, "ansible_port": e.port, "banwatch_machine_id": e.machine_id}
                for e in endpoints if group in e.groups}

    collector = next(e for e in endpoints if COLLECTORS in e.groups)

    return {"all": {
        "vars": {
            "ansible_user": user,
            "ansible_ssh_private_key_file": paths.client_key,
            "ansible_ssh_common_args": (f"-o UserKnownHostsFile={paths.known_hosts} "
                                        "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes"),
            "ansible_python_interpreter": python,
            # Endpoints are logged into as root (a device has sudo; the lab's endpoints need none).
            "ansible_become": False,
            "banwatch_lab_dir": paths.root,
            "banwatch_agent_trusted_keys": [paths.policy_pub],
            "banwatch_policy_signing_key": paths.policy_key,
            "banwatch_policy_build_dir": paths.policies,
            **({"banwatch_policy_source_dir": policy_source} if policy_source else {}),
            # Reporting: devices ship to the lab's collector, its host key pinned by the lab's known_hosts.
            "banwatch_agent_collector_host": collector.address,
            "banwatch_agent_collector_port": collector.port,
            "banwatch_agent_collector_known_hosts": paths.known_hosts,
            "banwatch_agent_enrol_dir": paths.enrolled,
            "banwatch_collector_enrol_dir": paths.enrolled,
            "banwatch_collect_dir": paths.collected,
        },
        "children": {
            "endpoints": {"children": {group: {"hosts": hosts(group)} for group in ENDPOINT_GROUPS
                                       if hosts(group)}},
            COLLECTORS: {"hosts": hosts(COLLECTORS)},
        },
    }}


def inventory_text(document: dict[str, Any], note: str) -> str:
    import yaml  # noqa: PLC0415 - 17 ms at import: only writing the inventory needs it, not every `fleet` view

    return f"# {note}\n" + yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
