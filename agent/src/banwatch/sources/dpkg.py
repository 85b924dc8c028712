"""Debian packages, read from dpkg's database directly (no subprocess).

The result equals what `dpkg-query -W` lists for packages whose files are on disk: the
status file, overlaid with any journal entries dpkg has not yet merged (`updates/`), the
way dpkg itself reads it. Packages removed but with configuration left (`config-files`)
or never installed are not present.
"""

from __future__ import annotations

import os

from banwatch.observations import KIND_PACKAGE, Observation
from banwatch.sources.base import SourceContext, SourceUnavailable

DATABASE = "var/lib/dpkg"
PRESENT_STATES = frozenset(
    {"installed", "unpacked", "half-configured", "half-installed", "triggers-awaited", "triggers-pending"}
)


def collect(ctx: SourceContext) -> list[Observation]:
    database = ctx.path(DATABASE)
    status_file = os.path.join(database, "status")
    if not os.path.isfile(status_file):
        raise SourceUnavailable(f"no dpkg database at {status_file}")
    packages = read_database(database)
    observations = []
    for (name, arch), fields in sorted(packages.items()):
        state = fields.get("Status", "").rsplit(" ", 1)[-1]
        if state not in PRESENT_STATES:
            continue
        observations.append(
            Observation("dpkg", KIND_PACKAGE, name, version=fields.get("Version"),
                        identifier=binary_package(name, arch, fields), extra={"arch": arch, "state": state})
        )
    return observations


def binary_package(name: str, arch: str, fields: dict[str, str]) -> str:
    """dpkg's `${binary:Package}`: the name, arch-qualified for Multi-Arch: same packages."""
    if fields.get("Multi-Arch") == "same" and arch not in ("", "all"):
        return f"{name}:{arch}"
    return name


def read_database(database: str) -> dict[tuple[str, str], dict[str, str]]:
    packages: dict[tuple[str, str], dict[str, str]] = {}
    with open(os.path.join(database, "status"), encoding="utf-8", errors="replace") as handle:
        _merge(packages, handle.read())
    updates = os.path.join(database, "updates")
    try:
        journal = sorted(name for name in os.listdir(updates) if name.isdigit())
    except OSError:
        journal = []
    for name in journal:
        with open(os.path.join(updates, name), encoding="utf-8", errors="replace") as handle:
            _merge(packages, handle.read())
    return packages


def _merge(packages: dict[tuple[str, str], dict[str, str]], text: str) -> None:
    for stanza in parse_stanzas(text):
        name = stanza.get("Package")
        if name:
            packages[(name, stanza.get("Architecture", ""))] = stanza


def parse_stanzas(text: str) -> list[dict[str, str]]:
    """Deb822 paragraphs: 'Field: value' lines, continuation lines start with a space."""
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
            fields[key] = value.strip()
        if fields:
            stanzas.append(fields)
    return stanzas
