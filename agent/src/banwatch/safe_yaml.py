"""Load YAML that people edit: safely, bounded, and with line numbers for every value.

Only plain data comes out (mappings, lists, strings, numbers, booleans, dates): no object
construction. Files are capped in size, and the number of nodes visited is capped so that
anchors and aliases cannot expand into a memory bomb. Duplicate keys and merge keys are
refused rather than silently resolved.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from banwatch.errors import InputError
from banwatch.input_file import STDIN, STDIN_NAME, read_input_file

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 100_000

Path = tuple[Any, ...]
_PLAIN_COLLECTIONS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


@dataclass
class Document:
    """Parsed YAML plus the line (1-based) where each value starts, keyed by its path."""

    file: str
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int | None:
        """Line of the value at `path`, or of its nearest parent that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())


def load_yaml_file(path: str | os.PathLike[str], max_bytes: int = MAX_FILE_BYTES,
                   too_large_fix: str = "split it or remove what is not policy") -> Document:
    """Read and parse one YAML file (`-` is standard input); raise `InputError` naming the file on
    any problem."""
    path = os.fspath(path)
    name = STDIN_NAME if path == STDIN else path
    raw = read_input_file(path, max_bytes, too_large_fix)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError.single(name, f"not UTF-8 text (byte {exc.start})", "save the file as UTF-8") from None
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> Document:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError.single(name, f"invalid YAML: {problem}", "correct the YAML syntax", line) from None
    except yaml.YAMLError as exc:
        raise InputError.single(name, f"invalid YAML: {exc}", "correct the YAML syntax") from None
    finally:
        loader.dispose()
    doc = Document(name, None)
    if node is None:
        return doc
    builder = _Builder(doc, loader)
    doc.data = builder.build(node, ())
    return doc


class _Builder:
    """Turns a composed node tree into plain data, recording lines and counting nodes."""

    def __init__(self, doc: Document, loader: yaml.SafeLoader) -> None:
        self.doc = doc
        self.loader = loader
        self.visited = 0

    def fail(self, node: yaml.Node, message: str, fix: str) -> InputError:
        return InputError.single(self.doc.file, message, fix, node.start_mark.line + 1)

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise self.fail(
                node,
                f"more than {MAX_NODES} values (anchors and aliases expand too far)",
                "write the lists out without deeply nested aliases",
            )
        self.doc.lines.setdefault(path, node.start_mark.line + 1)
        if not isinstance(node, yaml.ScalarNode) and node.tag not in _PLAIN_COLLECTIONS:
            raise self.fail(node, f"the tag {node.tag} is not allowed", "remove the tag: plain data only")
        if isinstance(node, yaml.MappingNode):
            return self.build_mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise self.fail(node, f"unreadable value: {exc}", "quote the value") from None

    def build_mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise self.fail(key_node, "merge keys (<<) are not supported", "write the keys out")
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, "a key must be a plain word", "use a string key")
            key = key_node.value
            if key in result:
                raise self.fail(
                    key_node, f"key '{key}' appears twice in the same mapping", "keep only one"
                )
            result[key] = self.build(value_node, (*path, key))
        return result
