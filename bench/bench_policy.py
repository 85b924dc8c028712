"""Build and sign per-host policies for 10,000 hosts, against signing alone; verify one policy.

Floor: sign 10,000 payloads of the same size with the cryptography library alone (Ed25519).
Measured: `banwatch policy build`'s work for 10,000 inventory hosts from the example source:
effective policy per host, canonical JSON, DSSE signature, canonical envelope (in memory; the
files are written afterwards). Targets: at most 3x the floor and under 10 s. Also: verifying
one policy as a device does (signature, shape, binding, expiry), target under 2 ms. Its signature
check is cryptography's Ed25519 (88 us of about 0.24 ms here); libsodium's takes 46 us, but would
cost the agent 0.8 MB of its 32 MB, so only the fleet's ingest uses it (fleet/signature.py).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from banwatch.control.ansible_inventory import InventoryHost
from banwatch.control.effective import build_payloads
from banwatch.control.policy_source import load_policy_source
from banwatch.core import signing
from banwatch.core.policy.payload import PAYLOAD_TYPE
from banwatch.core.policy.verify import verify_policy
from bench.common import best_of, line, verdict

HOSTS = 10_000
POLICY = Path(__file__).resolve().parent.parent / "inventory" / "example" / "policy"
ISSUED = dt.datetime(2026, 11, 25, 9, tzinfo=dt.timezone.utc)
GROUPS = ("general", "general", "general", "general", "press_office", "classified")


def main() -> list[str]:
    key = signing.Ed25519PrivateKey.generate()
    source = load_policy_source(POLICY, ISSUED.date())
    hosts = [InventoryHost(f"ws-{index:05d}.corp.example.gov", {GROUPS[index % len(GROUPS)]},
                           {"banwatch_machine_id": f"{index:032x}"}) for index in range(HOSTS)]

    def build_and_sign() -> list[bytes]:
        payloads = build_payloads(source, hosts, version=7, issued_at=ISSUED)
        return [signing.canonical_json(signing.sign(signing.canonical_json(p), PAYLOAD_TYPE, [key]))
                for p in payloads.values()]

    envelopes = build_and_sign()
    sample = signing.canonical_json(build_payloads(source, hosts[:1], version=7, issued_at=ISSUED)[hosts[0].name])
    same_size = [sample[:-1] + bytes([48 + index % 10]) for index in range(HOSTS)]

    def sign_only() -> None:
        for payload in same_size:
            key.sign(payload)

    floor = best_of(sign_only, repeat=3)
    measured = best_of(build_and_sign, repeat=3)
    trusted = {signing.key_id(key.public_key()): key.public_key()}
    now = ISSUED + dt.timedelta(hours=1)

    def verify_one() -> None:
        verify_policy(envelopes[0], trusted, machine_id=f"{0:032x}", host_name=None, now=now)

    per_verify = best_of(lambda: [verify_one() for _ in range(200)], repeat=5) / 200
    return [
        line(f"build and sign {HOSTS} host policies", measured, floor, 3.0, unit="s"),
        f"build and sign under 10 s: {measured:.2f} s {verdict(measured, 10)}",
        f"verify one policy on the device: {per_verify * 1000:.3f} ms (target < 2 ms) {verdict(per_verify, 0.002)}",
    ]


if __name__ == "__main__":
    print("\n".join(main()))
