"""The control node's build directory: the signed policies already issued, one file per host.

A new build takes the next version after the highest one found there. With `reuse_unchanged`
(what the banwatch_policy role asks for) a build whose effective content equals the previous
build's, host by host, and that is not due for renewal, issues nothing new: the previous
files stay, with their version, so a second playbook run changes nothing anywhere.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import shutil
from typing import Any

from banwatch.core import host_names, strict_json
from banwatch.core.policy.verify import MAX_POLICY_BYTES
from banwatch.core.timestamps import parse_time

POLICY_SUFFIX = ".policy.json"
# Fields that differ between two issues of the same content.
ISSUE_FIELDS = ("version", "issued_at", "expires_at", "source_digest")


def policy_file(folder: str, host: str) -> str:
    """`<folder>/<host>.policy.json`; a host name outside the rule is an InputError, never a path."""
    return host_names.host_file(folder, host, POLICY_SUFFIX)


def read_payload(path: str) -> dict[str, Any] | None:
    """The (unverified) payload of a policy this control node built, or None when unreadable."""
    try:
        with open(path, "rb") as handle:
            envelope = strict_json.loads(handle.read(MAX_POLICY_BYTES))
        payload = strict_json.loads(base64.b64decode(envelope["payload"]))
    except (OSError, ValueError, KeyError, TypeError):  # strict_json: deep nesting is a ValueError too
        return None
    return payload if isinstance(payload, dict) else None


def highest_built_version(folder: str) -> int:
    """The highest policy version among the signed files already in `folder` (0 if none)."""
    highest = 0
    for name in os.listdir(folder) if os.path.isdir(folder) else ():
        if name.endswith(POLICY_SUFFIX):
            version = (read_payload(os.path.join(folder, name)) or {}).get("version")
            if isinstance(version, int) and not isinstance(version, bool):
                highest = max(highest, version)
    return highest


def _content(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in payload.items() if key not in ISSUE_FIELDS}


def reusable_version(previous: str, payloads: dict[str, dict[str, Any]], *, now: dt.datetime,
                     renew_before: dt.timedelta) -> int | None:
    """The version of the previous build when it holds exactly these contents for these hosts,
    all of one version and none expiring within `renew_before`; otherwise None."""
    versions = set()
    for host, payload in payloads.items():
        old = read_payload(policy_file(previous, host))
        if old is None or _content(old) != _content(payload):
            return None
        try:
            if parse_time(old["expires_at"]) - now < renew_before:
                return None
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        versions.add(old.get("version"))
    if len(versions) != 1:
        return None
    version = versions.pop()
    return version if isinstance(version, int) else None


def copy_previous(previous: str, out: str, hosts: list[str]) -> None:
    """Put the previous build's files for `hosts` into `out` (a no-op when they are the same folder)."""
    if os.path.abspath(previous) == os.path.abspath(out):
        return
    os.makedirs(out, exist_ok=True)
    for host in hosts:
        shutil.copyfile(policy_file(previous, host), policy_file(out, host))
