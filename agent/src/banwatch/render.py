"""Plain-text tables for terminals: aligned columns, long cells cut with an ellipsis."""

from __future__ import annotations

from collections.abc import Sequence

MAX_CELL = 60


def _cell(value: object) -> str:
    text = "-" if value is None or value == "" else str(value)
    if len(text) <= MAX_CELL and text.isprintable() and "  " not in text and text.strip(" ") == text:
        return text  # already one clean line: the common case, kept cheap for 100,000-row tables
    # Control characters (escape sequences in a device's report, say) never reach the terminal.
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [list(map(_cell, row)) for row in rows]
    columns = list(zip(*cells)) if cells else [() for _ in headers]
    widths = [max(len(h), *map(len, column)) if column else len(h) for h, column in zip(headers, columns)]
    line = "  ".join(f"{{:<{w}}}" for w in widths).format  # one format per table: fast over many rows
    lines = [line(*(h.upper() for h in headers)).rstrip(), "  ".join("-" * w for w in widths)]
    lines += [line(*row).rstrip() for row in cells]
    return "\n".join(lines)
