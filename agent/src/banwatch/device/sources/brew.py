"""Homebrew formulae and casks (macOS and Linuxbrew): one folder per installed version."""

from __future__ import annotations

import os

from banwatch.device.sources.base import SourceContext, SourceUnavailable
from banwatch.device.sources.observations import KIND_PACKAGE, Observation

PREFIXES = ("opt/homebrew", "usr/local", "home/linuxbrew/.linuxbrew")


def collect(ctx: SourceContext) -> list[Observation]:
    observations = []
    found = False
    for prefix in PREFIXES:
        for folder, kind in (("Cellar", "formula"), ("Caskroom", "cask")):
            base = ctx.path(prefix, folder)
            if not os.path.isdir(base):
                continue
            found = True
            for name in sorted(os.listdir(base)):
                versions: list[str | None]
                try:
                    versions = sorted(v for v in os.listdir(os.path.join(base, name)) if not v.startswith("."))
                except (NotADirectoryError, FileNotFoundError):
                    continue  # a stray file (.DS_Store, a link to nowhere) is not a formula, and stops nothing
                except OSError:
                    versions = [None]  # unreadable, yet installed: still observed, under its name
                if versions:
                    observations.append(
                        Observation("brew", KIND_PACKAGE, name, version=versions[-1],
                                    path=os.path.join(base, name), extra={"kind": kind})
                    )
    if not found:
        raise SourceUnavailable("no Homebrew installation")
    return observations
