"""Plain-text tables for terminals (aligned columns, long cells cut with an ellipsis), and
cells for spreadsheets."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat

MAX_CELL = 60
# What makes a spreadsheet read a cell as a formula (or, for tab and CR, shift it to the next).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))


def _cell(value: object) -> str:
    text = "-" if value is None or value == "" else str(value)
    # Control characters (escape sequences in a device's report, say) never reach the terminal.
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _printable(text: str) -> bool:
    """`str.isprintable`, three times faster on ASCII, which nearly every cell is: deleting the
    printable ASCII bytes leaves nothing."""
    if text.isascii():
        return not text.encode("ascii").translate(None, _PRINTABLE_ASCII)
    return text.isprintable()


def _column(values: Sequence[object]) -> tuple[Sequence[str], int]:
    """One column's cells, and the widest one's width. Checked as a whole first: when every cell
    is already one clean, short line of text (the common case), nothing is done per cell, which
    keeps 100,000-row tables fast. Joined with single spaces, an empty cell, or one with a
    doubled, leading or trailing space, shows as two spaces in a row or a space at an end."""
    try:
        joined: str | None = " ".join(values)  # type: ignore[arg-type]  # TypeError unless every cell is text
    except TypeError:
        joined = None
    if joined is not None and (joined or not values):  # a lone empty cell joins to nothing
        width = max(map(len, values), default=0)  # type: ignore[arg-type]
        if width <= MAX_CELL and _printable(joined) and "  " not in joined and joined.strip(" ") == joined:
            return values, width  # type: ignore[return-value]
    cleaned = [_cell(value) for value in values]
    return cleaned, max(map(len, cleaned), default=0)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    columns, widths = [], []
    for header, values in zip(headers, zip(*rows) if rows else [() for _ in headers]):
        texts, width = _column(values)
        columns.append(texts)
        widths.append(max(len(header), width))
    # Each column is padded in one pass over it (the last one not at all: no trailing blanks),
    # then each line is joined: no format string is parsed per row.
    padded = [list(map(str.ljust, texts, repeat(width))) for texts, width in zip(columns[:-1], widths)]
    head = "  ".join([*(h.upper().ljust(w) for h, w in zip(headers[:-1], widths)), headers[-1].upper()])
    lines = [head, "  ".join("-" * w for w in widths), *map("  ".join, zip(*padded, columns[-1]))]
    return "\n".join(lines)


def visible(text: str) -> str:
    """`text` with each control or other unprintable character but tab and line ends (a device's
    escape sequence, say) as a space: for views that keep long text whole (CSV, HTML)."""
    return text if _printable(text) else "".join(c if c.isprintable() or c in "\t\n\r" else " " for c in text)


def spreadsheet_cell(value: object) -> str:
    """A CSV cell that a spreadsheet shows as text. Reports come from devices, and a compromised
    one could name its agent version `=HYPERLINK(...)`: a cell that would start a formula is
    prefixed with `'` (OWASP's advice for CSV injection). Control characters become spaces, as in
    the table, so a CSV read in a terminal cannot carry a device's escape sequences either."""
    text = visible("" if value is None else str(value))
    return "'" + text if text.startswith(_FORMULA_START) else text
