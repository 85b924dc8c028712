"""Managed devices read from both inventory forms, group vars applied as Ansible applies them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from banwatch.control.ansible_inventory import load_inventory
from banwatch.control.managed.inventory import ENROLMENTS, managed_devices
from banwatch.core.errors import InputError
from tests.conftest import REPO

EXAMPLE = REPO / "inventory" / "example" / "hosts.yml"
ANSIBLE_INVENTORY = Path(sys.executable).with_name("ansible-inventory")


def devices_of(path: Path) -> dict[str, tuple[str, str, str, str | None, frozenset[str]]]:
    return {d.name: (d.manager, d.device_id, d.enrolment, d.android_enterprise, frozenset(d.host.groups))
            for d in managed_devices(load_inventory(str(path)), str(path))}


def test_the_yaml_reader_and_ansibles_listing_agree_on_every_managed_device(tmp_path):
    listing = tmp_path / "inventory.json"
    subprocess.run([str(ANSIBLE_INVENTORY), "-i", str(EXAMPLE), "--list", "--output", str(listing)], check=True,
                   capture_output=True, timeout=120)
    from_yaml = devices_of(EXAMPLE)
    assert from_yaml == devices_of(listing)
    assert from_yaml["and-press-02.mobile.example.gov"] == (
        "android_management", "c07b5e2d9a13f468", "work_profile", "LC02my9vtl",
        frozenset({"managed", "android_phones", "press_office"}))
    assert from_yaml["lt-sec-09.corp.example.gov"][2] == "windows_corporate"  # the group's, not the host's
    assert from_yaml["mac-press-03.corp.example.gov"][2] == "corporate"  # Santa's one kind, by default


def test_a_hosts_own_vars_win_over_its_groups_and_a_deeper_group_over_a_shallower(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  vars: {banwatch_managed_by: santa, colour: red}\n  children:\n    phones:\n"
        "      vars: {banwatch_managed_by: apple_mdm, banwatch_managed_enrolment: supervised}\n"
        "      hosts:\n        p1: {banwatch_managed_device_id: d1}\n"
        "        p2: {banwatch_managed_device_id: d2, banwatch_managed_enrolment: user_enrolled}\n")
    hosts = load_inventory(str(inventory))
    assert hosts["p1"].vars == {"banwatch_managed_by": "apple_mdm", "banwatch_managed_enrolment": "supervised",
                                "banwatch_managed_device_id": "d1", "colour": "red"}
    assert hosts["p2"].vars["banwatch_managed_enrolment"] == "user_enrolled"
    listing = tmp_path / "hosts.json"
    subprocess.run([str(ANSIBLE_INVENTORY), "-i", str(inventory), "--list", "--output", str(listing)], check=True,
                   capture_output=True, timeout=120)
    assert {name: host.vars for name, host in load_inventory(str(listing)).items()} == \
        {name: host.vars for name, host in hosts.items()}


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=6)
var_names = st.sampled_from(["banwatch_managed_by", "banwatch_managed_device_id", "banwatch_managed_enrolment",
                             "banwatch_android_enterprise", "other"])
var_maps = st.one_of(values, st.dictionaries(var_names, st.one_of(values, st.sampled_from(
    ["santa", "intune", "apple_mdm", "android_management", "supervised", "d-1", "LC01"])), max_size=5))


@settings(max_examples=200)
@given(group_vars=var_maps, host_vars=var_maps, host_name=st.one_of(st.just("h1.example.gov"), st.text(max_size=10)))
def test_a_hostile_yaml_inventory_gives_devices_or_a_clear_error(tmp_path_factory, group_vars, host_vars, host_name):
    file = tmp_path_factory.mktemp("inv") / "hosts.yml"
    file.write_text(yaml.safe_dump({"all": {"children": {"managed": {"vars": group_vars,
                                                                     "hosts": {host_name: host_vars}}}}}))
    try:
        devices = managed_devices(load_inventory(str(file)), str(file))
    except InputError as exc:
        assert exc.problems and all(p.file == str(file) and p.fix for p in exc.problems)
    else:
        assert all(isinstance(d.device_id, str) and d.manager in ENROLMENTS for d in devices)
