"""Managed devices read from both inventory forms, group vars applied as Ansible applies them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from banwatch.control.ansible_inventory import load_inventory
from banwatch.control.managed.inventory import managed_devices
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
