"""Read an Ansible inventory: each host, every group it is in (parents included), its vars.

Only what the control node needs to compute per-host policies and show the fleet. Two forms:
a YAML inventory (`hosts.yml`), read with the same safe, bounded YAML loader as the policy
source; and the JSON `ansible-inventory -i SOURCE --list` prints (a `.json` file), which is any
inventory Ansible reads (INI, YAML, dynamic plugins) and the form a large fleet's takes: YAML
for 100,000 hosts is over a megabyte and takes seconds to parse, JSON a twentieth of a second.
Errors name the file and the entry. Every host name is held to `host_names`' rule here, once, so
whatever reads an inventory gets only names that are safe as file names, keys and lines.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from banwatch.core import host_names, strict_json
from banwatch.core.errors import InputError, Problem
from banwatch.core.input_file import read_input_file
from banwatch.core.safe_yaml import Document, load_yaml_file

MACHINE_ID_VAR = "banwatch_machine_id"
IMPLICIT_GROUPS = frozenset({"all", "ungrouped"})
# A listed inventory of a million hosts with their vars stays well under this.
MAX_LISTED_BYTES = 512 * 1024 * 1024
_LISTED_FIX = "write it again with: ansible-inventory -i SOURCE --list --output FILE.json"
# The depth `_YamlWalk` records for a var the host itself sets.
_OWN = -1
# Past this many bad host names, the rest are counted, not listed.
MAX_NAME_PROBLEMS = 10


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
    """Hosts by inventory name; a directory is read as its hosts.yml, a `.json` file as what
    `ansible-inventory --list` prints."""
    file = os.path.join(path, "hosts.yml") if os.path.isdir(path) else path
    if file.endswith(".json"):
        return _load_listed(file)
    doc = load_yaml_file(file, too_large_fix=f"give a large fleet's inventory as JSON: {_LISTED_FIX}")
    if not isinstance(doc.data, dict) or not doc.data:
        raise InputError.single(file, "not a YAML inventory", "start it with 'all:' and list hosts under it")
    walk = _YamlWalk(doc)
    for name, body in doc.data.items():
        walk.group(str(name), body, (name,), [])
    if not walk.hosts and not walk.bad_names:
        raise InputError.single(file, "the inventory lists no hosts", "add hosts under 'hosts:'")
    _refuse_bad_names(doc.file, walk.hosts, list(walk.bad_names.values()))
    return walk.hosts


@dataclass
class _YamlWalk:
    """A YAML inventory's hosts, gathered group by group. A host whose name is outside the rule
    goes to `bad_names` (with the line of its first mention), not to `hosts`. Group `vars:` reach
    the hosts below them as Ansible applies them: a host's own vars win, then the deepest group's."""

    doc: Document
    hosts: dict[str, InventoryHost] = field(default_factory=dict)
    bad_names: dict[str, Problem] = field(default_factory=dict)
    # Per host, the depth each var was set at (-1: by the host itself), so deeper groups win.
    depths: dict[str, dict[str, int]] = field(default_factory=dict)

    def group(self, group: str, body: Any, path: tuple[Any, ...], parents: list[str],
              inherited: tuple[dict[str, Any], ...] = ()) -> None:
        """Adds the hosts of `group` (at `path` in the file) and of its children; `inherited` are
        the vars of its ancestors, outermost first."""
        file = self.doc.file
        if body is None:
            return
        if not isinstance(body, dict):
            raise InputError.single(file, f"group '{group}' must be a mapping",
                                    "use 'hosts:', 'children:' and 'vars:'", entry=f"group '{group}'")
        unknown = set(body) - {"hosts", "children", "vars"}
        if unknown:
            raise InputError.single(file, f"unknown key(s) {', '.join(sorted(unknown))} in group '{group}'",
                                    "use 'hosts:', 'children:' and 'vars:'", entry=f"group '{group}'")
        for key in ("hosts", "children", "vars"):
            if not isinstance(body.get(key) or {}, dict):
                raise InputError.single(file, f"'{key}' is not a mapping",
                                        f"list the {key} as keys under '{key}:', each ending in ':'",
                                        self.doc.line((*path, key)), entry=f"group '{group}'")
        lineage = [*parents, group]
        levels = (*inherited, body.get("vars") or {})
        for host_name, host_vars in (body.get("hosts") or {}).items():
            if host_name not in self.hosts:
                bad = host_names.name_problem(host_name, file, line=self.doc.line((*path, "hosts", host_name)))
                if bad is not None:
                    self.bad_names.setdefault(host_name, bad)
                    continue
            host = self.hosts.setdefault(host_name, InventoryHost(host_name))
            host.groups.update(g for g in lineage if g not in IMPLICIT_GROUPS)
            self._set_vars(host, host_vars if isinstance(host_vars, dict) else {}, levels)
        for child, child_body in (body.get("children") or {}).items():
            self.group(str(child), child_body, (*path, "children", child), lineage, levels)

    def _set_vars(self, host: InventoryHost, own: dict[str, Any], levels: tuple[dict[str, Any], ...]) -> None:
        """A host's own vars always win (the later mention over the earlier); a group's var wins
        over one from a shallower group."""
        depths = self.depths.setdefault(host.name, {})
        for depth, values in enumerate(levels):
            for key, value in values.items():
                held = depths.get(key)
                if held is None or (held != _OWN and depth >= held):
                    host.vars[key] = value
                    depths[key] = depth
        for key, value in own.items():
            host.vars[key] = value
            depths[key] = _OWN


def _refuse_bad_names(file: str, hosts: Collection[str], bad_names: list[Problem]) -> None:
    """InputError, one line per host, when a name was outside the rule or two of `hosts` differ
    only in case (DNS, and a case-insensitive file system, take those for one device: one policy
    file would replace the other)."""
    problems = list(bad_names)
    if len({name.lower() for name in hosts}) < len(hosts):  # the one pass a 100,000-host listing pays
        first_spelling: dict[str, str] = {}
        for name in hosts:
            other = first_spelling.setdefault(name.lower(), name)
            if other != name:
                problems.append(Problem(file, None, f"host {host_names.shown(name)}",
                                        f"the same name as host {host_names.shown(other)} but for case",
                                        "give each device one name, spelt one way"))
    if len(problems) > MAX_NAME_PROBLEMS:
        more = len(problems) - MAX_NAME_PROBLEMS
        problems[MAX_NAME_PROBLEMS:] = [Problem(file, None, None, f"{more} more host names like these",
                                                host_names.FIX)]
    if problems:
        raise InputError(problems)


def _load_listed(file: str) -> dict[str, InventoryHost]:
    """`ansible-inventory --list` output: each group's `hosts` and `children` as lists of names
    (from `all` down), and every host's vars, its groups' merged in, under `_meta.hostvars`."""
    listed = _read_listed(file)
    meta = listed.get("_meta", {})
    hostvars = meta.get("hostvars", {}) if isinstance(meta, dict) else None
    if not isinstance(hostvars, dict):
        raise InputError.single(file, "'_meta.hostvars' is not a mapping", _LISTED_FIX, entry="_meta")
    member_of: dict[str, set[str]] = {}
    _walk_listed(file, listed, "all", (), member_of)
    if not member_of:
        raise InputError.single(file, "the inventory lists no hosts", "list hosts in the inventory source")
    _refuse_bad_names(file, member_of, host_names.problems(member_of, file))
    hosts = {}
    for name, groups in member_of.items():
        host_vars = hostvars.get(name, {})
        if not isinstance(host_vars, dict):
            raise InputError.single(file, f"the vars of host '{name}' are not a mapping", _LISTED_FIX,
                                    entry=f"_meta.hostvars.{name}")
        hosts[name] = InventoryHost(name, groups, host_vars)
    return hosts


def _read_listed(file: str) -> dict[str, Any]:
    raw = read_input_file(file, MAX_LISTED_BYTES, "list fewer hosts in one file")
    try:
        listed = strict_json.loads(raw)
    except ValueError as exc:  # also not UTF-8, nested too deeply, or a lone surrogate
        raise InputError.single(file, str(exc), _LISTED_FIX) from None
    if not isinstance(listed, dict) or not isinstance(listed.get("all"), dict):
        raise InputError.single(file, "not what 'ansible-inventory --list' prints (no group 'all')", _LISTED_FIX)
    return listed


def _walk_listed(file: str, listed: dict[str, Any], group: str, parents: tuple[str, ...],
                 member_of: dict[str, set[str]]) -> None:
    """Adds `group` and its parents to the groups of each host in it, and so on down its children."""
    body = listed.get(group, {})  # a group with neither hosts nor children may be left out
    if not isinstance(body, dict) or not all(_names(body.get(key, [])) for key in ("hosts", "children")):
        raise InputError.single(file, f"group '{group}' is not a mapping of 'hosts' and 'children' name lists",
                                _LISTED_FIX, entry=group)
    if group in parents:
        raise InputError.single(file, f"group '{group}' is its own ancestor", "correct the inventory source",
                                entry=group)
    lineage = (*parents, group)
    groups = {g for g in lineage if g not in IMPLICIT_GROUPS}
    for name in body.get("hosts", ()):
        member_of.setdefault(name, set()).update(groups)
    for child in body.get("children", ()):
        _walk_listed(file, listed, child, lineage, member_of)


def _names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(name, str) for name in value)
