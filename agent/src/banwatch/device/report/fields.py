"""Reading a report document back into the report's types: every field checked for its type.

A document read back may come from anywhere (a spool copied by hand, a test, an older agent), so
a field of the wrong type, a missing one or one the report does not have is a `DocumentError`
naming the field by its JSON Pointer, never a traceback from deep inside a constructor. Unknown
fields are refused too: reading a document and writing it again gives the same document, or an
error, never a document that silently lost a field.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class DocumentError(ValueError):
    """A document that is not a report (or finding) as the agent writes it; says which field."""


class Fields:
    """One JSON object of a document, read field by field; `where` is its JSON Pointer."""

    def __init__(self, value: object, where: str) -> None:
        if not isinstance(value, dict):
            raise DocumentError(f"{where or '/'}: not an object")
        self.value: dict[str, Any] = value
        self.where = where

    def at(self, key: str) -> str:
        return f"{self.where}/{key}"

    def only(self, known: Iterable[str]) -> None:
        unknown = sorted(set(self.value) - set(known))
        if unknown:
            raise DocumentError(f"{self.at(unknown[0])}: not a field of the report")

    def not_null(self, keys: Iterable[str]) -> None:
        """Refuse null in fields the agent leaves out when it has nothing to say in them."""
        for key in keys:
            if key in self.value and self.value[key] is None:
                raise DocumentError(f"{self.at(key)}: null (the agent leaves the field out)")

    def not_empty(self, keys: Iterable[str]) -> None:
        """Refuse null, {} and [] in fields the agent leaves out when they are empty."""
        self.not_null(keys)
        for key in keys:
            if self.value.get(key) in ({}, []):
                raise DocumentError(f"{self.at(key)}: empty (the agent leaves the field out)")

    def has(self, key: str) -> bool:
        return key in self.value

    def raw(self, key: str) -> Any:
        if key not in self.value:
            raise DocumentError(f"{self.at(key)}: missing")
        return self.value[key]

    def text(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str):
            raise DocumentError(f"{self.at(key)}: not a string")
        return value

    def optional_text(self, key: str) -> str | None:
        """A string, or None when the field is absent or null."""
        return None if self.value.get(key) is None else self.text(key)

    def nullable_text(self, key: str) -> str | None:
        """A field always written, a string or null."""
        return None if self.raw(key) is None else self.text(key)

    def whole(self, key: str) -> int:
        value = self.raw(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise DocumentError(f"{self.at(key)}: not a whole number")
        return value

    def optional_whole(self, key: str) -> int | None:
        return None if self.value.get(key) is None else self.whole(key)

    def real(self, key: str) -> float:
        value = self.raw(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise DocumentError(f"{self.at(key)}: not a number")
        return value

    def optional_real(self, key: str) -> float | None:
        return None if self.value.get(key) is None else self.real(key)

    def texts(self, key: str) -> list[str]:
        value = self.raw(key)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise DocumentError(f"{self.at(key)}: not a list of strings")
        return value

    def object(self, key: str) -> Fields:
        return Fields(self.raw(key), self.at(key))

    def optional_object(self, key: str) -> Fields | None:
        return None if self.value.get(key) is None else self.object(key)

    def objects(self, key: str) -> list[Fields]:
        value = self.raw(key)
        if not isinstance(value, list):
            raise DocumentError(f"{self.at(key)}: not a list")
        return [Fields(item, f"{self.at(key)}/{index}") for index, item in enumerate(value)]
