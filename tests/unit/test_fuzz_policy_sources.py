"""Policy sources (banlist.yml, exemptions.yml) as outside data: arbitrary bytes, YAML that fights
the parser (deep nesting, an alias inside its own anchor, alias bombs, tags), wrong types at any
place. The loader gives a valid policy or an InputError whose every problem names the file and
a fix on one printable line; `banwatch policy check` turns each kind into exit 2 and such lines."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from banwatch.control.policy_source import BANLIST_FILE, EXEMPTIONS_FILE, load_policy_source
from banwatch.core.errors import InputError
from banwatch.device.detect.matcher import Matcher
from tests.conftest import EXAMPLE_POLICY, TODAY, example_documents
from tests.unit.test_fuzz_signed_policy import JSON_VALUES, paths_of

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EXAMPLE_TEXT = {name: (EXAMPLE_POLICY / name).read_bytes() for name in (BANLIST_FILE, EXEMPTIONS_FILE)}
YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.dates(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)


def load(files: dict[str, bytes]) -> None:
    """Load a source made of these files: valid (and then usable by the matcher), or InputError
    whose problems each name a file, say what is wrong and how to fix it, on one printable line."""
    with tempfile.TemporaryDirectory() as folder:
        for name, data in {**EXAMPLE_TEXT, **files}.items():
            Path(folder, name).write_bytes(data)
        try:
            policy = load_policy_source(folder, TODAY)
        except InputError as exc:
            assert exc.problems
            for problem in exc.problems:
                assert problem.file.startswith(folder) and problem.message and problem.fix
                assert str(problem).isprintable(), str(problem)
            return
    Matcher(policy.apps)


@FUZZ
@given(name=st.sampled_from([BANLIST_FILE, EXEMPTIONS_FILE]), data=st.binary(max_size=3000))
def test_any_bytes_in_a_policy_file(name: str, data: bytes) -> None:
    load({name: data})


YAML_PIECES = st.sampled_from(["&a ", "*a", "*b", "!!python/object:os.system ", "<<: ", "[", "]", "{", "}", "\t",
                               "- ", ": ", "\n", "'", '"', "? ", "|\n", "%YAML 1.1\n", "---\n", "\x1b[2J", "\ud800",
                               "\u202e", "\0", "#", "!!binary ", "2026-13-45", "0o17", "1e400", ".nan"])


@FUZZ
@given(name=st.sampled_from([BANLIST_FILE, EXEMPTIONS_FILE]),
       edits=st.lists(st.tuples(st.integers(min_value=0), YAML_PIECES), min_size=1, max_size=6))
def test_yaml_syntax_pieces_spliced_into_the_example(name: str, edits: list[tuple[int, str]]) -> None:
    text = EXAMPLE_TEXT[name].decode()
    for position, piece in edits:
        at = position % (len(text) + 1)
        text = text[:at] + piece + text[at:]
    load({name: text.encode("utf-8", "surrogatepass")})


@st.composite
def mutated_documents(draw: st.DrawFn) -> tuple[str, Any]:
    """One of the example files, parsed, with one to three values replaced by any YAML value (or removed)."""
    banlist, register = example_documents()
    name, document = draw(st.sampled_from([(BANLIST_FILE, banlist), (EXEMPTIONS_FILE, register)]))
    for _ in range(draw(st.integers(1, 3))):
        places = paths_of(document)[1:]
        if not places:
            break
        path = draw(st.sampled_from(places))
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(YAML_VALUES | JSON_VALUES)
    return name, document


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated=mutated_documents())
def test_wrong_types_anywhere_in_the_example(mutated: tuple[str, Any]) -> None:
    name, document = mutated
    load({name: yaml.safe_dump(document, allow_unicode=True).encode()})


def _deep(levels: int) -> str:
    return "schema: 1\napps: " + "[" * levels + "]" * levels + "\n"


BOMB = "\n".join(["a0: &a0 [x, x, x, x, x, x, x, x, x, x]",
                  *(f"a{i}: &a{i} [{', '.join(f'*a{i - 1}' for _ in range(10))}]" for i in range(1, 10))])


@pytest.mark.parametrize(("banlist", "expected"), [
    (b"schema: 1\napps: [caf\xe9]\n", "not UTF-8"),
    (b"schema: 1\napps: [\n", "invalid YAML"),
    (_deep(5000).encode(), "nested more than 64 levels"),
    (b"schema: 1\napps: &a [*a]\n", "an alias inside its own anchor"),
    (BOMB.encode(), "anchors and aliases expand too far"),
    (b"schema: 1\napps: !!python/object/apply:os.system [true]\n", "not allowed"),
    (b"schema: 1\napps:\n  - id: \"x\\ny\\e[2J\"\n", r"'x\ny\x1b[2J'"),
    (b"schema: 1\nschema: 1\n", "appears twice"),
    (b"schema: 1\napps: " + b"x" * (1024 * 1024), "larger than"),
    (b"schema: 1\napps: [\0]\n", "invalid YAML"),
    (b"", "expected a mapping, found nothing"),
    (b"schema: [1]\napps: {tiktok: 1}\n", "'apps' must be a non-empty list"),
], ids=lambda value: value if isinstance(value, str) else "")
def test_each_kind_of_junk_is_exit_2_and_one_line_per_problem(tmp_path: Path, banlist: bytes, expected: str) -> None:
    folder = tmp_path / "policy"
    folder.mkdir()
    (folder / BANLIST_FILE).write_bytes(banlist)
    (folder / EXEMPTIONS_FILE).write_bytes(EXAMPLE_TEXT[EXEMPTIONS_FILE])
    done = subprocess.run([sys.executable, "-m", "banwatch.cli", "policy", "check", str(folder),
                           "--as-of", dt.date.isoformat(TODAY)], capture_output=True, timeout=60, check=False)
    stderr = done.stderr.decode()
    assert done.returncode == 2 and "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert lines and all(line.startswith("error: ") and line.isprintable() for line in lines), stderr
    assert any(expected in line for line in lines), stderr
