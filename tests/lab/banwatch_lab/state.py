"""The running lab's state file: what `lab up` started, read by every command that acts on it.

Kept apart from `control` (which starts and stops endpoints) so that a quick command such as
`banwatch fleet status`, which only asks where the lab's files are, loads none of that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from banwatch.core import host_names
from banwatch.core.atomic import write_atomic
from banwatch.core.errors import InputError
from banwatch_lab import procs
from banwatch_lab.layout import Endpoint, LabPaths, endpoint_from_dict, endpoint_to_dict

STATE_SCHEMA = 1
# Namespaced as root; namespaced inside a user namespace (started without root); no namespaces.
NAMESPACES, USER_NAMESPACES, PLAIN = "namespaces", "user-namespaces", "plain"
ISOLATED = (NAMESPACES, USER_NAMESPACES)


class LabError(Exception):
    """The lab cannot do what was asked, for a reason outside the user's input."""


class LabUnsupported(LabError):
    """This machine or user cannot run the isolated lab at all: said before anything starts."""


@dataclass
class LabState:
    mode: str
    user: str
    python: str
    inventory: str
    endpoints: list[Endpoint] = field(default_factory=list)
    # (pid, start time) of what `lab run` started in plain mode, where no namespace ends it.
    spawned: list[tuple[int, int | None]] = field(default_factory=list)

    def endpoint(self, name: str) -> Endpoint:
        for endpoint in self.endpoints:
            if endpoint.name == name:
                return endpoint
        raise InputError.single("HOST", f"no endpoint named '{name}' in this lab",
                                f"use one of: {', '.join(e.name for e in self.endpoints)}")

    def running(self) -> list[Endpoint]:
        return [e for e in self.endpoints if procs.alive(*_main_process(e))]


def _main_process(endpoint: Endpoint) -> tuple[int | None, int | None]:
    """The process whose life is the endpoint's: its init (namespaced) or its sshd (plain)."""
    if endpoint.init_pid is not None:
        return endpoint.init_pid, endpoint.init_started
    return endpoint.launcher_pid, endpoint.launcher_started


def load_state(paths: LabPaths) -> LabState | None:
    try:
        with open(paths.state, encoding="utf-8") as handle:
            data = json.load(handle)
        if data.get("schema") != STATE_SCHEMA:
            raise ValueError(f"schema {data.get('schema')!r}, expected {STATE_SCHEMA}")
        state = LabState(data["mode"], data["user"], data["python"], data["inventory"],
                         [endpoint_from_dict(e) for e in data["endpoints"]],
                         [(pid, started) for pid, started in data.get("spawned", [])])
        for endpoint in state.endpoints:  # each becomes a folder, an inventory host and an SSH key's name
            if (why := host_names.problem(endpoint.name)) is not None:
                raise ValueError(f"endpoint {host_names.shown(endpoint.name)} is not a usable host name: {why}")
        return state
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LabError(f"{paths.state}: unreadable lab state ({exc}); "
                       "run 'banwatch-lab down' to stop what it started and clean up") from None


def save_state(paths: LabPaths, state: LabState) -> None:
    document = {"schema": STATE_SCHEMA, "mode": state.mode, "user": state.user, "python": state.python,
                "inventory": state.inventory, "endpoints": [endpoint_to_dict(e) for e in state.endpoints],
                "spawned": state.spawned}
    write_atomic(paths.state, json.dumps(document, indent=2).encode(), 0o600)


def endpoint_root(state: LabState, endpoint: Endpoint) -> str:
    """The endpoint's filesystem as the host can read it (its init's root)."""
    return f"/proc/{endpoint.init_pid}/root" if state.mode in ISOLATED else "/"
