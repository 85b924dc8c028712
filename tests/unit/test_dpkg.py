"""dpkg's database read directly equals what dpkg-query itself lists."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from banwatch.device import sources
from banwatch.device.sources.base import SourceContext
from banwatch.device.sources.dpkg import PRESENT_STATES

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs a Debian-based machine")


@needs_dpkg
def test_real_database_equals_dpkg_query():
    result = sources.run_source("dpkg", SourceContext())
    assert result.status == "ok"
    ours = {(o.identifier, o.version) for o in result.observations}
    listed = subprocess.run(
        ["dpkg-query", "-W", "-f", "${binary:Package}\t${Version}\t${db:Status-Status}\n"],
        capture_output=True, text=True, check=True,
    ).stdout
    theirs = {(name, version) for name, version, state in (line.split("\t") for line in listed.splitlines())
              if state in PRESENT_STATES}
    assert ours == theirs
    assert len(ours) > 50


STATUS = """\
Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b7
Description: GNU Bourne Again SHell
 Bash is an sh-compatible command language interpreter.
 .
 It also includes features from the Korn and C shells.

Package: libc6
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Version: 2.36-9+deb12u9

Package: tiktok-desktop
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: oldpkg
Status: install ok unpacked
Architecture: all
Version: 1:0.9
"""


def test_status_file_journal_overlay_and_states(tmp_path: Path):
    database = tmp_path / "var/lib/dpkg"
    (database / "updates").mkdir(parents=True)
    (database / "status").write_text(STATUS)
    (database / "updates/0001").write_text(
        "Package: tiktok-desktop\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.1\n")
    (database / "updates/tmp.i").write_text("garbage that dpkg ignores\n")
    observations = sources.run_source("dpkg", SourceContext(root=str(tmp_path))).observations
    assert [(o.identifier, o.version, o.extra["state"]) for o in observations] == [
        ("bash", "5.2.15-2+b7", "installed"),
        ("libc6:amd64", "2.36-9+deb12u9", "installed"),
        ("oldpkg", "1:0.9", "unpacked"),
        ("tiktok-desktop", "1.1", "installed"),
    ]


def test_missing_database_is_unavailable(tmp_path: Path):
    assert sources.run_source("dpkg", SourceContext(root=str(tmp_path))).status == "unavailable"
