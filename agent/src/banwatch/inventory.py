"""Read an Ansible YAML inventory: each host, every group it is in (parents included), its vars.

Only what the control node needs to compute per-host policies; read with the same safe,
bounded YAML loader as the policy source, with errors that name the file and the entry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from banwatch.errors import InputError
from banwatch.safe_yaml import load_yaml_file

MACHINE_ID_VAR = "banwatch_machine_id"
IMPLICIT_GROUPS = frozenset({"all", "ungrouped"})


@dataclass
class InventoryHost:
    name: str
    groups: set[str] = field(default_factory=set)
    vars: dict[str, Any] = field(default_factory=dict)

    @property
    def machine_id(self) -> str | None:
        value = self.vars.get(MACHINE_ID_VAR)
        return value if isinstance(value, str) and value else None


def load_inventory(path: str) -> dict[str, InventoryHost]:
    """Hosts by inventory name; a directory is read as its hosts.yml."""
    file = os.path.join(path, "hosts.yml") if os.path.isdir(path) else path
    doc = load_yaml_file(file)
    if not isinstance(doc.data, dict) or not doc.data:
        raise InputError.single(file, "not a YAML inventory", "start it with 'all:' and list hosts under it")
    hosts: dict[str, InventoryHost] = {}
    for name, body in doc.data.items():
        _walk_group(file, str(name), body, [], hosts)
    if not hosts:
        raise InputError.single(file, "the inventory lists no hosts", "add hosts under 'hosts:'")
    return hosts


def _walk_group(file: str, group: str, body: Any, parents: list[str], hosts: dict[str, InventoryHost]) -> None:
    if body is None:
        return
    if not isinstance(body, dict):
        raise InputError.single(file, f"group '{group}' must be a mapping", "use 'hosts:', 'children:' and 'vars:'",
                                entry=f"group '{group}'")
    unknown = set(body) - {"hosts", "children", "vars"}
    if unknown:
        raise InputError.single(file, f"unknown key(s) {', '.join(sorted(unknown))} in group '{group}'",
                                "use 'hosts:', 'children:' and 'vars:'", entry=f"group '{group}'")
    lineage = [*parents, group]
    for host_name, host_vars in (body.get("hosts") or {}).items():
        host = hosts.setdefault(str(host_name), InventoryHost(str(host_name)))
        host.groups.update(g for g in lineage if g not in IMPLICIT_GROUPS)
        if isinstance(host_vars, dict):
            host.vars.update(host_vars)
    for child, child_body in (body.get("children") or {}).items():
        _walk_group(file, str(child), child_body, lineage, hosts)
