"""What the export that the managers were given says a managed device should run: its manager's
manifest (`<export>/<manager>/manifest.json`, written by `banwatch export`): the policy version,
each device's document, and the exemptions each document carries (`depends_on`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from banwatch.core import strict_json
from banwatch.core.errors import InputError

MANIFEST_FILE = "manifest.json"  # as control/managed/manifest.py writes it
MAX_MANIFEST_BYTES = 512 * 1024 * 1024  # 100,000 devices' manifest is about 30 MB


@dataclass(frozen=True)
class ExportView:
    policy_version: int
    documents: dict[str, tuple[str, ...]]  # document id -> the exemption ids it carries
    assigned: dict[str, str | None]  # host -> its document (None: the manager cannot block there)

    def carried(self, document: str | None) -> tuple[str, ...]:
        return self.documents.get(document, ()) if document else ()


def load_export(folder: str, manager: str) -> ExportView:
    """The manager's part of the export in `folder`; InputError naming the manifest when it is not one."""
    path = os.path.join(folder, manager, MANIFEST_FILE)

    def bad(message: str) -> InputError:
        return InputError.single(path, message, "give --export the folder 'banwatch export' wrote for these "
                                 "managers (or name it as 'export' in the fleet configuration)")

    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise bad(f"cannot be read ({exc.strerror})") from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise bad(f"is larger than {MAX_MANIFEST_BYTES // 2**20} MiB")
    try:
        manifest = strict_json.loads(data)
    except ValueError as exc:
        raise bad(str(exc)) from None
    try:
        return _view(manifest, manager)
    except (TypeError, KeyError, ValueError) as exc:
        raise bad(f"is not a manifest of {manager} ({exc})") from None


def _view(manifest: Any, manager: str) -> ExportView:
    if manifest.get("manager") != manager:
        raise ValueError(f"manager {manifest.get('manager')!r}")
    version = manifest["policy_version"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError("policy_version is not a whole number")
    documents = {_word(d["id"]): tuple(_word(e) for e in d["depends_on"]) for d in manifest["documents"]}
    assigned = {_word(host): None if entry["document"] is None else _word(entry["document"])
                for host, entry in manifest["devices"].items()}
    return ExportView(version, documents, assigned)


def _word(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{value!r} is not a name")
    return value
