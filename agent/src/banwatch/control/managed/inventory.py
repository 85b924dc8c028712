"""Managed devices in the Ansible inventory: the host variables that say which manager reaches
a host, under which device id, and how it is enrolled.

A managed device is a host like any other (its groups carry exemptions and never-exempt rules
unchanged); these variables only say that the agent does not run on it and who enforces there.
Every value is held to a rule here, so a manager's id never becomes a path or a key unchecked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from banwatch.control.ansible_inventory import InventoryHost
from banwatch.core.errors import InputError, Problem

MANAGED_BY_VAR = "banwatch_managed_by"
DEVICE_ID_VAR = "banwatch_managed_device_id"
ENROLMENT_VAR = "banwatch_managed_enrolment"
ANDROID_ENTERPRISE_VAR = "banwatch_android_enterprise"

ANDROID = "android_management"
APPLE = "apple_mdm"
INTUNE = "intune"
SANTA = "santa"
# Each manager and the kinds of enrolment it has, in the order docs and coverage list them.
ENROLMENTS: dict[str, tuple[str, ...]] = {
    ANDROID: ("fully_managed", "work_profile", "personally_owned"),
    APPLE: ("supervised", "unsupervised", "user_enrolled"),
    INTUNE: ("ios_supervised", "ios_unsupervised", "ios_user_enrolled", "windows_corporate", "windows_personal"),
    SANTA: ("corporate",),
}
MANAGERS = tuple(ENROLMENTS)
# A manager's device id: a UUID, a UDID, a serial number or an API resource id.
_DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_ENTERPRISE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Past this many problems, the rest are counted.
MAX_PROBLEMS = 10


@dataclass(frozen=True)
class ManagedDevice:
    """One host a manager reaches: `host` as the inventory names it, its groups, and the manager's own view."""

    host: InventoryHost
    manager: str
    device_id: str
    enrolment: str
    android_enterprise: str | None = None

    @property
    def name(self) -> str:
        return self.host.name


def is_managed(host: InventoryHost) -> bool:
    """True when a manager, not the agent, enforces on `host` (it gets no signed agent policy)."""
    return MANAGED_BY_VAR in host.vars


def managed_devices(hosts: dict[str, InventoryHost], file: str) -> list[ManagedDevice]:
    """Every managed host of an inventory, sorted by name; InputError naming `file`, each host and
    the fix when a variable is missing or wrong (and nothing then)."""
    devices: list[ManagedDevice] = []
    problems: list[Problem] = []
    for name in sorted(hosts):
        host = hosts[name]
        if not is_managed(host):
            continue
        device, problem = _read_device(host, file)
        if problem is not None:
            problems.append(problem)
        elif device is not None:
            devices.append(device)
    if len(problems) > MAX_PROBLEMS:
        more = len(problems) - MAX_PROBLEMS
        problems[MAX_PROBLEMS:] = [Problem(file, None, None, f"{more} more managed hosts like these",
                                           "see docs/managed.md for the variables")]
    if problems:
        raise InputError(problems)
    return devices


def _read_device(host: InventoryHost, file: str) -> tuple[ManagedDevice | None, Problem | None]:
    entry = f"host {host.name}"

    def problem(message: str, fix: str) -> tuple[None, Problem]:
        return None, Problem(file, None, entry, message, fix)

    manager = host.vars.get(MANAGED_BY_VAR)
    if not isinstance(manager, str) or manager not in ENROLMENTS:
        return problem(f"{MANAGED_BY_VAR} is {_shown(manager)}, not a manager banwatch exports to",
                       f"set {MANAGED_BY_VAR} to one of {', '.join(MANAGERS)}")
    device_id = host.vars.get(DEVICE_ID_VAR)
    if device_id is None:
        return problem(f"a host managed by {manager} has no {DEVICE_ID_VAR}",
                       f"set {DEVICE_ID_VAR} to the device's id at {manager}")
    if not isinstance(device_id, str) or not _DEVICE_ID.match(device_id):
        return problem(f"{DEVICE_ID_VAR} {_shown(device_id)} is not a device id",
                       "give the manager's id as text: letters, digits, '.', '_', ':' and '-', at most 128")
    kinds = ENROLMENTS[manager]
    enrolment = host.vars.get(ENROLMENT_VAR, kinds[0] if len(kinds) == 1 else None)
    if not isinstance(enrolment, str) or enrolment not in kinds:
        return problem(f"{ENROLMENT_VAR} is {_shown(enrolment)}, not an enrolment {manager} has",
                       f"set {ENROLMENT_VAR} to one of {', '.join(kinds)}")
    enterprise = host.vars.get(ANDROID_ENTERPRISE_VAR)
    if manager == ANDROID and (not isinstance(enterprise, str) or not _ENTERPRISE_ID.match(enterprise)):
        return problem(f"{ANDROID_ENTERPRISE_VAR} is {_shown(enterprise)}, not an Android enterprise id",
                       f"set {ANDROID_ENTERPRISE_VAR} to the id in enterprises/{{id}} (e.g. in group_vars)")
    return ManagedDevice(host, manager, device_id, enrolment, enterprise if manager == ANDROID else None), None


def _shown(value: Any) -> str:
    """A hostile value, short and on one line."""
    if value is None:
        return "missing"
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"
