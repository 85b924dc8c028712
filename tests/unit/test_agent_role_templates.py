"""The role's agent.yml and hardened unit, rendered with the role's defaults: the agent accepts
the configuration, and systemd accepts the unit (`systemd-analyze verify`, where installed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
import yaml

from banwatch.core import signing
from banwatch.device.config import load_config
from tests.conftest import REPO

ROLE = REPO / "roles" / "banwatch_agent"


def render(template: str, **variables: object) -> str:
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)  # noqa: S701 - not HTML
    environment.filters.update(to_json=json.dumps, basename=os.path.basename, int=int)
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    values = {**defaults, "ansible_managed": "managed by the banwatch_agent role", **variables}
    return environment.from_string((ROLE / "templates" / template).read_text()).render(values)


def test_rendered_agent_yml_is_valid_and_carries_the_service_defaults(tmp_path: Path) -> None:
    signing.generate(str(tmp_path / "keys"))
    text = render("agent.yml.j2", banwatch_agent_host_name="ws-01", banwatch_agent_trusted_keys=["banwatch-policy.pub"],
                  banwatch_agent_config_dir=str(tmp_path), banwatch_agent_state_dir=str(tmp_path / "state"),
                  __banwatch_agent_keys_dir=str(tmp_path / "keys"))
    (tmp_path / "agent.yml").write_text(text)
    config = load_config(str(tmp_path / "agent.yml"))
    assert (config.mode, config.detection, config.poll_interval, config.kill_grace) == ("monitor", "auto", 5, 3)
    assert (config.log_level, config.cpu_limit_percent, config.memory_limit_mb) == ("info", 10, 200)


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_hardened_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "banwatch-agent"
    unit = tmp_path / "banwatch-agent.service"
    unit.write_text(render("banwatch-agent.service.j2", __banwatch_agent_command=str(command),
                           __banwatch_agent_config_file="/etc/banwatch/agent.yml"))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False)
    problems = [line for line in result.stderr.splitlines() if "banwatch-agent.service" in line]
    assert result.returncode == 0 and not problems, result.stderr
    text = unit.read_text()
    for setting in ("ProtectSystem=strict", "NoNewPrivileges=yes", "ExecReload=/bin/kill -HUP $MAINPID",
                    "CapabilityBoundingSet=CAP_KILL", "ReadWritePaths=/var/lib/banwatch /etc/banwatch"):
        assert setting in text
