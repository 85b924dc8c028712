"""Bring the lab's API stand-ins up and down: their certificates, the lab's credentials for them
(a service account whose key only the lab has, vault-encrypted with a password file the lab
writes: never a real secret), the devices they know (the inventory's managed hosts), the process.

Everything lives in `<lab dir>/standins/`; the policies and devices the stand-ins hold stay
there across restarts (android.json), so a second push reads what the first wrote.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from banwatch.control.managed.export import export, read_devices
from banwatch.core.atomic import write_atomic
from banwatch_lab import procs
from banwatch_lab.layout import STANDIN_OCTET, LabPaths, network_octets
from banwatch_lab.standins.google import TOKEN_PATH
from banwatch_lab.state import LabError

GOOGLE_PORT, GRAPH_PORT = 8443, 8444
READY_TIMEOUT = 20.0
SERVICE_ACCOUNT = "banwatch-push@banwatch-lab.iam.gserviceaccount.com"
# The lab's Entra ID tenant and app registration (ids made up for the lab, never a real tenant's).
TENANT = str(uuid.uuid5(uuid.NAMESPACE_URL, "banwatch-lab/tenant"))
CLIENT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "banwatch-lab/app-registration"))
DEFAULT_POLICY = "default"


@dataclass(frozen=True)
class StandinPaths:
    root: str

    def file(self, name: str) -> str:
        return os.path.join(self.root, name)

    @classmethod
    def of(cls, lab_dir: str) -> StandinPaths:
        return cls(os.path.join(LabPaths(lab_dir).root, "standins"))


def running(paths: StandinPaths) -> dict[str, Any] | None:
    """The running stand-ins' state (pid, start time, URLs), or None."""
    try:
        with open(paths.file("state.json"), encoding="utf-8") as handle:
            state = json.load(handle)
    except (OSError, ValueError):
        return None
    return state if procs.alive(state.get("pid"), state.get("started")) else None


def up(lab_dir: str, network: str, inventory: str, policy: str) -> tuple[dict[str, Any], bool]:
    """Start the stand-ins, or leave running ones as they are. Returns (state, started now)."""
    paths = StandinPaths.of(lab_dir)
    state = running(paths)
    if state is not None:
        return state, False
    second, third = network_octets(network)
    address = f"127.{second}.{third}.{STANDIN_OCTET}"
    os.makedirs(paths.root, mode=0o700, exist_ok=True)
    from banwatch_lab.standins.tls import write_certificates  # noqa: PLC0415 - cryptography's x509 only here

    ca, certificate, key = write_certificates(paths.root, address)
    base = f"https://{address}:{GOOGLE_PORT}"
    public_key = _service_account(paths, base + TOKEN_PATH)
    seed(paths, inventory, policy)
    graph = f"https://{address}:{GRAPH_PORT}"
    secret = _client_secret(paths)
    config = {"address": address, "certificate": certificate, "key": key,
              "google": {"port": GOOGLE_PORT, "token_url": base + TOKEN_PATH,
                         "accounts": {SERVICE_ACCOUNT: public_key}},
              "graph": {"port": GRAPH_PORT, "tenant": TENANT,
                        "clients": {CLIENT_ID: hashlib.sha256(secret.encode()).hexdigest()}}}
    write_atomic(paths.file("config.json"), json.dumps(config, indent=2).encode(), 0o600)
    _write_push_vars(paths, {"banwatch_push_android_api_url": base, "banwatch_push_graph_login_url": graph,
                             "banwatch_push_graph_api_url": f"{graph}/v1.0",
                             "banwatch_push_graph_beta_api_url": f"{graph}/beta",
                             "banwatch_push_graph_tenant_id": TENANT,
                             "banwatch_push_graph_client_id": CLIENT_ID, "banwatch_push_ca_path": ca},
                     {"banwatch_push_android_service_account": _read(paths.file("service-account.json")),
                      "banwatch_push_graph_client_secret": secret.encode()})
    with open(paths.file("server.log"), "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "banwatch_lab.standins.server", "--dir", paths.root],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    state = {"pid": process.pid, "started": procs.start_time(process.pid), "address": address,
             "android_api_url": base, "graph_url": graph, "ca": ca, "push_vars": paths.file("push.yml"),
             "vault_password_file": paths.file("vault-password")}
    write_atomic(paths.file("state.json"), json.dumps(state, indent=2).encode(), 0o600)
    for port in (GOOGLE_PORT, GRAPH_PORT):
        _wait_ready(address, port, ca, process)
    return state, True


def down(lab_dir: str) -> int:
    """Stop the stand-ins; how many processes were running."""
    paths = StandinPaths.of(lab_dir)
    state = running(paths)
    if state is None:
        return 0
    return procs.stop([(state["pid"], state["started"])])


def _wait_ready(address: str, port: int, ca: str, process: subprocess.Popen[bytes]) -> None:
    """Until a TLS handshake with the lab CA succeeds: the server is listening and serving."""
    context = ssl.create_default_context(cafile=ca)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LabError(f"the stand-ins exited at start ({process.returncode}); "
                           f"see {os.path.dirname(ca)}/server.log")
        try:
            with socket.create_connection((address, port), timeout=1) as raw, \
                    context.wrap_socket(raw, server_hostname=address):
                return
        except OSError:
            time.sleep(0.05)
    raise LabError(f"the stand-ins did not answer on {address}:{port} within {READY_TIMEOUT:.0f} s")


def _service_account(paths: StandinPaths, token_url: str) -> str:
    """The lab's service-account key file (made once), pointed at this token URL; its public key."""
    key_file = paths.file("service-account.json")
    if os.path.exists(key_file):
        with open(key_file, encoding="utf-8") as handle:
            pem = json.load(handle)["private_key"]
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    account = {"type": "service_account", "project_id": "banwatch-lab", "private_key_id": secrets.token_hex(20),
               "private_key": pem, "client_email": SERVICE_ACCOUNT, "client_id": "100000000000000000001",
               "token_uri": token_url}
    write_atomic(key_file, json.dumps(account, indent=2).encode(), 0o600)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def seed(paths: StandinPaths, inventory: str, policy: str) -> None:
    """The stand-ins' first state, from the inventory: its Android and Intune devices (kept once made)."""
    _seed_devices(paths, inventory)
    _seed_graph(paths, inventory, policy)


def _seed_devices(paths: StandinPaths, inventory: str) -> None:
    """The inventory's Android devices, enrolled on the enterprise's default policy (kept once made)."""
    state_file = paths.file("android.json")
    if os.path.exists(state_file):
        return
    state: dict[str, dict[str, Any]] = {"policies": {}, "devices": {}}
    for device in read_devices(inventory):
        if device.manager != "android_management":
            continue
        enterprise = f"enterprises/{device.android_enterprise}"
        default = f"{enterprise}/policies/{DEFAULT_POLICY}"
        state["policies"][default] = {"name": default, "version": "1", "playStoreMode": "BLACKLIST"}
        state["devices"][f"{enterprise}/devices/{device.device_id}"] = {
            "name": f"{enterprise}/devices/{device.device_id}", "policyName": default, "state": "ACTIVE",
            "managementMode": "PROFILE_OWNER" if device.enrolment != "fully_managed" else "DEVICE_OWNER",
            "ownership": "PERSONALLY_OWNED" if device.enrolment == "personally_owned" else "COMPANY_OWNED",
            "appliedState": "ACTIVE", "appliedPolicyName": default, "appliedPolicyVersion": "1",
            "lastStatusReportTime": _now(), "applicationReports": []}
    write_atomic(state_file, json.dumps(state, indent=2, sort_keys=True).encode(), 0o600, durable=False)


# What a test may set, per manager: the state file and the collection its devices are in.
DEVICE_STATE = {"android_management": ("android.json", "devices"), "intune": ("graph.json", "managedDevices")}


def set_standin_devices(lab_dir: str, manager: str, changes: dict[str, dict[str, Any]],
                        detected_apps: dict[str, dict[str, Any]] | None = None) -> None:
    """Set fields of a stand-in's devices, by the manager's device id (their apps, their last
    report), as the devices would report them; for Intune also the detected apps (by app id, each
    with its managedDevices' ids). The running stand-in reads the file again."""
    file_name, collection = DEVICE_STATE[manager]
    state_file = StandinPaths.of(lab_dir).file(file_name)
    with open(state_file, encoding="utf-8") as handle:
        state = json.load(handle)
    by_id = {key.rsplit("/", 1)[-1]: key for key in state[collection]}
    unknown = sorted(set(changes) - set(by_id))
    if unknown:
        raise LabError(f"the {manager} stand-in has no device {unknown[0]}; it has {', '.join(sorted(by_id))}")
    for device_id, fields in changes.items():
        state[collection][by_id[device_id]].update(fields)
    if detected_apps is not None:
        state["detectedApps"] = detected_apps
    write_atomic(state_file, json.dumps(state, indent=2, sort_keys=True).encode(), 0o600, durable=False)


def _seed_graph(paths: StandinPaths, inventory: str, policy: str) -> None:
    """The Entra ID groups the Intune documents are assigned to, as an operator creates them (the
    groups an export of this inventory names), and the inventory's Intune devices, synced now with
    no app detected yet (kept once made)."""
    state_file = paths.file("graph.json")
    if os.path.exists(state_file):
        return
    with tempfile.TemporaryDirectory() as scratch:
        outcome = export(policy, inventory, os.path.join(scratch, "out"), version=1,
                         issued_at=dt.datetime.now(dt.timezone.utc), dry_run=True)
    names = sorted({name for part in outcome.exports if part.manager == "intune"
                    for name in part.extra.get("groups", {})})
    state = {"groups": {str(uuid.uuid5(uuid.NAMESPACE_URL, f"banwatch-lab/group/{name}")): name for name in names},
             "deviceConfigurations": {}, "deviceCompliancePolicies": {}, "assignments": {},
             "managedDevices": {device.device_id: {
                 "deviceName": device.name, "complianceState": "compliant", "managedDeviceOwnerType": "company",
                 "operatingSystem": "iOS" if device.enrolment.startswith("ios") else "Windows",
                 "lastSyncDateTime": _now()}
                 for device in read_devices(inventory) if device.manager == "intune"},
             "detectedApps": {}}
    write_atomic(state_file, json.dumps(state, indent=2, sort_keys=True).encode(), 0o600, durable=False)


def _now() -> str:
    """A report time as both APIs write it (RFC 3339, UTC): a seeded device reported just now."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _client_secret(paths: StandinPaths) -> str:
    """The lab app registration's client secret, made once."""
    secret_file = paths.file("client-secret")
    if not os.path.exists(secret_file):
        write_atomic(secret_file, secrets.token_urlsafe(30).encode(), 0o600)
    return _read(secret_file).decode()


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _write_push_vars(paths: StandinPaths, plain: dict[str, str], secret: dict[str, bytes]) -> None:
    """The push's variables for the stand-ins, the credentials vault-encrypted with a lab-only
    password, as an operator keeps the real ones."""
    from ansible.parsing.vault import VaultLib, VaultSecret  # noqa: PLC0415 - Ansible only for this file

    password_file = paths.file("vault-password")
    if not os.path.exists(password_file):
        write_atomic(password_file, secrets.token_urlsafe(32).encode() + b"\n", 0o600)
    vault = VaultLib([("default", VaultSecret(_read(password_file).strip()))])
    lines = ["# Written by banwatch-lab standins up: the push's variables for the lab's stand-ins.",
             "# The credentials are the lab's own (vault-encrypted with vault-password beside this file).",
             *(f"{name}: {json.dumps(value)}" for name, value in plain.items())]
    for name, value in secret.items():
        lines += [f"{name}: !vault |", *(f"  {line}" for line in vault.encrypt(value).decode().splitlines())]
    write_atomic(paths.file("push.yml"), ("\n".join(lines) + "\n").encode(), 0o600)
