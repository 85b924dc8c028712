"""Debian packages, read from dpkg's database directly (no subprocess).

The result equals what `dpkg-query -W` lists for packages whose files are on disk: the
status file, overlaid with any journal entries dpkg has not yet merged (`updates/`), the
way dpkg itself reads it. Packages removed but with configuration left (`config-files`)
or never installed are not present.

Read as dpkg reads it, so no entry dpkg counts as installed can hide from the scan: field
names and status words in any case, package names folded to lower case (ASCII only, as dpkg
does), values trimmed of C whitespace only. Bytes that are not UTF-8 are kept losslessly
(surrogateescape): such a package is still observed, and matched, under its own name.
"""

from __future__ import annotations

import os

from banwatch.device.sources.base import SourceContext, SourceUnavailable
from banwatch.device.sources.observations import KIND_PACKAGE, Observation

DATABASE = "var/lib/dpkg"
PRESENT_STATES = frozenset(
    {"installed", "unpacked", "half-configured", "half-installed", "triggers-awaited", "triggers-pending"}
)
C_SPACE = " \t\n\v\f\r"  # C's isspace(): what dpkg trims around a field value
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def collect(ctx: SourceContext) -> list[Observation]:
    database = ctx.path(DATABASE)
    status_file = os.path.join(database, "status")
    if not os.path.isfile(status_file):
        raise SourceUnavailable(f"no dpkg database at {status_file}")
    packages = read_database(database)
    observations = []
    for (name, arch), fields in sorted(packages.items()):
        words = fields.get("status", "").split()
        state = words[-1].lower() if words else ""
        if state not in PRESENT_STATES:
            continue
        observations.append(
            Observation("dpkg", KIND_PACKAGE, name, version=fields.get("version"),
                        identifier=binary_package(name, arch, fields), extra={"arch": arch, "state": state})
        )
    return observations


def binary_package(name: str, arch: str, fields: dict[str, str]) -> str:
    """dpkg's `${binary:Package}`: the name, arch-qualified for Multi-Arch: same packages."""
    if fields.get("multi-arch", "").lower() == "same" and arch not in ("", "all"):
        return f"{name}:{arch}"
    return name


def read_database(database: str) -> dict[tuple[str, str], dict[str, str]]:
    packages: dict[tuple[str, str], dict[str, str]] = {}
    _merge(packages, _read_text(os.path.join(database, "status")))
    updates = os.path.join(database, "updates")
    try:
        journal = sorted(name for name in os.listdir(updates) if name.isascii() and name.isdigit())
    except OSError:
        journal = []
    for name in journal:
        _merge(packages, _read_text(os.path.join(updates, name)))
    return packages


def _read_text(path: str) -> str:
    """The file's bytes as text, lossless: a byte that is not UTF-8 becomes a surrogate escape."""
    with open(path, "rb") as handle:
        return handle.read().decode("utf-8", "surrogateescape")


def _merge(packages: dict[tuple[str, str], dict[str, str]], text: str) -> None:
    for stanza in parse_stanzas(text):
        name = stanza.get("package", "").translate(_ASCII_LOWER)
        if name:
            packages[(name, stanza.get("architecture", ""))] = stanza


def parse_stanzas(text: str) -> list[dict[str, str]]:
    """Deb822 paragraphs: 'Field: value' lines, continuation lines start with a space. Field
    names are folded to lower case (dpkg matches them in any case)."""
    stanzas = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in block.split("\n"):
            if not line:
                continue
            if line[0] in " \t":
                if key is not None:
                    fields[key] += "\n" + line[1:]
                continue
            key, _, value = line.partition(":")
            key = key.strip(C_SPACE).lower()
            fields[key] = value.strip(C_SPACE)
        if fields:
            stanzas.append(fields)
    return stanzas
