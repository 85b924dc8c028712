"""`banwatch fleet …` end to end without a lab: a demo fleet's sealed reports in a drop box,
ingested and shown by the real command line, with its exit codes and formats."""

from __future__ import annotations

import csv
import datetime as dt
import gc
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from banwatch.cli import main
from banwatch.control.policy_source import load_policy_source
from banwatch.core.render import spreadsheet_cell
from banwatch.fleet.defaults import fleet_defaults
from tests.conftest import EXAMPLE_POLICY, example_documents
from tests.fleet_reports import DEMO_STATES, Fleet, demo_fleet


def banwatch(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "banwatch.cli", "fleet", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def demo(tmp_path, write_policy):
    """The demo fleet in tmp_path, its register's dates moved so they mean the same every day."""
    today = dt.datetime.now(dt.timezone.utc).date()
    banlist, register = example_documents()
    for exemption, days in zip(register["exemptions"], (270, 10, -30)):
        exemption["approved_on"] = (today - dt.timedelta(days=60)).isoformat()
        exemption["expires"] = (today + dt.timedelta(days=days)).isoformat()
    policy = write_policy(banlist, register)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    fleet = demo_fleet(tmp_path, load_policy_source(policy, today), now)
    (tmp_path / "hosts.yml").write_text(fleet.inventory_text())
    return tmp_path, str(policy)


def test_ingest_then_every_view(demo):
    root, policy = demo
    ingest = banwatch(root, "ingest", "--from", "dropbox", "--enrolled", "enrolled")
    assert ingest.returncode == 0, ingest.stderr
    assert ingest.stdout.startswith("9 new report(s) stored, 0 copy(ies) of stored reports, 0 refused")
    assert os.path.isfile(root / "fleet.db")

    table = banwatch(root, "status", "--inventory", "hosts.yml")
    assert table.returncode == 1, table.stderr  # hosts in violation
    lines = table.stdout.splitlines()
    assert lines[0].split()[:2] == ["HOST", "STATE"]
    assert {line.split()[0]: line.split()[1] for line in lines[2:11]} == DEMO_STATES
    assert "9 hosts: 3 violation, 2 error, 1 stale, 1 unreported, 1 exempt, 1 compliant" in table.stdout

    rows = json.loads(banwatch(root, "status", "--inventory", "hosts.yml", "--format", "json").stdout)
    assert {row["host"]: row["state"] for row in rows} == DEMO_STATES
    assert next(r for r in rows if r["host"] == "lab-ep-05")["findings"] == [
        "tiktok exempt EX-2026-014 (pid 4242 TikTok)"]

    spreadsheet = list(csv.DictReader(io.StringIO(banwatch(root, "status", "--format", "csv").stdout)))
    assert {row["host"]: row["state"] for row in spreadsheet} == {
        h: s for h, s in DEMO_STATES.items() if s != "unreported"}

    view = json.loads(banwatch(root, "exemptions", "--policy", policy, "--inventory", "hosts.yml",
                               "--format", "json").stdout)
    covers = {e["id"]: (e["status"], [(h["host"], h["cover"]) for h in e["hosts"]]) for e in view["exemptions"]}
    assert covers == {"EX-2026-014": ("active", [("lab-ep-05", "applied")]),
                      "EX-2026-022": ("expiring", [("ws-intel-03.corp.example.gov", "pending")]),
                      "EX-2025-031": ("expired", [("ws-events-11.corp.example.gov", "expired")])}
    assert sorted(u["host"] for u in view["present_without_cover"]) == ["lab-ep-01", "lab-ep-03", "lab-ep-06"]
    exemptions_table = banwatch(root, "exemptions", "--policy", policy, "--inventory", "hosts.yml")
    assert exemptions_table.returncode == 0 and "Exempted apps present without cover:" in exemptions_table.stdout

    done = banwatch(root, "rollout", "--policy-version", "7")
    assert done.returncode == 0 and "8 of 8 hosts have policy version 7" in done.stdout
    pending = banwatch(root, "rollout", "--policy-version", "8", "--inventory", "hosts.yml")
    assert pending.returncode == 1
    assert "0 of 9 hosts have policy version 8; 7 not yet, 1 rejected, 1 unreported" in pending.stdout

    page = banwatch(root, "report", "--html", "fleet.html", "--policy", policy, "--inventory", "hosts.yml")
    assert page.returncode == 0, page.stderr
    assert "EX-2026-014" in (root / "fleet.html").read_text()


def test_a_refused_file_makes_ingest_exit_1_and_is_listed(demo):
    root, _ = demo
    (root / "dropbox" / "junk.report.json").write_text("{}")
    ingest = banwatch(root, "ingest", "--from", "dropbox", "--enrolled", "enrolled")
    assert ingest.returncode == 1
    assert "dropbox/junk.report.json: malformed: not a signed banwatch report" in ingest.stderr
    status = banwatch(root, "status")
    assert "1 report file(s) refused, kept in " in status.stdout


@pytest.mark.parametrize("args, message", [
    (("status",), "fleet.db: no fleet store here"),
    (("ingest", "--enrolled", "enrolled"), "--from: no drop box given and no fleet configuration is in use"),
    (("ingest", "--from", "dropbox", "--enrolled", "nowhere"), "nowhere: no directory of enrolled device keys"),
    (("status", "--inventory", "missing.yml"), "missing.yml: file not found"),
    (("status", "--inventory", "hosts.yml", "--stale-after", "0"), "--stale-after: 0 hours"),
    (("exemptions", "--inventory", "hosts.yml"), "--policy: no policy source given"),
])
def test_bad_input_is_exit_2_with_the_fix(demo, args, message):
    root, _ = demo
    result = banwatch(root, *args)
    assert result.returncode == 2
    assert message in result.stderr and "Fix:" in result.stderr and "Traceback" not in result.stderr


def test_a_broken_inventory_listing_is_exit_2_and_changes_nothing(demo):
    root, _ = demo
    assert banwatch(root, "ingest", "--from", "dropbox", "--enrolled", "enrolled").returncode == 0
    before = (root / "fleet.db").read_bytes()
    (root / "inventory.json").write_text('{"all": {"children": ["general"]}, "general": {"hosts": "ws-1"}}')
    result = banwatch(root, "status", "--inventory", "inventory.json")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "inventory.json: general: group 'general' is not a mapping" in result.stderr
    assert "Fix: write it again with: ansible-inventory" in result.stderr
    assert (root / "fleet.db").read_bytes() == before


def test_a_corrupt_store_is_a_clear_error(demo):
    root, _ = demo
    assert banwatch(root, "ingest", "--from", "dropbox", "--enrolled", "enrolled").returncode == 0
    (root / "fleet.db").write_bytes(b"garbage" * 1000)
    result = banwatch(root, "status")
    assert result.returncode == 2 and "not a usable fleet store" in result.stderr


def test_an_inventory_without_a_store_shows_every_host_unreported(demo):
    root, _ = demo
    rows = json.loads(banwatch(root, "status", "--inventory", "hosts.yml", "--format", "json").stdout)
    assert {row["state"] for row in rows} == {"unreported"} and len(rows) == 9


def test_a_fleet_configuration_names_the_store_and_inputs(demo, monkeypatch):
    """Paths in it are relative to its own folder; the environment names it, or --config."""
    root, policy = demo
    config = root / "site" / "fleet.yml"
    config.parent.mkdir()
    config.write_text(f"store: ../fleet.db\ninventory: ../hosts.yml\nenrolled: ../enrolled\ndropbox: ../dropbox\n"
                      f"policy: {policy}\n")
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("BANWATCH_FLEET_CONFIG", str(config))
    assert banwatch(elsewhere, "ingest").returncode == 0
    monkeypatch.delenv("BANWATCH_FLEET_CONFIG")
    rows = json.loads(banwatch(elsewhere, "status", "--config", str(config), "--format", "json").stdout)
    assert {row["host"]: row["state"] for row in rows} == DEMO_STATES  # the inventory's never-heard-of host too
    assert banwatch(elsewhere, "exemptions", "--config", str(config)).returncode in (0, 1)
    defaults = fleet_defaults(str(config))
    assert defaults.store == str(root / "site" / ".." / "fleet.db") and defaults.config == str(config)


@pytest.mark.parametrize("text, message", [
    ("- store\n", "expected a mapping"),
    ("store: [a, b]\n", "'store'"),
    ("stor: fleet.db\n", "stor"),
])
def test_a_bad_fleet_configuration_is_exit_2_naming_the_file(tmp_path, text, message):
    config = tmp_path / "fleet.yml"
    config.write_text(text)
    result = banwatch(tmp_path, "status", "--config", str(config))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert str(config) in result.stderr and message in result.stderr and "Fix:" in result.stderr
    assert not (tmp_path / "fleet.db").exists()


def test_a_lab_folder_in_the_working_directory_changes_nothing(tmp_path):
    """The product's defaults never come from the lab: only from a configuration someone named."""
    (tmp_path / ".lab").mkdir()
    (tmp_path / ".lab" / "fleet.yml").write_text("store: lab.db\n")
    (tmp_path / ".lab" / "state.json").write_text("{}")
    assert fleet_defaults().store == "fleet.db" and fleet_defaults().config is None
    result = banwatch(tmp_path, "ingest", "--enrolled", "enrolled")
    assert result.returncode == 2 and "no fleet configuration is in use" in result.stderr

def test_only_the_inventorys_devices_count(demo):
    root, _ = demo
    inventory = (root / "hosts.yml").read_text() + "    collectors:\n      hosts:\n        collector-01:\n"
    (root / "hosts.yml").write_text(inventory)
    rows = json.loads(banwatch(root, "status", "--inventory", "hosts.yml", "--format", "json").stdout)
    assert "collector-01" not in {row["host"] for row in rows} and len(rows) == 9
    collectors = json.loads(banwatch(root, "status", "--inventory", "hosts.yml", "--group", "collectors",
                                     "--format", "json").stdout)
    assert [row["host"] for row in collectors] == ["collector-01"]
    wrong = banwatch(root, "status", "--inventory", "hosts.yml", "--group", "printers")
    assert wrong.returncode == 2 and "no host is in group 'printers'" in wrong.stderr


def test_a_device_cannot_drive_the_admins_terminal(demo):
    """Escape sequences in a report (here a rejection reason) reach the table as harmless spaces."""
    root, policy = demo
    fleet = Fleet(root / "evil", load_policy_source(policy, dt.datetime.now(dt.timezone.utc).date()),
                  {"lab-ep-66": ["general"]})
    fleet.drop(fleet.report("lab-ep-66", dt.datetime.now(dt.timezone.utc), rejection="bad\x1b]0;pwned\x07\nlines"))
    assert banwatch(root, "ingest", "--from", "evil/dropbox", "--enrolled", "evil/enrolled").returncode == 0
    table = banwatch(root, "status")
    assert "\x1b" not in table.stdout and "\x07" not in table.stdout
    assert "rejected a policy: bad ]0;pwned lines" in table.stdout


def test_csv_cells_from_a_device_never_start_a_formula(tmp_path):
    """A compromised device controls the text of its report: none of it may run in a spreadsheet."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    fleet = Fleet(tmp_path, load_policy_source(EXAMPLE_POLICY, now.date()), {"lab-ep-30": ["general"]})
    fleet.drop(fleet.report("lab-ep-30", now, agent_version='=HYPERLINK("http://evil.example","x")'))
    ingested = banwatch(tmp_path, "ingest", "--from", str(fleet.dropbox), "--enrolled", str(fleet.enrolled))
    assert ingested.returncode == 0, ingested.stderr
    (row,) = csv.DictReader(io.StringIO(banwatch(tmp_path, "status", "--format", "csv").stdout))
    assert row["agent"] == """'=HYPERLINK("http://evil.example","x")"""
    assert [spreadsheet_cell(v) for v in ("-1", "@SUM(A1)", "\tx", "v7", None)] == [
        "'-1", "'@SUM(A1)", "'\tx", "v7", ""]


def test_a_view_run_in_process_turns_the_cycle_collector_back_on(demo, monkeypatch, capsys):
    """Views pause the cycle collector while they build their rows, never for whoever called them."""
    root, _ = demo
    assert banwatch(root, "ingest", "--from", "dropbox", "--enrolled", "enrolled").returncode == 0
    monkeypatch.chdir(root)
    for command in (["status"], ["rollout", "--policy-version", "1"]):
        assert gc.isenabled()
        main(["fleet", *command, "--inventory", "hosts.yml"])
        assert gc.isenabled(), command
        assert "lab-ep-01" in capsys.readouterr().out
