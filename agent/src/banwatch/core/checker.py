"""Small helpers that check one YAML document's shape and collect every problem found.

Validation goes on after the first problem so a person fixes a file in one pass.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from banwatch.core.errors import Problem
from banwatch.core.safe_yaml import Document, Path, one_line

_TYPE_NAMES = {str: "text", int: "a whole number", list: "a list", dict: "a mapping", bool: "true/false"}


def describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (dt.date, dt.datetime)):
        return f"a date ({value})"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


class Checker:
    def __init__(self, doc: Document, problems: list[Problem]) -> None:
        self.doc = doc
        self.problems = problems

    def add(self, path: Path, entry: str | None, message: str, fix: str) -> None:
        """Record a problem; what it quotes from the file is shown on one printable line."""
        self.problems.append(Problem(self.doc.file, self.doc.line(path), entry and one_line(entry), one_line(message),
                                     one_line(fix)))

    def mapping(
        self,
        value: Any,
        path: Path,
        entry: str | None,
        *,
        required: Collection[str] = (),
        optional: Collection[str] = (),
    ) -> dict[str, Any] | None:
        """The value as a mapping with only known keys, or None (and a problem) if it is not."""
        if not isinstance(value, dict):
            self.add(path, entry, f"expected a mapping, found {describe(value)}", "write key: value pairs")
            return None
        known = [*required, *optional]
        for key in value:
            if key not in known:
                import difflib  # noqa: PLC0415 - only for a config with a mistake in it

                close = difflib.get_close_matches(key, known, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(known)}"
                self.add((*path, key), entry, f"unknown key '{key}'", f"remove it or rename it ({hint})")
        for key in required:
            if key not in value:
                self.add(path, entry, f"'{key}' is missing", f"add '{key}:' to this entry")
        return value

    def text(self, mapping: dict[str, Any], key: str, path: Path, entry: str | None) -> str | None:
        """A required, non-empty string; None when absent or wrong (problem recorded if wrong)."""
        if key not in mapping:
            return None
        value = mapping[key]
        if not isinstance(value, str) or not value.strip():
            self.add(
                (*path, key), entry,
                f"'{key}' must be non-empty text, found {describe(value)}",
                f"write '{key}: \"…\"' (quote values such as yes, no, on, off or numbers)",
            )
            return None
        return value.strip()

    def text_list(
        self, mapping: dict[str, Any], key: str, path: Path, entry: str | None
    ) -> tuple[str, ...]:
        """A list of non-empty strings (a lone string is not accepted: lists stay lists)."""
        if key not in mapping:
            return ()
        value = mapping[key]
        if not isinstance(value, list):
            self.add(
                (*path, key), entry,
                f"'{key}' must be a list, found {describe(value)}",
                f"write '{key}: [\"…\"]' or one '- item' per line",
            )
            return ()
        items: list[str] = []
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.add(
                    (*path, key, index), entry,
                    f"item {index + 1} of '{key}' must be non-empty text, found {describe(item)}",
                    "quote the item",
                )
                continue
            items.append(item.strip())
        return tuple(items)

    def date(self, mapping: dict[str, Any], key: str, path: Path, entry: str | None) -> dt.date | None:
        if key not in mapping:
            return None
        value = mapping[key]
        if isinstance(value, dt.datetime):
            value = None
        elif isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value.strip())
            except ValueError:
                value = None
        if not isinstance(value, dt.date):
            self.add(
                (*path, key), entry,
                f"'{key}' must be a date, found {describe(mapping[key])}",
                f"write '{key}: YYYY-MM-DD'",
            )
            return None
        return value

    def whole_number(
        self, mapping: dict[str, Any], key: str, path: Path, entry: str | None, *, low: int, high: int
    ) -> int | None:
        if key not in mapping:
            return None
        value = mapping[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.add(
                (*path, key), entry,
                f"'{key}' must be a whole number from {low} to {high}, found {value!r}",
                f"set '{key}' within {low}..{high}",
            )
            return None
        return value

    def choice(
        self, mapping: dict[str, Any], key: str, path: Path, entry: str | None, choices: tuple[str, ...]
    ) -> str | None:
        value = self.text(mapping, key, path, entry)
        if value is not None and value not in choices:
            self.add(
                (*path, key), entry,
                f"'{key}' is '{value}', which is not one of: {', '.join(choices)}",
                f"use one of: {', '.join(choices)}",
            )
            return None
        return value
