"""A host's policy as its device enforces it, made from a policy source the way the control node
builds it (the effective payload) and read back the way the device reads it (`read_compiled`),
without the signing in between: for tests of the device's detection and the fleet's views."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from banwatch.control.ansible_inventory import InventoryHost
from banwatch.control.effective import effective_payload, never_exempt_conflicts
from banwatch.control.policy_source import PolicySource
from banwatch.core import signing
from banwatch.core.policy.payload import read_compiled
from banwatch.core.policy.verify import VerifiedPolicy


def device_policy(source: PolicySource, host: str = "ws-1", groups: Iterable[str] = (), *, version: int = 1,
                  issued_at: dt.datetime | None = None) -> VerifiedPolicy:
    """A never-exemptable host's policy carries no exemption: `policy build` refuses one that would."""
    issued_at = issued_at or dt.datetime.now(dt.timezone.utc)
    inventory_host = InventoryHost(host, set(groups))
    if never_exempt_conflicts(source, [inventory_host]):
        source = replace(source, exemptions=())
    payload = effective_payload(source, inventory_host, version=version, issued_at=issued_at)
    digest = "sha256:" + hashlib.sha256(signing.canonical_json(payload)).hexdigest()
    apps, exemptions = read_compiled(payload["apps"], payload["exemptions"], "the test's payload")
    return VerifiedPolicy(payload, digest, apps, exemptions)


def policy_info(policy: VerifiedPolicy) -> dict[str, Any]:
    """What a report says of the policy it was scanned with (the device's store says more)."""
    return {"version": policy.payload.get("version"), "digest": policy.digest}
