"""The YAML loader refuses what could hurt: object construction, alias bombs, huge files."""

from __future__ import annotations

import pytest

from banwatch.core.errors import InputError
from banwatch.core.safe_yaml import load_yaml_file, parse_yaml


def error_of(text: str) -> str:
    with pytest.raises(InputError) as caught:
        parse_yaml(text, "f.yml")
    return str(caught.value)


def test_lines_are_recorded():
    doc = parse_yaml("a: 1\nb:\n  - x\n  - y\n", "f.yml")
    assert doc.data == {"a": 1, "b": ["x", "y"]}
    assert doc.line(("b", 1)) == 4
    assert doc.line(("b", 7)) == 3  # falls back to the nearest parent


def test_python_object_tags_are_refused():
    message = error_of("a: !!python/object/apply:os.system ['true']\n")
    assert "f.yml:1:" in message and "not allowed" in message
    assert "unreadable value" in error_of("a: !!python/name:os.system\n")


def test_alias_bomb_is_bounded():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join(f'*a{i - 1}' for _ in range(10))}]" for i in range(1, 10)]
    message = error_of("\n".join(lines) + "\n")
    assert "anchors and aliases expand too far" in message


def test_duplicate_and_merge_keys_are_refused():
    assert "key 'a' appears twice" in error_of("a: 1\na: 2\n")
    assert "merge keys" in error_of("base: &b {x: 1}\nother:\n  <<: *b\n")


def test_syntax_error_names_line():
    assert "f.yml:3:" in error_of("a: 1\nb: [1, 2\nc: 3\n")


def test_size_cap_and_encoding(tmp_path):
    big = tmp_path / "big.yml"
    big.write_text("a: " + "x" * 2000 + "\n")
    with pytest.raises(InputError, match="larger than 1000 bytes"):
        load_yaml_file(big, max_bytes=1000)
    latin = tmp_path / "latin.yml"
    latin.write_bytes("a: caf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        load_yaml_file(latin)
