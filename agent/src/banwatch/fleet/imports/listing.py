"""What every manager's listing comes to: one `DeviceStatus` per device, each field checked.

A listing comes from outside (a manager's API, a webhook): every field read is checked here or
by the manager's parser, and the first wrong one refuses the whole file (`ListingRejected`,
naming the entry), so a file is stored whole or not at all.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from banwatch.core.timestamps import isoformat

# Bounds of one listing file: a page of a manager's API is far smaller (Android and Graph pages
# hold at most a few hundred devices), a whole fleet's listing in one file still fits.
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_DEVICES = 200_000
MAX_APPS = 10_000  # per device
MAX_TEXT = 1024  # characters of any one field
# A time as managers write it: RFC 3339, fractions of a second to any precision (Google: nanoseconds).
_RFC3339 = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]+)?"
                      r"([Zz]|[+-][0-9]{2}:[0-9]{2})")


class ListingRejected(ValueError):
    """A listing the import will not store; `entry` says where in the file (None: the whole file)."""

    def __init__(self, entry: str | None, message: str) -> None:
        self.entry = entry
        self.message = message
        super().__init__(f"{entry}: {message}" if entry else message)


class InstalledApp(NamedTuple):  # a NamedTuple, not a frozen dataclass: 8 million per 100,000 devices
    identifier: str  # a package name, a bundle id, the name a manager lists
    version: str | None


@dataclass(frozen=True)
class DeviceStatus:
    """One device as its manager last saw it."""

    entry: str  # where in the file, for messages: `devices[3]`
    device_id: str  # as the inventory's banwatch_managed_device_id names it
    as_of: str  # the manager's last status report or check-in from the device (canonical UTC)
    apps: tuple[InstalledApp, ...]
    applied_document: str | None  # the banwatch document the manager says the device runs; None: not said
    applied_version: str | None  # the manager's own version of it, when it has one
    manager_error: str | None  # the manager reports an error, or a policy it could not apply
    raw: bytes  # the entry as read (canonical JSON), kept beside the report
    scope: str | None = None  # the manager's qualifier of the id (an Android enterprise)


def is_text(value: Any, limit: int = MAX_TEXT) -> bool:
    """A field of text as the import takes it: 1 to `limit` printable characters."""
    return type(value) is str and 0 < len(value) <= limit and value.isprintable()


def canonical(value: Any) -> bytes:
    """An entry as the store keeps it: the same JSON for the same content, whatever its key order."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode("utf-8", "backslashreplace")


def shown(value: Any) -> str:
    """A hostile value, short and on one line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


class Fields:
    """Checked reads of one entry's fields; every failure names the entry and the field."""

    def __init__(self, value: Any, entry: str) -> None:
        if not isinstance(value, dict):
            raise ListingRejected(entry, f"is {shown(value)}, not an object")
        self.data = value
        self.entry = entry

    def fail(self, message: str) -> ListingRejected:
        return ListingRejected(self.entry, message)

    def text(self, key: str, *, optional: bool = False, limit: int = MAX_TEXT) -> str | None:
        value = self.data.get(key)
        if value is None and optional:
            return None
        if not is_text(value, limit):
            raise self.fail(f"{key} is {shown(value) if key in self.data else 'missing'}, not a line of text "
                            f"(1 to {limit:,} printable characters)")
        return value

    def required_text(self, key: str, limit: int = MAX_TEXT) -> str:
        return str(self.text(key, limit=limit))

    def choice(self, key: str, choices: Sequence[str], *, optional: bool = True) -> str | None:
        value = self.text(key, optional=optional)
        if value is not None and value not in choices:
            raise self.fail(f"{key} is {shown(value)}, not one of {', '.join(choices)}")
        return value

    def time(self, key: str) -> str:
        return rfc3339(self.data.get(key), f"{key}", self.entry)

    def items(self, key: str, limit: int, *, optional: bool = True) -> list[Any]:
        value = self.data.get(key)
        if value is None and optional:
            return []
        if not isinstance(value, list):
            raise self.fail(f"{key} is {shown(value) if key in self.data else 'missing'}, not a list")
        if len(value) > limit:
            raise self.fail(f"{key} lists {len(value):,} entries, more than the {limit:,} one listing may hold")
        return value


def rfc3339(value: Any, what: str, entry: str) -> str:
    """An RFC 3339 time (with a zone), as the store keeps it: UTC, seconds, `Z`."""
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ListingRejected(entry, f"{what} is {shown(value)}, not an RFC 3339 time with a zone")
    seconds, _fraction, zone = match.groups()
    try:
        moment = dt.datetime.fromisoformat(seconds.upper() + ("+00:00" if zone in "Zz" else zone))
        return isoformat(moment)
    except (ValueError, OverflowError):
        raise ListingRejected(entry, f"{what} is {shown(value)}, not a moment of the calendar") from None
