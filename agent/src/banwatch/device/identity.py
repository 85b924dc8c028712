"""This device's identity: hostname, machine id, operating system."""

from __future__ import annotations

import os
import platform
import socket

from banwatch.core.policy.verify import MACHINE_ID_FILES


def hostname() -> str:
    return socket.gethostname()


def machine_id(root: str = "/") -> str | None:
    """The systemd/D-Bus machine id: stable for the life of an installation."""
    for relative in MACHINE_ID_FILES:
        try:
            with open(os.path.join(root, relative), encoding="ascii") as handle:
                value = handle.read(64).strip()
        except (OSError, UnicodeDecodeError):
            continue
        if value:
            return value
    return None


def os_description() -> dict[str, str]:
    return {"system": platform.system(), "release": platform.release(), "machine": platform.machine()}
