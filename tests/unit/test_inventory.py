"""Inventories in both forms: YAML, and the JSON `ansible-inventory --list` prints of any source."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from banwatch.control.ansible_inventory import load_inventory
from banwatch.core.errors import InputError
from tests.conftest import REPO

EXAMPLE = REPO / "inventory" / "example" / "hosts.yml"
ANSIBLE_INVENTORY = Path(sys.executable).with_name("ansible-inventory")


def listed(source: Path, target: Path) -> Path:
    """What Ansible itself makes of an inventory source, as the admin would export it."""
    subprocess.run([str(ANSIBLE_INVENTORY), "-i", str(source), "--list", "--output", str(target)], check=True,
                   capture_output=True, timeout=120)
    return target


def test_ansible_inventorys_listing_gives_the_hosts_and_groups_of_the_yaml_inventory(tmp_path):
    from_yaml = load_inventory(str(EXAMPLE))
    from_json = load_inventory(str(listed(EXAMPLE, tmp_path / "inventory.json")))
    assert {name: host.groups for name, host in from_json.items()} == \
        {name: host.groups for name, host in from_yaml.items()}
    press = from_json["ws-press-01.corp.example.gov"]
    assert press.groups == {"endpoints", "workstations", "press_office"}
    assert press.vars["ansible_user"] == "banwatch-admin"  # group_vars/, merged in by Ansible


def test_an_ini_inventory_works_through_its_listing(tmp_path):
    ini = tmp_path / "hosts.ini"
    ini.write_text("[general]\nws-1 banwatch_machine_id=abc\n[classified]\nsec-1\n"
                   "[endpoints:children]\ngeneral\nclassified\n[collectors]\ncol-1\n")
    hosts = load_inventory(str(listed(ini, tmp_path / "hosts.json")))
    assert {name: host.groups for name, host in hosts.items()} == {
        "ws-1": {"general", "endpoints"}, "sec-1": {"classified", "endpoints"}, "col-1": {"collectors"}}
    assert hosts["ws-1"].machine_id == "abc"


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not JSON"),
    ('["all"]', "no group 'all'"),
    ('{"all": {"children": ["general"]}, "general": {"hosts": "ws-1"}}', "group 'general' is not a mapping"),
    ('{"all": {"children": ["a"]}, "a": {"children": ["b"]}, "b": {"children": ["a"]}}', "'a' is its own ancestor"),
    ('{"all": {"hosts": ["ws-1"]}, "_meta": {"hostvars": {"ws-1": []}}}', "vars of host 'ws-1' are not a mapping"),
    ('{"all": {"children": ["ungrouped"]}}', "lists no hosts"),
])
def test_a_broken_listing_is_a_clear_error(tmp_path, content, message):
    broken = tmp_path / "inventory.json"
    broken.write_text(content)
    with pytest.raises(InputError, match=message) as raised:
        load_inventory(str(broken))
    assert str(broken) in str(raised.value)


def test_a_listing_of_100000_hosts_is_read(tmp_path):
    """Past what a YAML inventory may hold (a megabyte), which is where the JSON form is for."""
    names = [f"ws-{index:06d}.corp.example.gov" for index in range(100_000)]
    big = tmp_path / "inventory.json"
    big.write_text(json.dumps({"_meta": {"hostvars": {}}, "all": {"children": ["endpoints"]},
                               "endpoints": {"children": ["general"]}, "general": {"hosts": names}}))
    hosts = load_inventory(str(big))
    assert len(hosts) == 100_000 and hosts[names[-1]].groups == {"endpoints", "general"}


def test_a_yaml_inventory_too_large_to_read_points_at_the_json_form(tmp_path):
    big = tmp_path / "hosts.yml"
    big.write_text("all:\n  hosts:\n" + "".join(f"    ws-{index:06d}.corp.example.gov:\n" for index in range(40_000)))
    with pytest.raises(InputError, match=r"ansible-inventory -i SOURCE --list --output FILE\.json"):
        load_inventory(str(big))
