"""Glob patterns for match rules: the only pattern language users write (never regexes).

The semantics are documented in docs/policy.md ("Globs"). In short: `*` stays within a path
component in path globs, `**` crosses them; names fold case; Windows paths fold case and
separators. Literal patterns are looked up in a set, not scanned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Generic, TypeVar

WILDCARDS = frozenset("*?[")
MIN_LITERAL_CHARS = 3
_WINDOWS_PATH = re.compile(r"^[A-Za-z]:[\\/]|\\")

T = TypeVar("T")


def has_wildcard(pattern: str) -> bool:
    return not WILDCARDS.isdisjoint(pattern)


def is_windows_path(text: str) -> bool:
    return bool(_WINDOWS_PATH.search(text))


def normalize_path(text: str) -> str:
    """Fold a Windows path to forward slashes and lower case; leave POSIX paths alone."""
    if is_windows_path(text):
        return text.replace("\\", "/").lower()
    return text


def literal_chars(pattern: str) -> int:
    """How many characters of the pattern pin something down (not wildcards, not separators)."""
    count = 0
    in_set = False
    for char in pattern:
        if in_set:
            in_set = char != "]"
        elif char == "[":
            in_set = True
        elif char not in "*?/\\.":
            count += 1
    return count


def too_broad(pattern: str) -> bool:
    """True when a pattern could match (nearly) everything, such as `*`, `**/*` or `?*.*`."""
    return has_wildcard(pattern) and literal_chars(pattern) < MIN_LITERAL_CHARS


def translate(pattern: str, *, path: bool) -> str:
    """Glob to regex source. For names `*` matches anything; for paths it stops at `/`."""
    out: list[str] = []
    index, length = 0, len(pattern)
    star = "[^/]*" if path else ".*"
    while index < length:
        char = pattern[index]
        index += 1
        if char == "*":
            if pattern.startswith("*", index):
                while pattern.startswith("*", index):
                    index += 1
                out.append(".*")
            else:
                out.append(star)
        elif char == "?":
            out.append("[^/]" if path else ".")
        elif char == "[":
            end = pattern.find("]", index + 1 if pattern.startswith(("!", "]"), index) else index)
            if end < 0:
                out.append(re.escape(char))
                continue
            body = pattern[index:end]
            index = end + 1
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            body = body.replace("\\", "\\\\").replace("^", "\\^")
            out.append(f"[{'^' if negate else ''}{body}]")
        else:
            out.append(re.escape(char))
    return "".join(out)


class PatternSet(Generic[T]):
    """Many patterns, each tagged with a value; finds every tag whose pattern matches a text.

    Literals go into a dict (one lookup); wildcard patterns are compiled into a single
    alternation, tried once per text. This keeps matching cost flat as the ban list grows.
    """

    def __init__(self, entries: Iterable[tuple[str, T]], *, path: bool = False) -> None:
        self.path = path
        self.literals: dict[str, list[tuple[str, T]]] = {}
        self.globs: list[tuple[str, T]] = []
        for pattern, tag in entries:
            key = self._fold_pattern(pattern)
            if has_wildcard(pattern):
                self.globs.append((pattern, tag))
            else:
                self.literals.setdefault(key, []).append((pattern, tag))
        self._compiled: list[tuple[re.Pattern[str], str, T]] = [
            (re.compile(translate(self._fold_pattern(p), path=path), re.DOTALL), p, t)
            for p, t in self.globs
        ]
        self._any_glob = (
            re.compile("|".join(f"(?:{rx.pattern})" for rx, _, _ in self._compiled), re.DOTALL)
            if self._compiled
            else None
        )

    def __bool__(self) -> bool:
        return bool(self.literals or self.globs)

    def _fold_pattern(self, pattern: str) -> str:
        return normalize_path(pattern) if self.path else pattern.lower()

    def _fold_text(self, text: str) -> str:
        return normalize_path(text) if self.path else text.lower()

    def match(self, text: str) -> Sequence[tuple[str, T]]:
        """Every (pattern, tag) whose pattern matches the whole text."""
        folded = self._fold_text(text)
        hits = self.literals.get(folded, [])
        if self._any_glob is None or not self._any_glob.fullmatch(folded):
            return hits
        return [*hits, *((p, t) for rx, p, t in self._compiled if rx.fullmatch(folded))]
