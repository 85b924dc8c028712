"""Moments as text: canonical UTC with a `Z` (`2026-11-26T15:04:05Z`), as every banwatch
document and store keeps them. Canonical texts sort as the moments do, so comparing two is
a string comparison. Its own module, so a quick command that stamps a time (a policy
install, a fleet view) loads nothing else."""

from __future__ import annotations

import datetime as dt


def isoformat(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(text: str) -> dt.datetime:
    """The moment an `isoformat` text (or any ISO 8601 time with a zone) names."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
