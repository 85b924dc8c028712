"""Progress shows on a terminal (a real pseudo-terminal here) and nowhere else."""

from __future__ import annotations

import os
import pty

from banwatch.fleet.progress import Progress


def test_a_terminal_sees_the_meter_and_a_clean_line_after():
    master, slave = pty.openpty()
    with os.fdopen(slave, "w") as terminal:
        meter = Progress(terminal, "ingesting reports", 2000, quiet_seconds=0, redraw_seconds=0)
        meter.update(1000)
        meter.update(2000)
        meter.finish()
    received = b""
    while True:  # until the closed terminal says so (EIO on Linux)
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        received += chunk
    os.close(master)
    shown = received.decode()
    assert "ingesting reports: 1,000/2,000 (50%" in shown and "2,000/2,000 (100%" in shown
    assert shown.endswith("\r\x1b[K")


def test_a_file_or_pipe_gets_nothing(tmp_path):
    with open(tmp_path / "log", "w") as log:
        meter = Progress(log, "ingesting reports", 10, quiet_seconds=0, redraw_seconds=0)
        meter.update(5)
        meter.finish()
    assert (tmp_path / "log").read_text() == ""
