"""The host name rule, and `banwatch policy build` as a user meets it with inventories holding
names that would become paths outside `--out`, tracebacks, or two hosts' files in one."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from banwatch.cli import main
from banwatch.control.ansible_inventory import MAX_NAME_PROBLEMS, load_inventory
from banwatch.control.builds import POLICY_SUFFIX, policy_file
from banwatch.core import host_names, signing
from banwatch.core.errors import InputError
from tests.conftest import EXAMPLE_POLICY

ISSUED = "2026-11-24T09:00:00Z"
# Text an inventory may hold, weighted towards what is near the rule's edges.
NEAR_NAMES = st.text(alphabet=st.sampled_from("aZ09-_./\\: é\n\x00[]~"), max_size=12)
NAMES = st.one_of(NEAR_NAMES, st.text(max_size=30), st.text(alphabet="ab.-", min_size=195, max_size=205))


@pytest.mark.parametrize("name", [
    "ws-01", "ws-fin-014.corp.example.gov", "WS_Press_01", "10.0.0.5", "a", "7", "a" * 200, "a-b_c.d",
])
def test_names_within_the_rule_are_accepted(name):
    assert host_names.problem(name) is None and host_names.PATTERN.match(name)


@pytest.mark.parametrize(("name", "why"), [
    ("../evil", "'/' (a path separator)"),
    ("a/b", "'/' (a path separator)"),
    ("", "empty"),
    (".", "names a directory"),
    ("..", "names a directory"),
    ("a..b", "holds '..'"),
    ("-a", "starts with '-'"),
    ("a.", "ends with '.'"),
    ("a" * 201, "201 characters long, over the limit of 200"),
    ("ws-ünï", "'ü' (U+00FC, not ASCII)"),
    ("a b", "U+0020 (white space)"),
    ("a\nb", "U+000A (a line break)"),
    ("a\x00b", "U+0000 (a control character)"),
    ("ws:2222", "a port or an IPv6 address?"),
    ("fe80::1", "a port or an IPv6 address?"),
    ("web[01:10]", "a host range?"),
    (7, "not text (read as int)"),
])
def test_names_outside_the_rule_say_why(name, why):
    assert why in (host_names.problem(name) or "")
    assert host_names.PATTERN.match(str(name)) is None or not isinstance(name, str)


@settings(max_examples=500)
@given(NAMES)
def test_the_reason_and_the_pattern_agree(name):
    """The pattern is what Ansible and the install plugin check; `problem` is what people read."""
    assert (host_names.problem(name) is None) == bool(host_names.PATTERN.match(name))


@settings(max_examples=300)
@given(NAMES)
def test_a_path_from_a_host_name_stays_in_its_folder_or_is_an_input_error(name):
    folder = os.path.join(tempfile.gettempdir(), "banwatch-out")
    try:
        path = policy_file(folder, name)
    except InputError as exc:
        assert host_names.problem(name) is not None
        assert len(exc.problems) == 1 and exc.problems[0].file == folder
        assert host_names.shown(name) in str(exc) and "\n" not in str(exc)
        return
    assert os.path.dirname(os.path.realpath(path)) == os.path.realpath(folder)
    assert os.path.basename(path) == name + POLICY_SUFFIX
    # Within NAME_MAX with the longest name banwatch makes of it: write_atomic's temp file.
    assert len(f".{name}{POLICY_SUFFIX}.XXXXXXXX.tmp".encode()) <= 255


def test_a_long_name_is_shown_cut_short_on_one_line():
    shown = host_names.shown("x" * 300 + "\n")
    assert shown.endswith("… (301 characters)") and "\n" not in shown and len(shown) < 70


# --- `banwatch policy build`, as a user meets it -----------------------------------------------

@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("keys")
    signing.generate(str(folder))
    return folder / "banwatch-policy.key"


def tree(root: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) under `root`."""
    found: dict[str, bytes | None] = {}
    for folder, folders, files in os.walk(root):
        for name in folders:
            found[os.path.relpath(os.path.join(folder, name), root)] = None
        for name in files:
            path = os.path.join(folder, name)
            found[os.path.relpath(path, root)] = Path(path).read_bytes()
    return found


def build(root: Path, inventory: Path, key: Path) -> tuple[int, str, str]:
    """`banwatch policy build` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["policy", "build", "--source", str(EXAMPLE_POLICY), "--inventory", str(inventory),
                     "--key", str(key), "--out", str(root / "out" / "policies"), "--issued-at", ISSUED])
    return code, out.getvalue(), err.getvalue()


def yaml_inventory(path: Path, names: list[str]) -> Path:
    path.write_text(yaml.safe_dump({"all": {"children": {"endpoints": {"hosts": {n: None for n in names}}}}}))
    return path


def listed_inventory(path: Path, names: list[str]) -> Path:
    """What `ansible-inventory --list --output` writes for these hosts in group `endpoints`."""
    path.write_text(json.dumps({"_meta": {"hostvars": {n: {"banwatch_machine_id": "m"} for n in names}},
                                "all": {"children": ["ungrouped", "endpoints"]}, "endpoints": {"hosts": names}}))
    return path


@pytest.mark.parametrize("bad", ["../evil", "../../etc/cron.d/evil", "a/b", "x" * 300, "ws-ünï", "", "a\nb"])
@pytest.mark.parametrize("form", [yaml_inventory, listed_inventory])
def test_a_bad_name_is_exit_2_one_line_naming_host_inventory_and_fix_and_nothing_written(tmp_path, key, bad, form):
    inventory = form(tmp_path / ("hosts.yml" if form is yaml_inventory else "hosts.json"), ["ws-01", bad, "ws-02"])
    (tmp_path / "out").mkdir()
    before = tree(tmp_path)
    code, stdout, stderr = build(tmp_path, inventory, key)
    assert code == 2 and stdout == ""
    [line] = stderr.splitlines()
    assert line.startswith(f"error: {inventory}")
    assert f"host {host_names.shown(bad)}: not a usable host name" in line
    assert "Fix: rename the host in the inventory" in line and "docs/policy.md" in line
    assert tree(tmp_path) == before  # not one policy, not a folder: the good hosts' neither
    assert not os.path.exists(tmp_path / "etc")


def test_the_yaml_error_gives_the_line_of_the_host(tmp_path, key):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  children:\n    general:\n      hosts:\n        ws-01:\n        ../evil:\n")
    code, _, stderr = build(tmp_path, inventory, key)
    assert code == 2 and stderr.startswith(f"error: {inventory}:6: host '../evil':")


def test_every_bad_name_is_reported_once_and_a_flood_is_counted(tmp_path, key):
    names = [f"bad/{index}" for index in range(25)]
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": dict.fromkeys(names), "children": {
        "again": {"hosts": dict.fromkeys(names[:3])}}}}))
    code, _, stderr = build(tmp_path, inventory, key)
    lines = stderr.splitlines()
    assert code == 2 and len(lines) == MAX_NAME_PROBLEMS + 1
    assert [line.count("'bad/0'") for line in lines].count(1) == 1
    assert f"{25 - MAX_NAME_PROBLEMS} more host names like these" in lines[-1]


def test_two_hosts_that_differ_only_in_case_are_refused(tmp_path, key):
    """On a case-insensitive file system their policies would be one file; DNS takes them for one host."""
    inventory = listed_inventory(tmp_path / "hosts.json", ["ws-01", "WS-01"])
    code, _, stderr = build(tmp_path, inventory, key)
    assert code == 2 and "host 'WS-01': the same name as host 'ws-01' but for case" in stderr
    assert not (tmp_path / "out").exists()


def test_a_name_that_yaml_reads_as_a_number_is_its_text(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    10.0.0.5:\n    2026:\n")
    assert set(load_inventory(str(inventory))) == {"10.0.0.5", "2026"}


def test_good_names_build_one_policy_each_inside_out(tmp_path, key):
    names = ["ws-01", "WS_Press_02.corp.example.gov", "10.0.0.5", "a" * 200]
    code, _, stderr = build(tmp_path, yaml_inventory(tmp_path / "hosts.yml", names), key)
    assert code == 0, stderr
    assert sorted(os.listdir(tmp_path / "out" / "policies")) == sorted(n + POLICY_SUFFIX for n in names)


# --- property tests over whole inventories --------------------------------------------------------

@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def expected_problems(names: list[str]) -> list[str]:
    """The hosts the inventory must be refused for: each outside the rule, each second spelling."""
    bad = [n for n in names if host_names.problem(n) is not None]
    spelt: dict[str, str] = {}
    return bad + [n for n in names if host_names.problem(n) is None and spelt.setdefault(n.lower(), n) != n]


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(NAMES, min_size=1, max_size=6, unique=True), st.sampled_from([yaml_inventory, listed_inventory]))
def test_any_inventory_is_read_whole_or_refused_host_by_host(names, form):
    with scratch() as root:
        inventory = form(root / ("hosts.yml" if form is yaml_inventory else "hosts.json"), names)
        refused = expected_problems(names)
        try:
            hosts = load_inventory(str(inventory))
        except InputError as exc:
            assert refused, f"refused a good inventory: {exc}"
            assert all(p.file == str(inventory) for p in exc.problems)
            text = str(exc)
            assert all(host_names.shown(n) in text for n in refused[:MAX_NAME_PROBLEMS])
            assert len(text.splitlines()) == len(exc.problems)  # one line each, whatever the names hold
            return
        assert not refused, f"accepted {refused}"
        assert sorted(hosts) == sorted(names)  # nothing lost
        assert all(host.groups == {"endpoints"} for host in hosts.values())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(NAMES, min_size=1, max_size=4, unique=True), st.sampled_from([yaml_inventory, listed_inventory]))
def test_policy_build_over_any_inventory_writes_each_policy_in_out_or_nothing(key, names, form):
    with scratch() as root:
        inventory = form(root / ("hosts.yml" if form is yaml_inventory else "hosts.json"), names)
        before = tree(root)
        code, _, stderr = build(root, inventory, key)
        assert "Traceback" not in stderr
        after = tree(root)
        if expected_problems(names):
            assert code == 2 and after == before
            assert all(line.startswith(f"error: {inventory}") for line in stderr.splitlines())
            return
        assert code == 0, stderr
        written = {path for path in after if path not in before}
        assert written == {"out", os.path.join("out", "policies")} | {
            os.path.join("out", "policies", n + POLICY_SUFFIX) for n in names}
        assert all(after[path] == content for path, content in before.items())
