"""The host name rule wherever a name arrives by another route than an inventory: a report's
claimed host and the drop box's file names (device data), the enrolled keys, the agent's own
configuration, the lab; and in the Ansible roles and playbooks, which carry the same pattern."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import re
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from banwatch.control.policy_source import load_policy_source
from banwatch.core import host_names, signing
from banwatch.core.errors import InputError
from banwatch.core.report.envelope import ReportRejected, open_report, seal_report
from banwatch.core.report.schema import REPORT_SCHEMA
from banwatch.device.config import load_config
from banwatch.fleet.defaults import sibling_dirs
from banwatch.fleet.enrolled import load_enrolled
from banwatch.fleet.ingest import Ingest
from banwatch.fleet.store import FleetStore
from banwatch_lab.control import install_package
from banwatch_lab.layout import LabPaths, plan
from banwatch_lab.state import LabError, LabState, load_state, save_state
from tests.conftest import EXAMPLE_POLICY, REPO
from tests.fleet_reports import Fleet

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.timezone.utc)
KEY = Ed25519PrivateKey.generate()


def a_report(host: str) -> dict:
    return {"schema": REPORT_SCHEMA, "report_id": str(uuid.uuid4()), "generated_at": "2026-11-26T10:00:00Z",
            "host": {"name": host, "groups": ["general"]}, "findings": [], "summary": {"verdict": "compliant"}}


# --- device data: a report's claimed host, the drop box's file names ------------------------------

@settings(max_examples=200)
@given(st.one_of(st.text(max_size=30), st.text(alphabet="a./", max_size=8)))
def test_a_report_opens_only_when_the_host_it_claims_is_within_the_rule(name):
    """Even with a key enrolled under that very name: the claim is never looked up, stored or joined."""
    report = a_report(name)
    try:
        opened = open_report(seal_report(report, KEY), {name: KEY.public_key()})
    except ReportRejected as exc:
        assert host_names.problem(name) is not None or not name
        assert "malformed" in str(exc) and "\n" not in str(exc)
        return
    assert host_names.problem(name) is None and opened["host"]["name"] == name


@pytest.fixture
def fleet(tmp_path) -> Fleet:
    return Fleet(tmp_path, load_policy_source(EXAMPLE_POLICY, NOW.date()), {"lab-ep-01": ["general"]})


def ingest(fleet: Fleet):
    with FleetStore(str(fleet.root / "fleet.db"), create=True) as store:
        return Ingest(store, load_enrolled(str(fleet.enrolled)), now=lambda: NOW).run(str(fleet.dropbox))


def test_a_report_claiming_a_name_outside_the_rule_is_refused_with_the_reason(fleet):
    report = fleet.report("lab-ep-01", NOW)
    report["host"]["name"] = "../../lab-ep-01"
    fleet.drop(report, signer="lab-ep-01")
    fleet.drop(fleet.report("lab-ep-01", NOW))
    result = ingest(fleet)
    assert result.new == 1
    [refused] = result.refused
    assert refused.reason == ("malformed: the report's host name '../../lab-ep-01' is not a host name banwatch "
                              "accepts (it holds '/' (a path separator))")
    assert refused.claimed_host is None
    with sqlite3.connect(fleet.root / "fleet.db") as db:
        assert db.execute("SELECT host FROM hosts").fetchall() == [("lab-ep-01",)]


def test_drop_box_files_with_names_no_file_system_or_store_could_keep_are_refused(fleet):
    """A device chooses its files' names: one as long as a name may be, one that is not UTF-8.
    Both used to stop the ingest (a refused file name over NAME_MAX; a path SQLite cannot hold)."""
    long_name = "x" * (255 - len(".report.json")) + ".report.json"
    (fleet.dropbox / long_name).write_bytes(b"junk")
    odd = os.path.join(os.fsencode(fleet.dropbox), b"\xff\n.report.json")
    with open(odd, "wb") as handle:
        handle.write(b"junk")
    fleet.drop(fleet.report("lab-ep-01", NOW))
    result = ingest(fleet)
    assert result.new == 1 and len(result.refused) == 2
    assert os.listdir(fleet.dropbox) == []
    kept = os.listdir(sibling_dirs(str(fleet.root / "fleet.db"))[0])
    assert len(kept) == 2 and all(len(name.encode()) <= 255 for name in kept)
    with sqlite3.connect(fleet.root / "fleet.db") as db:
        files = sorted(os.path.basename(f) for (f,) in db.execute("SELECT file FROM refused"))
    assert files == ["\\xff\\n.report.json", long_name]


def test_an_enrolled_key_file_not_named_for_a_host_stops_the_ingest(fleet):
    (fleet.enrolled / "lab ep 02.pub").write_bytes(signing.public_pem(KEY.public_key()))
    with pytest.raises(InputError, match=r"lab ep 02\.pub: host 'lab ep 02': not a usable host name") as raised:
        load_enrolled(str(fleet.enrolled))
    assert "Fix: remove the file, or enrol the device under its inventory name" in str(raised.value)


# --- the agent's own name ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../evil", "ws 01", "ws-01\nssh-ed25519 AAAA attacker"])
def test_the_agent_refuses_a_host_name_outside_the_rule(tmp_path, name):
    """It names the device's SSH key (a line the collector authorises) and every report's claim."""
    signing.generate(str(tmp_path / "keys"))
    config = tmp_path / "agent.yml"
    config.write_text(yaml.safe_dump({"host_name": name, "trusted_keys": [str(tmp_path / "keys" /
                                                                              "banwatch-policy.pub")]}))
    with pytest.raises(InputError, match="not a usable host name") as raised:
        load_config(str(config))
    [problem] = raised.value.problems
    assert problem.entry == f"host_name {host_names.shown(name)}" and problem.line == 1


# --- the lab ---------------------------------------------------------------------------------------

def test_every_lab_endpoint_name_is_within_the_rule():
    names = [e.name for e in plan(200, namespaced=True, machine_ids=["m"] * 201)]
    assert all(host_names.problem(name) is None for name in names)


def test_a_lab_folder_is_never_built_from_a_name_outside_the_rule(tmp_path):
    paths = LabPaths(str(tmp_path))
    assert paths.endpoint_dir("lab-ep-01") == os.path.join(paths.endpoints, "lab-ep-01")
    with pytest.raises(InputError, match="not a usable host name"):
        paths.endpoint_dir("../../etc")


def test_a_lab_state_naming_an_endpoint_outside_the_rule_is_unreadable(tmp_path):
    paths = LabPaths(str(tmp_path))
    endpoints = plan(1, namespaced=True, machine_ids=["a", "b"])
    endpoints[0].name = "../outside"
    save_state(paths, LabState("namespaces", "root", sys.executable, str(tmp_path / "hosts.yml"), endpoints))
    with pytest.raises(LabError, match=r"endpoint '\.\./outside' is not a usable host name"):
        load_state(paths)


@pytest.mark.parametrize(("name", "version"), [("tiktok\n", "1.0"), ("t" * 300, "1.0"), ("tiktok", "1.0\n"),
                                               ("tiktok", "1" * 61)])
def test_a_lab_package_name_or_version_that_would_be_no_file_name_is_refused(tmp_path, name, version):
    """They become `<name>_<version>_all.deb` in the lab's packages/ (refused before any lab is needed)."""
    with pytest.raises(InputError, match="is not a"):
        install_package(str(tmp_path), "lab-ep-01", name, version)
    assert list(tmp_path.iterdir()) == []


# --- Ansible: the same pattern everywhere, and what it refuses ------------------------------------

# The collection's action plugins (roles/ and playbooks/ link into the same collection).
ACTION_PLUGINS = REPO / "ansible_collections" / "banwatch" / "deploy" / "plugins" / "action"

def ansible_patterns() -> dict[str, str]:
    """Every copy of the rule's pattern in the roles, the playbooks and the policy install plugin."""
    found = {}
    for vars_file in sorted(REPO.glob("roles/*/vars/main.yml")):
        for key, value in yaml.safe_load(vars_file.read_text()).items():
            if key.endswith("_host_name_pattern"):
                found[f"{vars_file.relative_to(REPO)}:{key}"] = value
    [task] = yaml.safe_load((REPO / "playbooks" / "tasks" / "host_name.yml").read_text())
    found["playbooks/tasks/host_name.yml"] = task["vars"]["banwatch_host_name_pattern"]
    plugin = ACTION_PLUGINS / "banwatch_policy_install.py"
    spec = importlib.util.spec_from_file_location("banwatch_policy_install", plugin)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found[str(plugin.relative_to(REPO))] = module.HOST_NAME.pattern
    return found


def test_the_roles_playbooks_and_plugin_carry_the_pattern_of_the_rule():
    patterns = ansible_patterns()
    assert {name.split(":")[0].split("/")[1] for name in patterns if name.startswith("roles/")} == {
        "banwatch_agent", "banwatch_collector", "banwatch_policy"}
    assert patterns == dict.fromkeys(patterns, host_names.PATTERN.pattern)
    assert f"`{host_names.PATTERN.pattern}`" in (REPO / "docs" / "policy.md").read_text()


PLAYBOOK = """
- name: The playbooks' check
  hosts: endpoints
  gather_facts: false
  ignore_errors: true
  tasks:
    - name: Check
      ansible.builtin.import_tasks: {repo}/playbooks/tasks/host_name.yml
- name: The agent role's check
  hosts: endpoints
  gather_facts: false
  ignore_errors: true
  tasks:
    - name: Check
      ansible.builtin.import_role: {{name: banwatch_agent, tasks_from: assert.yml}}
- name: The collector role's check
  hosts: collectors
  gather_facts: false
  ignore_errors: true
  tasks:
    - name: Check
      ansible.builtin.import_role: {{name: banwatch_collector, tasks_from: assert.yml}}
- name: The policy install plugin's own check
  hosts: endpoints
  gather_facts: false
  ignore_errors: true
  tasks:
    - name: Install through an agent that is not there
      banwatch_policy_install: {{src: {policy}, agent: /nonexistent/banwatch-agent, config: /nonexistent/agent.yml,
                                fact: /nonexistent/banwatch.fact, release_link: /nonexistent/current}}
- name: The policy role's check, which stops the whole play
  hosts: endpoints
  gather_facts: false
  tasks:
    - name: Check
      ansible.builtin.import_role: {{name: banwatch_policy, tasks_from: assert.yml}}
    - name: Reached only when no name is refused
      ansible.builtin.debug: {{msg: built}}
"""
DEVICES = ["ws-01.corp.example.gov", "../evil", "ws ünï", "x" * 201, "a..b", "WS_02"]
HOST_NAME_TASK = "inventory name is a host name banwatch accepts"


def test_the_roles_and_playbooks_refuse_the_names_the_rule_refuses_before_anything_else(tmp_path):
    inventory, playbook, policy = tmp_path / "hosts.yml", tmp_path / "check.yml", tmp_path / "some.policy.json"
    inventory.write_text(yaml.safe_dump({"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        "children": {"endpoints": {"hosts": dict.fromkeys(DEVICES)}, "collectors": {"hosts": {"col-01": None}}}}}))
    policy.write_text("{}")
    playbook.write_text(PLAYBOOK.format(repo=REPO, policy=policy))
    env = {**os.environ, "ANSIBLE_ROLES_PATH": str(REPO / "roles"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_ACTION_PLUGINS": str(ACTION_PLUGINS)}
    done = subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory),
                           str(playbook)], capture_output=True, text=True, timeout=120, env=env, check=False)
    refused = sorted(name for name in DEVICES if host_names.problem(name) is not None)
    assert refused == sorted(["../evil", "ws ünï", "x" * 201, "a..b"])
    failures = failed_tasks(done.stdout)
    for task in ("TASK [Host name | The host's", "TASK [banwatch_agent : Assert | The device's inventory"):
        [by_host] = [hosts for header, hosts in failures.items() if header.startswith(task)]
        assert sorted(by_host) == refused, done.stdout
        assert all(f"Host {json.dumps(host, ensure_ascii=False)}" in msg for host, msg in by_host.items())
    for role in ("banwatch_collector", "banwatch_policy"):  # one task for all the devices
        [[msg]] = [hosts.values() for header, hosts in failures.items()
                   if header.startswith(f"TASK [{role} : ") and HOST_NAME_TASK in header]
        assert all(json.dumps(host, ensure_ascii=False) in msg for host in refused)
        assert "ws-01.corp.example.gov" not in msg and "WS_02" not in msg
        assert f"inventory {inventory}" in msg
    assert "No policy was built" in msg
    assert "Reached only when" not in done.stdout  # the play stopped for every host
    installs = failures["TASK [Install through an agent that is not there]"]
    assert {host for host, msg in installs.items() if "cannot be a banwatch host name" in msg} == set(refused)
    assert all("not installed" in installs[host] for host in DEVICES if host not in refused)


def failed_tasks(output: str) -> dict[str, dict[str, str]]:
    """The failure message per host of each task (by its header line), from Ansible's output."""
    failures: dict[str, dict[str, str]] = {}
    task = ""
    for line in output.splitlines():
        if line.startswith("TASK ["):
            task = line.rstrip("*").strip()
        elif match := re.match(r"^fatal: \[(.*)\]: FAILED! => (\{.*\})$", line):
            failures.setdefault(task, {})[match.group(1)] = json.loads(match.group(2))["msg"]
    return failures
