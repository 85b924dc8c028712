"""What every manager's compiler shares: each managed device's effective bans, and the documents
they come to, one per set of devices whose bans are equal.

A device's bans are the ban list's banned apps that the manager can name (an Android package,
an iOS bundle id, ...) less those the exemptions in force for it cover, by the same rules as
a device's signed policy (control/effective.py): approved, unexpired, and never reaching a
never-exemptable host (that is refused, as `policy build` refuses it). Apps under review are
never blocked. A relaxed document depends on the exemptions that relaxed it: it is right only
through the earliest of their expiry days, and the next export after that moves its devices to
the stricter document.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from banwatch.control.effective import host_exemptions, never_exempt_conflicts
from banwatch.control.managed.inventory import ManagedDevice
from banwatch.control.policy_source import PolicySource
from banwatch.core.errors import InputError
from banwatch.core.policy.model import App, Exemption

# Every UUID banwatch derives (uuid5 of a document's content): the same input, the same UUID.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "banwatch.export")
# A document id longer than this ends in a digest of its exempted apps instead of their names.
MAX_ID_LENGTH = 60


def stable_uuid(*parts: str) -> str:
    """The UUID of `parts`, the same on every run and machine."""
    return str(uuid.uuid5(NAMESPACE, "\0".join(parts))).upper()


@dataclass
class Document:
    """One document of a manager: the apps it blocks and the devices that get it."""

    id: str
    variant: str
    apps: tuple[App, ...]
    exempted: tuple[str, ...]
    devices: list[ManagedDevice] = field(default_factory=list)
    depends_on: dict[str, Exemption] = field(default_factory=dict)

    @property
    def valid_until(self) -> dt.date | None:
        """The last day (UTC) this document is right: the earliest expiry among the exemptions
        that relaxed it; None for a document no exemption relaxed."""
        return min((e.expires for e in self.depends_on.values()), default=None)


def plan_documents(source: PolicySource, devices: Iterable[ManagedDevice], *, today: dt.date,
                   variant: Callable[[ManagedDevice], str | None], names: Callable[[App], tuple[str, ...]],
                   ) -> tuple[list[Document], list[ManagedDevice]]:
    """The documents for `devices` (sorted by id, each one's devices by name), and the devices
    that get none (`variant` is None for them: the manager cannot block anything there).
    `names(app)` is what the manager knows the app by; an app it cannot name is left out."""
    devices = list(devices)
    conflicts = never_exempt_conflicts(source, [d.host for d in devices])
    if conflicts:
        raise InputError(conflicts)
    nameable = [app for app in source.apps if app.banned and names(app)]
    documents: dict[tuple[str, tuple[str, ...]], Document] = {}
    without: list[ManagedDevice] = []
    # Devices of one kind in the same groups that no exemption names have the same bans: worked
    # out once per such set (measured: a quarter of the compile time at 100,000 devices).
    named = {host for exemption in source.exemptions for host in exemption.hosts}
    by_groups: dict[tuple[str, frozenset[str]], Document] = {}
    for device in devices:
        kind = variant(device)
        if kind is None:
            without.append(device)
            continue
        groups = None if device.name in named else (kind, frozenset(device.host.groups))
        document = by_groups.get(groups) if groups else None
        if document is None:
            document = _document_for(source, device, kind, nameable, today=today, documents=documents)
            if groups:
                by_groups[groups] = document
        document.devices.append(device)
    _unique_ids(list(documents.values()))
    ordered = sorted(documents.values(), key=lambda d: d.id)
    for document in ordered:
        document.devices.sort(key=lambda d: d.name)
    return ordered, sorted(without, key=lambda d: d.name)


def _document_for(source: PolicySource, device: ManagedDevice, kind: str, nameable: list[App], *, today: dt.date,
                  documents: dict[tuple[str, tuple[str, ...]], Document]) -> Document:
    """The document of `device`'s bans (made and kept in `documents` when it is the first), with
    the exemptions that relaxed it for the device."""
    # Per app, the exemption that relaxes it longest (the latest expiry), when several cover the device.
    relaxing = {e.app: e for e in sorted(host_exemptions(source, device.host, today), key=lambda e: e.expires)}
    exempted = tuple(app.id for app in nameable if app.id in relaxing)
    document = documents.get((kind, exempted))
    if document is None:
        document = documents[(kind, exempted)] = Document(
            document_id(kind, exempted), kind, tuple(app for app in nameable if app.id not in relaxing), exempted)
    for app_id in exempted:
        exemption = relaxing[app_id]
        document.depends_on.setdefault(exemption.id, exemption)
    return document


def document_id(variant: str, exempted: tuple[str, ...], *, hashed: bool = False) -> str:
    """`<variant>-all`, or `<variant>-except-<app ids>`: readable, and the same for the same bans;
    the exempted ids' digest instead when they are too long to read (or `hashed`)."""
    prefix = variant.replace("_", "-")
    if not exempted:
        return f"{prefix}-all"
    named = f"{prefix}-except-{'-'.join(exempted)}".replace("_", "-")
    if len(named) <= MAX_ID_LENGTH and not hashed:
        return named
    return f"{prefix}-except-{hashlib.sha256(chr(0).join(exempted).encode()).hexdigest()[:12]}"


def _unique_ids(documents: list[Document]) -> None:
    """Two exempted sets can read the same ('a-b' and 'a', 'b'): those take their digest ids."""
    seen: dict[str, int] = {}
    for document in documents:
        seen[document.id] = seen.get(document.id, 0) + 1
    for document in documents:
        if seen[document.id] > 1:
            document.id = document_id(document.variant, document.exempted, hashed=True)
