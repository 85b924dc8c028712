"""Errors for user mistakes: each names the file, the line, the entry and the fix.

Anything raised as an `InputError` is printed to the user as plain lines and turns into
exit code 2; it never becomes a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, and what to do about it."""

    file: str
    line: int | None
    entry: str | None
    message: str
    fix: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        entry = f" {self.entry}:" if self.entry else ""
        return f"{where}:{entry} {self.message}. Fix: {self.fix}"


class InputError(Exception):
    """Bad input from a person: one or more problems, none of them a bug of ours."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def single(
        cls, file: str, message: str, fix: str, line: int | None = None, entry: str | None = None
    ) -> InputError:
        return cls([Problem(file, line, entry, message, fix)])
