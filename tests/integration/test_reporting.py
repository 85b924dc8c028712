"""Reports through the lab's collector: the agent role enrols device keys, the collector role
makes a write-only drop box on the collector's real sshd, devices ship to it and OpenSSH refuses
every attempt to read, list, delete or replace another device's report; collect.yml fetches
spools where no collector is reachable."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from banwatch.core import signing
from banwatch.core.report.envelope import open_report
from tests.integration.conftest import Lab

pytestmark = pytest.mark.lab

DEVICES = ("lab-ep-01", "lab-ep-02")
AGENT = "/opt/banwatch/current/bin/banwatch-agent"
CONFIG = "/etc/banwatch/agent.yml"
DROP_LOGIN = ("-i /var/lib/banwatch/keys/ship_ed25519 -o IdentitiesOnly=yes -o BatchMode=yes "
              "-o UserKnownHostsFile=/etc/banwatch/collector_known_hosts -o StrictHostKeyChecking=yes")


@dataclass
class Reporting:
    lab: Lab
    collector_runs: dict[str, subprocess.CompletedProcess[str]]

    @property
    def collector_address(self) -> str:
        return self.lab.endpoint("lab-collector")["address"]

    def root_of(self, host: str) -> Path:
        return Path(f"/proc/{self.lab.endpoint(host)['init_pid']}/root")

    @property
    def drop_box(self) -> Path:
        return self.root_of("lab-collector") / "var/lib/banwatch-collector/incoming"

    def enrolled(self) -> dict:
        folder = self.lab.directory / "enrolled" / "devices"
        return {path.stem: signing.load_public_key(str(path)) for path in folder.glob("*.pub")}

    def run(self, host: str, command: str) -> subprocess.CompletedProcess[str]:
        return self.lab.ssh(host, command)

    def spool_a_scan(self, host: str) -> None:
        done = self.run(host, f"{AGENT} scan --spool --config {CONFIG} --format json >/dev/null; test $? -le 1")
        assert done.returncode == 0, done.stderr

    def sftp(self, host: str, command: str) -> subprocess.CompletedProcess[str]:
        """One command of OpenSSH's own sftp client, run on `host` as that device, in batch mode."""
        return self.run(host, f"echo {shlex.quote(command)} | sftp {DROP_LOGIN} -b - "
                              f"banwatch-drop@{self.collector_address}")


def changes(run: subprocess.CompletedProcess[str]) -> int:
    found = re.search(r"lab-collector\s*:.*changed=(\d+).*failed=(\d+)", run.stdout)
    assert found and found.group(2) == "0", run.stdout[-3000:]
    return int(found.group(1))


@pytest.fixture(scope="module")
def reporting(lab: Lab) -> Reporting:
    """Two devices deployed (keys made and enrolled) with their policies, then the collector role:
    check, apply, apply again."""
    deployed = lab.playbook("playbooks/deploy_agent.yml", "--limit", ",".join(DEVICES))
    assert deployed.returncode == 0, deployed.stdout[-3000:]
    pushed = lab.playbook("playbooks/push_policy.yml", "--limit", ",".join(DEVICES))  # what `scan` judges against
    assert pushed.returncode == 0, pushed.stdout[-3000:]
    runs = {"check": lab.playbook("playbooks/deploy_collector.yml", "--check", "--diff"),
            "apply": lab.playbook("playbooks/deploy_collector.yml")}
    runs["again"] = lab.playbook("playbooks/deploy_collector.yml")
    return Reporting(lab, runs)


def test_deploying_enrols_each_devices_own_keys(reporting):
    enrolled = reporting.enrolled()
    assert sorted(enrolled) == list(DEVICES)
    assert signing.key_id(enrolled["lab-ep-01"]) != signing.key_id(enrolled["lab-ep-02"])
    ssh_keys = reporting.lab.directory / "enrolled" / "ssh"
    assert sorted(p.stem for p in ssh_keys.glob("*.pub")) == list(DEVICES)


def test_the_collector_role_checks_then_applies_then_changes_nothing(reporting):
    assert changes(reporting.collector_runs["check"]) > 0
    assert "Match User banwatch-drop" in reporting.collector_runs["check"].stdout  # the diff of the drop-in
    assert changes(reporting.collector_runs["apply"]) > 0
    assert changes(reporting.collector_runs["again"]) == 0
    authorized = (reporting.root_of("lab-collector") / "etc/banwatch-collector/authorized_keys").read_text()
    assert [line.split()[0] + " " + line.split()[-1] for line in authorized.splitlines()
            if not line.startswith("#")] == [f"restrict {host}" for host in DEVICES]


def test_a_device_ships_a_signed_report_that_lands_once_and_read_only(reporting):
    reporting.spool_a_scan("lab-ep-01")
    shipped = reporting.run("lab-ep-01", f"{AGENT} ship --config {CONFIG}")
    assert shipped.returncode == 0, shipped.stderr
    result = json.loads(shipped.stdout)  # ours, and any the running agent spooled since the policy push
    assert result["sent"] >= 1 and (result["failed"], result["error"]) == (0, None)
    reports = [open_report(path.read_bytes(), reporting.enrolled()) for path in reporting.drop_box.iterdir()
               if path.name.endswith(".report.json")]
    # The running agents ship their own reports too, now that the collector is deployed.
    assert {r["host"]["name"] for r in reports} <= set(DEVICES)
    assert len([r for r in reports if r["host"]["name"] == "lab-ep-01"]) >= result["sent"]
    assert len({r["report_id"] for r in reports}) == len(reports)  # each landed once
    assert {oct(p.stat().st_mode & 0o777) for p in reporting.drop_box.iterdir()} == {"0o400"}
    assert reporting.run("lab-ep-01", "ls /var/lib/banwatch/spool/*.report.json").returncode != 0


@pytest.fixture
def anothers_report(reporting) -> Path:
    reporting.spool_a_scan("lab-ep-01")
    assert reporting.run("lab-ep-01", f"{AGENT} ship --config {CONFIG}").returncode == 0
    return max((p for p in reporting.drop_box.iterdir() if p.name.endswith(".report.json")),
               key=lambda p: p.stat().st_mtime_ns)


@pytest.mark.parametrize("command, refusal", [
    ("get /incoming/{name} /tmp/stolen", "Permission denied"),
    ("ls /incoming", "Permission denied"),
    ("rm /incoming/{name}", "Permission denied"),
    ("put /etc/hostname /incoming/{name}", "Permission denied"),  # reopen for writing
    ("chmod 600 /incoming/{name}", "Permission denied"),
    ("symlink /incoming/{name} /incoming/copy.report.json", "Permission denied"),
])
def test_a_device_cannot_touch_anothers_report(reporting, anothers_report, command, refusal):
    before = hashlib.sha256(anothers_report.read_bytes()).hexdigest()
    done = reporting.sftp("lab-ep-02", command.format(name=anothers_report.name))
    assert done.returncode != 0 and refusal in done.stdout + done.stderr, done.stdout + done.stderr
    assert hashlib.sha256(anothers_report.read_bytes()).hexdigest() == before


def test_a_device_cannot_rename_its_own_file_over_anothers(reporting, anothers_report):
    before = anothers_report.read_bytes()
    own = reporting.sftp("lab-ep-02", "put /etc/hostname /incoming/.mine.part")
    assert own.returncode == 0, own.stderr
    done = reporting.sftp("lab-ep-02", f"rename /incoming/.mine.part /incoming/{anothers_report.name}")
    assert done.returncode != 0 and "Failure" in done.stdout + done.stderr
    assert anothers_report.read_bytes() == before


PROBE = """
import sys, paramiko
client = paramiko.SSHClient()
client.load_host_keys("/etc/banwatch/collector_known_hosts")
client.set_missing_host_key_policy(paramiko.RejectPolicy())
client.connect(sys.argv[1], username="banwatch-drop", key_filename="/var/lib/banwatch/keys/ship_ed25519",
               allow_agent=False, look_for_keys=False)
sftp = client.open_sftp()
target = "/incoming/" + sys.argv[2]
def attempt(name, action):
    try:
        action()
        print(name, "allowed")
    except (IOError, paramiko.SSHException) as exc:
        print(name, "refused", exc)
attempt("read", lambda: sftp.open(target, "rb").read(10))
attempt("posix-rename", lambda: sftp.posix_rename("/incoming/.probe.part", target))
attempt("truncate", lambda: sftp.open(target, "wb").write(b"forged"))
attempt("remove", lambda: sftp.remove(target))
"""


def test_the_sftp_requests_themselves_are_refused(reporting, anothers_report):
    """Below the sftp client: the raw read, posix-rename, truncate and remove requests (paramiko)."""
    done = reporting.run("lab-ep-02", f"/opt/banwatch/current/bin/python -c {shlex.quote(PROBE)} "
                                      f"{reporting.collector_address} {anothers_report.name}")
    assert done.returncode == 0, done.stderr
    verdicts = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert {name: verdict.split()[0] for name, verdict in verdicts.items()} == {
        "read": "refused", "posix-rename": "refused", "truncate": "refused", "remove": "refused"}


def test_no_shell_and_no_forwarding(reporting):
    shell = reporting.run("lab-ep-02", f"ssh {DROP_LOGIN} -n banwatch-drop@{reporting.collector_address} id")
    assert "uid=" not in shell.stdout and "only" in shell.stdout + shell.stderr
    forward = reporting.run("lab-ep-02", f"ssh {DROP_LOGIN} -W 127.0.0.1:22 "
                                         f"banwatch-drop@{reporting.collector_address} </dev/null")
    assert forward.returncode != 0 and "administratively prohibited" in forward.stderr
    assert "SSH-2.0" not in forward.stdout


def test_a_device_that_is_not_enrolled_is_refused(reporting):
    done = reporting.run("lab-ep-03", "rm -f /tmp/stranger /tmp/stranger.pub; "
                                      "ssh-keygen -q -t ed25519 -N '' -f /tmp/stranger && "
                                      f"echo ls | sftp -i /tmp/stranger -o IdentitiesOnly=yes -o BatchMode=yes "
                                      f"-o UserKnownHostsFile={reporting.lab.directory}/known_hosts "
                                      f"-b - banwatch-drop@{reporting.collector_address}")
    assert done.returncode != 0 and "Permission denied (publickey)" in done.stderr


@pytest.fixture
def cut_off(reporting: Reporting):
    """lab-ep-02 as a device that cannot reach a collector: its agent neither ships nor adds to
    its spool meanwhile (the running one would, within a minute), and what it had spooled is
    gone first. Running again afterwards."""
    stopped = reporting.run("lab-ep-02", f"{AGENT} service stop --config {CONFIG}")
    assert stopped.returncode == 0, stopped.stderr
    flushed = reporting.run("lab-ep-02", f"{AGENT} ship --config {CONFIG}")
    assert flushed.returncode == 0, flushed.stderr
    yield
    started = reporting.run("lab-ep-02", f"{AGENT} service start --config {CONFIG}")
    assert started.returncode == 0, started.stderr


@pytest.mark.usefixtures("cut_off")
def test_collect_fetches_spools_and_removes_only_what_arrived(reporting):
    for _ in range(2):
        reporting.spool_a_scan("lab-ep-02")
    spooled = set(reporting.run("lab-ep-02", "cd /var/lib/banwatch/spool && ls *.report.json").stdout.split())
    assert len(spooled) == 2
    collected = reporting.lab.directory / "collected"
    limit = ("--limit", "lab-ep-02")
    check = reporting.lab.playbook("playbooks/collect.yml", "--check", *limit)
    assert check.returncode == 0 and all(name in check.stdout for name in spooled), check.stdout[-3000:]
    assert not collected.exists() or not list(collected.glob("*.report.json"))
    run = reporting.lab.playbook("playbooks/collect.yml", *limit)
    assert run.returncode == 0, run.stdout[-3000:]
    assert {p.name for p in collected.glob("*.report.json")} == spooled
    assert {open_report(p.read_bytes(), reporting.enrolled())["host"]["name"]
            for p in collected.glob("*.report.json")} == {"lab-ep-02"}
    assert reporting.run("lab-ep-02", "ls /var/lib/banwatch/spool/*.report.json").returncode != 0
    again = reporting.lab.playbook("playbooks/collect.yml", *limit)
    assert re.search(r"lab-ep-02\s*:.*changed=0", again.stdout), again.stdout[-2000:]
