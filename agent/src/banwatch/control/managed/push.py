"""What a push to a device manager will write, decided before anything is written.

The push reads what the manager holds, compares it with the export, and writes only what
differs, documents before the device assignments that point at them: a push that fails half way
leaves no device pointing at a document that is not there. Refusals (a document the register does
not back) are raised here, before the first write.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class PushRefused(Exception):
    """The push will not write anything: one line naming the document or device, and the fix."""


@dataclass(frozen=True)
class Reply:
    """What the manager answered to one read: its HTTP status and its JSON body (None if none)."""

    status: int
    body: Any


@dataclass(frozen=True)
class Write:
    """One request that makes the manager hold what the export says; `what` names it in messages."""

    what: str
    method: str
    url: str  # may name an id an earlier write created: `{key}` of that write
    body: dict[str, Any]
    key: str | None = None  # keep the `id` this write's answer returns, for later writes' URLs


@dataclass
class PushPlan:
    """The writes, in order, and the before/after of each for --diff."""

    writes: list[Write] = field(default_factory=list)
    diffs: list[dict[str, str]] = field(default_factory=list)

    def add(self, write: Write, before: Any, after: Any) -> None:
        self.writes.append(write)
        self.diffs.append({"before_header": f"{write.what} (at the manager)",
                           "after_header": f"{write.what} (from the export)",
                           "before": shown(before), "after": shown(after)})


def shown(value: Any) -> str:
    """A diff side: sorted, indented JSON, or nothing when the manager holds nothing."""
    return "" if value is None else json.dumps(value, indent=2, sort_keys=True) + "\n"


def read_json(folder: str, name: str, what: str) -> Any:
    """A file of the export; a missing or broken one is refused with the fix (export again)."""
    path = os.path.join(folder, name)
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read())
    except OSError as exc:
        raise PushRefused(f"{path}: cannot read the {what} ({exc.strerror}); "
                          "fix: run banwatch export (banwatch.deploy.export_managed) into this folder first") from None
    except ValueError as exc:
        raise PushRefused(f"{path}: the {what} is not JSON ({exc}); fix: export again") from None


def replies(results: Any, what: str) -> dict[str, Reply]:
    """The registered results of an `ansible.builtin.uri` loop over `reads` ({item, url}), by item."""
    if not isinstance(results, list):
        raise PushRefused(f"{what}: expected the results of a uri loop, got {type(results).__name__}")
    found: dict[str, Reply] = {}
    for result in results:
        item = result.get("item") if isinstance(result, Mapping) else None
        name = item.get("item") if isinstance(item, Mapping) else item
        if not isinstance(name, str):
            raise PushRefused(f"{what}: a read result without its item")
        status = result.get("status")
        found[name] = Reply(status if isinstance(status, int) else -1, result.get("json"))
    return found


def error_message(body: Any) -> str:
    """The vendor's `{"error": {"message": ...}}` (Google and Graph), or nothing."""
    error = body.get("error") if isinstance(body, Mapping) else None
    message = error.get("message") if isinstance(error, Mapping) else None
    return f": {str(message)[:300]}" if message else ""
