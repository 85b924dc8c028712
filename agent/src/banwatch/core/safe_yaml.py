"""Load YAML that people edit: safely, bounded, and with line numbers for every value.

Only plain data comes out (mappings, lists, strings, numbers, booleans, dates): no object
construction. Files are capped in size, the number of nodes visited is capped so that
anchors and aliases cannot expand into a memory bomb, and so is the nesting depth, so that
`[[[[…` cannot exhaust the parser's recursion. Duplicate keys and merge keys are refused
rather than silently resolved.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from banwatch.core.errors import InputError
from banwatch.core.input_file import STDIN, STDIN_NAME, read_input_file

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 100_000
MAX_DEPTH = 64  # policies nest about six levels; PyYAML composes recursively, a few frames a level
SHOWN_MAX = 400  # characters of one message shown from a file: a 1 MB key is not echoed whole
_TOO_DEEP = (f"nested more than {MAX_DEPTH} levels deep (or an alias inside its own anchor)",
             "write the data out flatter, without an alias to an enclosing anchor")

Path = tuple[Any, ...]
_PLAIN_COLLECTIONS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def one_line(text: str) -> str:
    """Text that quotes a file, as one printable line: what is not printable (a line break, an
    escape sequence, a byte that was not UTF-8) written as its escape, and cut short past
    SHOWN_MAX characters. So every problem is one line, and no file can drive the terminal."""
    cut = len(text) > SHOWN_MAX
    text = text[:SHOWN_MAX]
    if not text.isprintable():
        text = "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
    return text + "…" if cut else text


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


class _DepthError(Exception):
    """The document nests deeper than MAX_DEPTH; carries where."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, refusing to compose past MAX_DEPTH levels (PyYAML recurses per level)."""

    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _DepthError(self.peek_event().start_mark.line + 1)
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self.depth -= 1


def parse_yaml(text: str, name: str) -> Document:
    try:
        loader = _BoundedLoader(text)  # the reader checks every character here, before any parsing
    except yaml.reader.ReaderError as exc:
        raise InputError.single(name, one_line(f"invalid YAML: the character {chr(exc.character)!r} is not allowed"),
                                "remove it, or write it as an escape inside a double-quoted string",
                                text.count("\n", 0, exc.position) + 1) from None
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError.single(name, one_line(f"invalid YAML: {problem}"), "correct the YAML syntax", line) from None
    except yaml.YAMLError as exc:
        raise InputError.single(name, one_line(f"invalid YAML: {exc}"), "correct the YAML syntax") from None
    except _DepthError as exc:
        raise InputError.single(name, *_TOO_DEEP, exc.line) from None
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
        return InputError.single(self.doc.file, one_line(message), fix, node.start_mark.line + 1)

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise self.fail(
                node,
                f"more than {MAX_NODES} values (anchors and aliases expand too far)",
                "write the lists out without deeply nested aliases",
            )
        if len(path) > MAX_DEPTH:  # deep, or a cycle: `&a [*a]` composes into a node that holds itself
            raise self.fail(node, *_TOO_DEEP)
        self.doc.lines.setdefault(path, node.start_mark.line + 1)
        if not isinstance(node, yaml.ScalarNode) and node.tag not in _PLAIN_COLLECTIONS:
            raise self.fail(node, f"the tag {node.tag} is not allowed", "remove the tag: plain data only")
        if isinstance(node, yaml.MappingNode):
            return self.build_mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise self.fail(node, f"unreadable value: {exc}", "quote the value") from None
        if isinstance(value, str):
            self.check_text(node, value)
        return value

    def check_text(self, node: yaml.Node, text: str) -> None:
        """Refuse a lone surrogate (`"\\udcff"` in a double-quoted string): it is no character, and
        nothing that is signed or written can hold it."""
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise self.fail(node, f"the escape for U+{ord(text[exc.start]):04X} (a lone surrogate) is not a "
                            "character", "write the character itself, or a \\U escape of a real one") from None

    def build_mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise self.fail(key_node, "merge keys (<<) are not supported", "write the keys out")
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, "a key must be a plain word", "use a string key")
            key = key_node.value
            self.check_text(key_node, key)
            if key in result:
                raise self.fail(
                    key_node, f"key '{key}' appears twice in the same mapping", "keep only one"
                )
            result[key] = self.build(value_node, (*path, key))
        return result
