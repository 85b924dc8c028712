"""Terminal tables: a whole column is checked at once when it is clean, cell by cell when not;
either way the table is the one that cleaning every cell would give."""

from __future__ import annotations

from banwatch.core.render import MAX_CELL, _cell, table

# Cells as devices and views give them: clean text, and every kind that must be cleaned.
POOL = ("compliant", "b c", "é", "日本", "", " ", "x  y", " lead", "trail ", "\x1b]0;pwned\x07", "two\nlines",
        "tab\there", "\u2028", "zero\u200bwidth", "w" * (MAX_CELL + 5), None, 7, "v7")


def cell_by_cell(headers: tuple[str, ...], rows: list[tuple[object, ...]]) -> str:
    """The table as cleaning each cell on its own makes it."""
    cleaned = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(header), *(len(row[i]) for row in cleaned)]) for i, header in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join([*(c.ljust(w) for c, w in zip(cells[:-1], widths)), cells[-1]])

    return "\n".join([line([h.upper() for h in headers]), "  ".join("-" * w for w in widths),
                      *(line(row) for row in cleaned)])


def test_a_clean_table_is_aligned_with_no_trailing_blanks():
    text = table(("host", "state", "why"), [("ws-1", "compliant", "nothing banned found"), ("ws-22", "stale", "-")])
    assert text.split("\n") == ["HOST   STATE      WHY", "-----  ---------  --------------------",
                                "ws-1   compliant  nothing banned found", "ws-22  stale      -"]


def test_what_a_device_sends_never_reaches_the_terminal_raw():
    text = table(("host", "agent"), [("ws-1", "0.1\x1b[2J\nrm -rf  /"), ("ws-2", "")])
    assert text.split("\n")[2:] == ["ws-1  0.1 [2J rm -rf /", "ws-2  -"]


def test_a_long_cell_is_cut_with_an_ellipsis():
    (cell,) = table(("why",), [("x" * 100,)]).split("\n")[2:]
    assert cell == "x" * (MAX_CELL - 1) + "…"


def test_a_lone_empty_cell_shows_as_a_dash():
    assert table(("a",), [("",)]).split("\n")[2] == "-"


def test_any_mix_of_cells_gives_the_table_cell_by_cell_cleaning_gives(chance):
    for _ in range(300):
        width, height = chance.randint(1, 4), chance.randint(0, 5)
        headers = tuple(f"h{i}" for i in range(width))
        # Mostly clean columns, so both the whole-column check and the cell-by-cell path run.
        clean_column = [chance.random() < 0.5 for _ in headers]
        rows = [tuple(chance.choice(POOL[:2] if clean_column[i] else POOL) for i in range(width))
                for _ in range(height)]
        assert table(headers, rows) == cell_by_cell(headers, rows), rows
