"""`banwatch-agent keys init`, the reporting keys of agent.yml, and `scan --spool`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from banwatch.core.errors import InputError
from banwatch.core.report.envelope import open_report
from banwatch.device.config import load_config
from banwatch.device.keys import init_keys
from banwatch.device.report.spool import Spool
from banwatch.device.report_key import load_report_key
from tests.device import Device, app
from tests.device_config import write_agent_config

BIN = Path(sys.executable).parent


def agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "banwatch-agent"), *args], capture_output=True, text=True, timeout=60,
                          check=False)


def test_keys_init_makes_both_keys_once(tmp_path):
    config = write_agent_config(tmp_path, keys=False)
    first = agent("keys", "init", "--config", config.path)
    assert first.returncode == 0, first.stderr
    made = json.loads(first.stdout)
    assert made["created"] == [config.device_key, config.ship_key]
    assert made["report_key"] == str(tmp_path / "state" / "keys" / "device.key")
    assert made["ship_public_key"].startswith("ssh-ed25519 ") and made["ship_public_key"].endswith(" lab-ep-01")
    for private in (config.device_key, config.ship_key):
        assert os.stat(private).st_mode & 0o777 == 0o600
    again = json.loads(agent("keys", "init", "--config", config.path).stdout)
    assert again == {**made, "created": []}


def test_a_run_cut_short_between_the_two_files_is_completed(tmp_path):
    config = write_agent_config(tmp_path)
    made = init_keys(config)
    os.unlink(made.report_pub)
    os.unlink(made.ship_pub)
    again = init_keys(config)
    assert again.created == [] and again.key_id == made.key_id and again.ship_public_key == made.ship_public_key


def test_a_public_key_without_its_private_key_is_refused(tmp_path):
    config = write_agent_config(tmp_path)
    os.unlink(config.device_key)
    done = agent("keys", "init", "--config", config.path)
    assert done.returncode == 2
    assert "device.pub: a public key without its private key" in done.stderr and "enrol" in done.stderr


def test_a_public_key_of_another_key_is_refused(tmp_path):
    config = write_agent_config(tmp_path)
    other = write_agent_config(tmp_path / "other")
    Path(config.ship_key + ".pub").write_bytes(Path(other.ship_key + ".pub").read_bytes())
    with pytest.raises(InputError, match="does not belong to the private key"):
        init_keys(config)


def test_reporting_settings_default_under_the_state_dir(tmp_path):
    config = write_agent_config(tmp_path, keys=False)
    assert config.device_key == str(tmp_path / "state" / "keys" / "device.key")
    assert config.spool.directory == str(tmp_path / "state" / "spool")
    assert (config.spool.max_reports, config.spool.max_bytes) == (1000, 64 * 1024 * 1024)
    assert config.collector is None
    config = write_agent_config(tmp_path, keys=False, collector_host="collector.example", spool_max_reports=5)
    assert config.collector is not None
    assert (config.collector.port, config.collector.user, config.collector.directory) == (22, "banwatch-drop",
                                                                                          "/incoming")
    assert config.collector.key == str(tmp_path / "state" / "keys" / "ship_ed25519")
    assert config.spool.max_reports == 5


@pytest.mark.parametrize("settings, message", [
    ({"collector_port": 2222}, "'collector_port' is set but 'collector_host' is not"),
    ({"collector_host": "c", "collector_port": 0}, "'collector_port' must be a whole number from 1 to 65535"),
    ({"collector_host": "c", "collector_dir": "incoming"}, "'incoming' is not an absolute path"),
    ({"device_key": "/var/lib/banwatch/device.pem"}, "does not end in .key"),
    ({"spool_max_bytes": 1000}, "'spool_max_bytes' must be a whole number from 1048576"),
    ({"spool_max_report": 5}, "did you mean 'spool_max_reports'"),
])
def test_bad_reporting_settings_name_the_key_and_the_fix(tmp_path, settings, message):
    write_agent_config(tmp_path, keys=False)
    path = tmp_path / "agent.yml"
    document = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**document, **settings}))
    with pytest.raises(InputError) as error:
        load_config(str(path))
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_a_scan_can_sign_and_spool_its_report(tmp_path):
    device = Device(tmp_path, host="lab-ep-01")
    device.install([app("tiktok", process_names=["TikTok"])])
    config = device.config()
    init_keys(config)
    done = agent("scan", "--spool", "--config", config.path, "--format", "json")
    assert done.returncode in (0, 1), done.stderr
    printed = json.loads(done.stdout)
    spool = Spool.for_config(config)
    [name] = spool.pending()
    spooled = open_report(spool.read(name), {"lab-ep-01": load_report_key(config).public_key()})
    assert spooled == printed | {"sequence": {"epoch": spooled["sequence"]["epoch"], "number": 1}}  # numbered
