"""RPM packages, listed by the `rpm` tool itself (so every database backend is read right).

The command is an argument list, never a shell string; `--root` points it at a scan root.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from banwatch.observations import KIND_PACKAGE, Observation
from banwatch.sources.base import SourceContext, SourceUnavailable

DATABASE_DIRS = ("var/lib/rpm", "usr/lib/sysimage/rpm")
QUERY_FORMAT = "%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\t%{ARCH}\\n"


def collect(ctx: SourceContext) -> list[Observation]:
    databases = [ctx.path(d) for d in DATABASE_DIRS if os.path.isdir(ctx.path(d)) and os.listdir(ctx.path(d))]
    if not databases:
        raise SourceUnavailable("no rpm database")
    rpm = shutil.which("rpm")
    if rpm is None:
        raise RuntimeError(f"an rpm database is at {databases[0]} but the rpm tool is not installed")
    result = subprocess.run(
        [rpm, "--root", ctx.root, "--dbpath", "/" + os.path.relpath(databases[0], ctx.root),
         "-qa", "--queryformat", QUERY_FORMAT],
        capture_output=True, text=True, timeout=ctx.timeout, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"rpm -qa failed ({result.returncode}): {result.stderr.strip()[:300]}")
    return parse_query_output(result.stdout)


def parse_query_output(text: str) -> list[Observation]:
    observations = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 3 or parts[0].startswith("gpg-pubkey"):
            continue
        name, version, arch = parts
        if version.startswith("0:"):
            version = version[2:]
        observations.append(Observation("rpm", KIND_PACKAGE, name, version=version, extra={"arch": arch}))
    return sorted(observations, key=lambda obs: obs.name)
