"""Agent-level tests: the real agent loop against real processes on this machine.

Exec events come only to root in the initial PID namespace (not inside lab endpoints), so
these tests need root and skip cleanly otherwise. Every banned program carries a random tag,
so the agent never touches anyone else's processes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from banwatch.device.sources.exec_events import unavailable_reason
from tests.device import Device, unique_tag


def needs_exec_events() -> None:
    if os.geteuid() != 0:
        pytest.skip("exec events need root (CAP_NET_ADMIN)")
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def device(tmp_path: Path) -> Device:
    return Device(tmp_path)


@pytest.fixture
def tag() -> str:
    return unique_tag()
