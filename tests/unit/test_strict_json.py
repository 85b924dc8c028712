"""JSON and YAML text that no UTF-8 document can hold (a lone surrogate escape), or nested past
any parser's stack: a clear error naming the file through the CLI, never a traceback, and no
signed policy written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from banwatch.core import signing, strict_json
from tests.conftest import EXAMPLE_POLICY

BIN = Path(sys.executable).parent


def build(tmp_path: Path, source: Path, inventory: Path) -> subprocess.CompletedProcess[str]:
    signing.generate(str(tmp_path / "keys"))
    return subprocess.run([str(BIN / "banwatch"), "policy", "build", "--source", str(source), "--inventory",
                           str(inventory), "--key", str(tmp_path / "keys" / "banwatch-policy.key"), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=60, check=False)


LISTING = {"_meta": {"hostvars": {"ws-01": {"banwatch_machine_id": "ab\udcffcd"}}}, "all": {"children": ["ungrouped"]},
           "ungrouped": {"hosts": ["ws-01"]}}


@pytest.mark.parametrize(("text", "message"), [
    (json.dumps(LISTING), "text that is not valid Unicode (a lone surrogate escape)"),
    ("[" * 100_000, "JSON nested too deeply"),
])
def test_a_listing_no_document_can_hold_is_exit_2_and_writes_nothing(tmp_path, text, message):
    (tmp_path / "hosts.json").write_text(text)
    done = build(tmp_path, EXAMPLE_POLICY, tmp_path / "hosts.json")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr == f"error: {tmp_path / 'hosts.json'}: {message}. Fix: write it again with: " \
                          "ansible-inventory -i SOURCE --list --output FILE.json\n"
    assert not (tmp_path / "out").exists()


def test_a_lone_surrogate_escape_in_the_policy_source_names_the_line(tmp_path, write_policy):
    text = (EXAMPLE_POLICY / "banlist.yml").read_text().replace("        - TikTok\n", '        - "TikTok\\uDCFF"\n', 1)
    policy = write_policy(banlist=text)
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    ws-01:\n")
    for done in (subprocess.run([str(BIN / "banwatch"), "policy", "check", str(policy)], capture_output=True,
                                text=True, timeout=60, check=False), build(tmp_path, policy, tmp_path / "hosts.yml")):
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert "banlist.yml:15: the escape for U+DCFF (a lone surrogate) is not a character" in done.stderr
    assert not (tmp_path / "out").exists()


ANY_TEXT = st.text(alphabet=st.characters(codec=None, categories=["Cs", "L", "N", "P"]))  # lone surrogates too


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | ANY_TEXT,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
                    max_leaves=20))
def test_strict_json_takes_exactly_what_utf8_can_hold(value):
    data = json.dumps(value).encode("ascii")  # escapes every non-ASCII character, lone surrogates too
    # What the JSON text means: a high and a low surrogate escaped side by side are one character
    # beyond the BMP (RFC 8259 section 7), valid UTF-8; a surrogate left alone is not.
    meant = json.loads(data)
    try:
        json.dumps(meant, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(ValueError, match="lone surrogate"):
            strict_json.loads(data)
    else:
        assert strict_json.loads(data) == meant


def test_an_escaped_surrogate_pair_is_one_character_and_a_lone_one_is_refused():
    assert strict_json.loads(b'["\\ud83d\\ude00"]') == ["\U0001f600"]
    with pytest.raises(ValueError, match="lone surrogate"):
        strict_json.loads(b'["\\ude00\\ud83d"]')


def test_a_file_in_out_nested_too_deeply_is_passed_over_not_a_traceback(tmp_path):
    """`policy build` reads what it built before to find the next version; a damaged file there
    is ignored, as any unreadable one is."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "ws-00.policy.json").write_text("[" * 100_000)
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    ws-01:\n")
    done = build(tmp_path, EXAMPLE_POLICY, tmp_path / "hosts.yml")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert (tmp_path / "out" / "ws-01.policy.json").exists()
