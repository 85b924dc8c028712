"""RPM packages, listed by the `rpm` tool itself (so every database backend is read right).

The command is an argument list, never a shell string; `--root` points it at a scan root.
Its output is read as bytes and kept losslessly (surrogateescape), split only at `\n` and tabs,
so no name, however odd its bytes, breaks the listing or hides a package.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from banwatch.device.sources.base import SourceContext, SourceUnavailable
from banwatch.device.sources.observations import KIND_PACKAGE, Observation

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
        capture_output=True, timeout=ctx.timeout, check=False,
    )
    if result.returncode != 0:
        stderr = result.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"rpm -qa failed ({result.returncode}): {stderr[:300]}")
    return parse_query_output(result.stdout.decode("utf-8", "surrogateescape"))


def parse_query_output(text: str) -> list[Observation]:
    """One package per `NAME\tEPOCH:VERSION-RELEASE\tARCH\n` record. The two last fields are taken
    from the right, so a tab or a line break inside a name stays part of the name; only rpm's
    own key entries (named exactly gpg-pubkey) are left out."""
    observations = []
    pending: list[str] = []
    tabs = 0
    for line in text.split("\n"):
        pending.append(line)
        tabs += line.count("\t")
        if tabs < 2:
            continue  # a name with a line break in it: the record goes on in the next line
        name, version, arch = "\n".join(pending).rsplit("\t", 2)
        pending, tabs = [], 0
        if name == "gpg-pubkey" or not name:
            continue
        if version.startswith("0:"):
            version = version[2:]
        observations.append(Observation("rpm", KIND_PACKAGE, name, version=version, extra={"arch": arch}))
    rest = "\n".join(pending)
    if rest.strip("\n"):  # cut short: the name is still a package on this device
        observations.append(Observation("rpm", KIND_PACKAGE, rest, extra={"incomplete": True}))
    return sorted(observations, key=lambda obs: obs.name)
