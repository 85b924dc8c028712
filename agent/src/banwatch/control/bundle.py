"""The offline install bundle devices get: the banwatch wheel, its dependencies' wheels and pip.

The wheel holds the device's part of banwatch only (`banwatch.core` and `banwatch.device`, as
`pyproject-device.toml` declares them): a device never carries the control node's, the fleet's
or the lab's code.

Devices have no internet access, so the control node builds everything they need once, from
the agent's source and a local cache of dependency wheels, into one tar archive. A bundle is
named by a digest of its inputs (source files and cached wheels), so an unchanged source is
never rebuilt, and the digest is the release's identity on the device: the same version built
from different source is caught there instead of silently replacing a release.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import asdict, dataclass

from banwatch.core.atomic import write_atomic
from banwatch.core.errors import InputError

# Reproducible wheels: zip timestamps come from here instead of the clock.
SOURCE_DATE_EPOCH = "315532800"
SKIPPED_DIRS = {"__pycache__", "build", "dist", ".pytest_cache"}
DEVICE_PROJECT = "pyproject-device.toml"
# What of the source tree goes into the device's wheel: the version and the two packages it runs.
DEVICE_TREE = ("src/banwatch/__init__.py", "src/banwatch/core/", "src/banwatch/device/")
_AGENT_WHEEL = re.compile(r"^banwatch-([^-]+)-py3-none-any\.whl$")


@dataclass(frozen=True)
class Bundle:
    version: str  # the agent version inside
    digest: str  # sha256 of the inputs: the release's identity
    archive: str  # absolute path of the tar
    python: str  # "3.11": the Python the compiled wheels are for
    wheels: tuple[str, ...]
    built: bool  # False when an existing bundle was reused

    def document(self) -> dict[str, object]:
        return {**asdict(self), "wheels": list(self.wheels)}


def _source_files(source: str) -> list[str]:
    """The files of the device's wheel, relative to `source`, and its project file."""
    files = [DEVICE_PROJECT]
    for folder, dirs, names in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info"))
        for name in names:
            relative = os.path.relpath(os.path.join(folder, name), source).replace(os.sep, "/")
            if not name.endswith(".pyc") and relative.startswith(DEVICE_TREE):
                files.append(relative)
    return sorted(files)


def _dependency_wheels(find_links: str) -> list[str]:
    try:
        names = sorted(n for n in os.listdir(find_links) if n.endswith(".whl") and not _AGENT_WHEEL.match(n))
    except OSError as exc:
        raise InputError.single(find_links, f"cannot read the wheel cache: {exc.strerror}",
                                "run 'make setup', which downloads the dependency wheels") from None
    if not any(n.startswith("pip-") for n in names):
        raise InputError.single(find_links, "no pip wheel in the wheel cache",
                                "run 'make setup', which downloads pip and the dependency wheels")
    return names


def input_digest(source: str, find_links: str) -> str:
    """sha256 over every source file and every cached wheel, by name and content."""
    digest = hashlib.sha256()
    for folder, names in ((source, _source_files(source)), (find_links, _dependency_wheels(find_links))):
        for name in names:
            digest.update(name.encode() + b"\0")
            with open(os.path.join(folder, name), "rb") as handle:
                digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()


def build_bundle(source: str, find_links: str, out: str) -> Bundle:
    """The bundle for `source`, built with pip from `find_links` only (no network), or reused."""
    if not os.path.isfile(os.path.join(source, DEVICE_PROJECT)):
        raise InputError.single(source, f"not the agent's source (no {DEVICE_PROJECT})",
                                "point it at the repository's agent/ directory")
    source, find_links, out = (os.path.abspath(p) for p in (source, find_links, out))
    digest = input_digest(source, find_links)
    manifest_path = os.path.join(out, f"bundle-{digest[:16]}.json")
    cached = _read_manifest(manifest_path, digest)
    if cached is not None:
        return cached
    with tempfile.TemporaryDirectory(prefix="banwatch-bundle-") as scratch:
        tree = os.path.join(scratch, "src")
        for name in _source_files(source):  # a clean copy of the device's part: no stale build/ or egg-info
            copy = os.path.join(tree, "pyproject.toml" if name == DEVICE_PROJECT else name)
            os.makedirs(os.path.dirname(copy), exist_ok=True)
            shutil.copy2(os.path.join(source, name), copy)
        wheels = os.path.join(scratch, "wheels")
        _pip_wheel(tree, find_links, wheels)
        for name in _dependency_wheels(find_links):
            if name.startswith("pip-"):
                shutil.copy2(os.path.join(find_links, name), wheels)
        names = sorted(os.listdir(wheels))
        versions = [m.group(1) for m in map(_AGENT_WHEEL.match, names) if m]
        if len(versions) != 1:
            raise InputError.single(source, f"pip built {names}, not one banwatch wheel", "check the agent's source")
        python = f"{sys.version_info.major}.{sys.version_info.minor}"
        archive = os.path.join(out, f"banwatch-agent-{versions[0]}-py{python}-{digest[:16]}.tar")
        os.makedirs(out, exist_ok=True)
        write_atomic(archive, _tar(wheels, names))
    bundle = Bundle(versions[0], digest, archive, python, tuple(names), built=True)
    write_atomic(manifest_path, json.dumps(bundle.document(), indent=2).encode())
    return bundle


def _read_manifest(path: str, digest: str) -> Bundle | None:
    try:
        with open(path, encoding="utf-8") as handle:
            doc = json.load(handle)
        if doc["digest"] != digest or not os.path.isfile(doc["archive"]):
            return None
        return Bundle(doc["version"], digest, doc["archive"], doc["python"], tuple(doc["wheels"]), built=False)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _pip_wheel(tree: str, find_links: str, wheels: str) -> None:
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-index", "--no-build-isolation",
               "--disable-pip-version-check", "--find-links", find_links, "--wheel-dir", wheels, tree]
    env = {**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, "PIP_NO_INPUT": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise InputError.single(tree, f"pip could not build the agent's wheels offline: {last}",
                                "run 'make setup' to refresh the wheel cache, then try again")


def _tar(folder: str, names: list[str]) -> bytes:
    """An uncompressed tar (wheels are zips already) with fixed owners and times: same input, same bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            info = tar.gettarinfo(os.path.join(folder, name), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = int(SOURCE_DATE_EPOCH)
            info.mode = 0o644
            with open(os.path.join(folder, name), "rb") as handle:
                tar.addfile(info, handle)
    return buffer.getvalue()
