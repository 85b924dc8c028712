"""The role's agent.yml and hardened unit, rendered with the role's defaults and the names its
vars/main.yml derives from them: the agent accepts the configuration, systemd accepts the unit
(`systemd-analyze verify`, where installed), and every device path follows the role's variables."""

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

ROLE = REPO / "ansible_collections" / "banwatch" / "deploy" / "roles" / "banwatch_agent"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)  # noqa: S701 - not HTML
    env.filters.update(to_json=json.dumps, basename=os.path.basename, int=int)
    return env


def role_values(**variables: object) -> dict[str, object]:
    """The role's defaults, the given variables over them, then the names vars/main.yml derives from
    them (the ones a run's results or facts do not feed), resolved as Ansible would."""
    env = environment()
    values = {**yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()),
              "ansible_managed": "managed by the banwatch_agent role", **variables}
    derived = {name: text for name, text in yaml.safe_load((ROLE / "vars" / "main.yml").read_text()).items()
               if name not in variables}
    for _ in range(len(derived)):  # each round resolves the names whose inputs are known
        for name, text in derived.items():
            try:
                values[name] = env.from_string(text).render(values)
            except jinja2.TemplateError:  # a filter of Ansible's, or an input only a run has
                continue
    return values


def render(template: str, **variables: object) -> str:
    return environment().from_string((ROLE / "templates" / template).read_text()).render(role_values(**variables))


def test_rendered_agent_yml_is_valid_and_carries_the_service_defaults(tmp_path: Path) -> None:
    signing.generate(str(tmp_path / "keys"))
    text = render("agent.yml.j2", banwatch_agent_host_name="ws-01", banwatch_agent_trusted_keys=["banwatch-policy.pub"],
                  banwatch_agent_config_dir=str(tmp_path), banwatch_agent_state_dir=str(tmp_path / "state"))
    (tmp_path / "agent.yml").write_text(text)
    config = load_config(str(tmp_path / "agent.yml"))
    assert (config.mode, config.detection, config.poll_interval, config.kill_grace) == ("monitor", "auto", 5, 3)
    assert (config.log_level, config.cpu_limit_percent, config.memory_limit_mb) == ("info", 10, 200)


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_hardened_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "banwatch-agent"
    unit = tmp_path / "banwatch-agent.service"
    unit.write_text(render("banwatch-agent.service.j2", __banwatch_agent_command=str(command)))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False)
    problems = [line for line in result.stderr.splitlines() if "banwatch-agent.service" in line]
    assert result.returncode == 0 and not problems, result.stderr
    text = unit.read_text()
    for setting in ("ProtectSystem=strict", "NoNewPrivileges=yes", "ExecReload=/bin/kill -HUP $MAINPID",
                    "CapabilityBoundingSet=CAP_KILL", "ReadWritePaths=/var/lib/banwatch /etc/banwatch"):
        assert setting in text


def test_every_device_path_follows_the_roles_directory_variables() -> None:
    """Nothing in agent.yml or the unit is a device path of its own: moved directories move everything."""
    moved = {"banwatch_agent_base_dir": "/srv/bw/opt", "banwatch_agent_config_dir": "/srv/bw/etc",
             "banwatch_agent_state_dir": "/srv/bw/state", "banwatch_agent_run_dir": "/srv/bw/run",
             "banwatch_agent_log_dir": "/srv/bw/log"}
    config = yaml.safe_load(render("agent.yml.j2", banwatch_agent_trusted_keys=["banwatch-policy.pub"],
                                   banwatch_agent_collector_host="collector.example", **moved))
    assert {key: config[key] for key in ("trusted_keys", "policy_path", "state_dir", "run_dir", "log_file",
                                         "device_key", "spool_dir", "collector_known_hosts")} == {
        "trusted_keys": ["/srv/bw/etc/keys/banwatch-policy.pub"], "policy_path": "/srv/bw/etc/policy.json",
        "state_dir": "/srv/bw/state", "run_dir": "/srv/bw/run", "log_file": "/srv/bw/log/agent.log",
        "device_key": "/srv/bw/state/keys/device.key", "spool_dir": "/srv/bw/state/spool",
        "collector_known_hosts": "/srv/bw/etc/collector_known_hosts"}
    unit = render("banwatch-agent.service.j2", **moved)
    assert "ExecStart=/srv/bw/opt/current/bin/banwatch-agent run --config /srv/bw/etc/agent.yml" in unit
    assert "ReadWritePaths=/srv/bw/state /srv/bw/etc" in unit
    assert "/opt/banwatch" not in unit and "/etc/banwatch" not in unit
