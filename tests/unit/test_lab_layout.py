"""The lab's plan and bookkeeping, without starting anything."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from banwatch.core.errors import InputError
from banwatch_lab import endpoint, procs
from banwatch_lab.control import _is_lab_process, listening_sockets
from banwatch_lab.layout import LabPaths, group_of, inventory, plan


def test_groups_exercise_the_example_policy():
    assert [group_of(i, 6) for i in range(1, 7)] == ["general"] * 4 + ["press_office", "classified"]
    assert [group_of(i, 3) for i in range(1, 4)] == ["general", "press_office", "classified"]
    assert [group_of(i, 2) for i in range(1, 3)] == ["general", "general"]
    twenty = [group_of(i, 20) for i in range(1, 21)]
    assert twenty.count("classified") == 3 and twenty.count("press_office") == 3


def test_plan_addresses_and_collector():
    endpoints = plan(3, namespaced=True, machine_ids=["a", "b", "c", "d"], network="127.0.9")
    assert [(e.name, e.address, e.port) for e in endpoints] == [
        ("lab-ep-01", "127.0.9.1", 22), ("lab-ep-02", "127.0.9.2", 22), ("lab-ep-03", "127.0.9.3", 22),
        ("lab-collector", "127.0.9.250", 22)]
    rootless = plan(1, namespaced=True, machine_ids=["a", "b"], network="127.0.9", ssh_port=2222)
    assert [e.known_hosts_name for e in rootless] == ["[127.0.9.1]:2222", "[127.0.9.250]:2222"]
    plain = plan(2, namespaced=False, machine_ids=["a", "b", "c"], network="127.0.9")
    assert {e.address for e in plain} == {"127.0.0.1"} and len({e.port for e in plain}) == 3
    assert plain[0].known_hosts_name == f"[127.0.0.1]:{plain[0].port}"


@pytest.mark.parametrize("network", ["10.0.0", "127.0.1.5", "127.0.300", "127.0.0", "lab"])
def test_bad_network_is_refused(network):
    with pytest.raises(InputError, match="not a loopback network"):
        plan(2, namespaced=True, machine_ids=["a"] * 3, network=network)


@pytest.mark.parametrize("count", [0, 201])
def test_endpoint_count_is_bounded(count):
    with pytest.raises(InputError, match="endpoints asked for"):
        plan(count, namespaced=True, machine_ids=["a"] * 300)


def test_inventory_pins_host_keys(tmp_path):
    paths = LabPaths(str(tmp_path))
    document = inventory(plan(6, namespaced=True, machine_ids=["m"] * 7), paths, user="root", python="/usr/bin/python3",
                         policy_source=None)
    variables = document["all"]["vars"]
    assert f"UserKnownHostsFile={paths.known_hosts}" in variables["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=yes" in variables["ansible_ssh_common_args"]
    groups = document["all"]["children"]["endpoints"]["children"]
    assert list(groups["classified"]["hosts"]) == ["lab-ep-06"]
    assert list(document["all"]["children"]["collectors"]["hosts"]) == ["lab-collector"]


def test_lab_processes_are_recognised_by_argv(tmp_path):
    paths = LabPaths(str(tmp_path))
    spec = paths.endpoint_file("lab-ep-01", "ssh_host_ed25519_key")
    init = ["unshare", "--pid", "--", "/usr/bin/python3", "-I", "-S", endpoint.__file__, "lab-ep-01", spec]
    assert _is_lab_process(init, paths)
    assert _is_lab_process(["/usr/sbin/sshd", "-D", "-e", "-f", paths.endpoint_file("lab-ep-01", "sshd_config")], paths)
    assert not _is_lab_process(["vim", paths.endpoint_file("lab-ep-01", "sshd_config")], paths)
    assert not _is_lab_process(init, LabPaths(str(tmp_path / "other")))


def test_start_time_tells_a_process_from_its_pid_reused():
    child = subprocess.Popen(["sleep", "5"])
    started = procs.start_time(child.pid)
    assert started is not None and procs.alive(child.pid, started)
    assert not procs.alive(child.pid, started + 1)
    assert procs.stop([(child.pid, started)]) == 1
    child.wait()
    assert procs.start_time(child.pid) is None


def test_listening_sockets_reads_the_kernel_table():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert ("127.0.0.1", server.getsockname()[1]) in listening_sockets()
    assert os.path.exists("/proc/net/tcp")
