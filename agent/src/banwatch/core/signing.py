"""Ed25519 keys and signed envelopes: what the control node signs and a device verifies.

The envelope follows DSSE: `{"payloadType", "payload" (base64), "signatures": [{"keyid", "sig"}]}`,
each signature over PAE(payloadType, payload), so a signature can never be replayed as another
kind of document. Several signatures may be present (threshold-ready, for key rotation); a
verifier needs `threshold` valid signatures by keys it trusts. Key ids are the first 16 hex
digits of SHA-256 over the raw public key.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from banwatch.core import key_pem, strict_json
from banwatch.core.atomic import write_atomic
from banwatch.core.digest import sha256_hex
from banwatch.core.errors import InputError
from banwatch.core.input_file import read_input_file

POLICY_KEY_NAME = "banwatch-policy"  # banwatch-policy.key (private) and banwatch-policy.pub
MAX_KEY_BYTES = 16 * 1024
ENVELOPE_KEYS = frozenset({"payloadType", "payload", "signatures"})


class VerificationError(Exception):
    """A signed document failed a check; the message says exactly which."""


def key_id(public: Ed25519PublicKey) -> str:
    return sha256_hex(public.public_bytes_raw())[:16]


def canonical_json(document: Any) -> bytes:
    """One byte string per document: sorted keys, no spaces, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: the type is signed along with the body."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True)
class KeyFiles:
    private: str
    public: str
    key_id: str


def generate(folder: str, passphrase: bytes | None = None, name: str = POLICY_KEY_NAME) -> KeyFiles:
    """A new key pair in `folder`: the private key `<name>.key`, PKCS#8 PEM (0600, encrypted when a
    passphrase is given), the public key `<name>.pub` beside it. Refuses to overwrite an existing key."""
    os.makedirs(folder, mode=0o700, exist_ok=True)
    private_path, public_path = os.path.join(folder, f"{name}.key"), os.path.join(folder, f"{name}.pub")
    for path in (private_path, public_path):
        if os.path.exists(path):
            raise InputError.single(path, "a key is already there", "choose another --out directory; "
                                    "keys are never overwritten (rotate by adding a new key)")
    key = Ed25519PrivateKey.generate()
    write_atomic(private_path, _encrypted_pem(key, passphrase) if passphrase else key_pem.private_pem(key), 0o600)
    write_atomic(public_path, public_pem(key.public_key()), 0o644)
    return KeyFiles(private_path, public_path, key_id(key.public_key()))


def _encrypted_pem(key: Ed25519PrivateKey, passphrase: bytes) -> bytes:
    """PKCS#8 encrypted with the passphrase: only the control node's keys have one."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415 - 3.1 MB the agent never needs (key_pem)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(passphrase))


def public_pem(public: Ed25519PublicKey) -> bytes:
    return key_pem.public_pem(public)


def _read_key_file(path: str) -> bytes:
    return read_input_file(path, MAX_KEY_BYTES, "point to a PEM key file")


def load_private_key(path: str, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    data = _read_key_file(path)
    plain = key_pem.parse_private_pem(data) if passphrase is None else None
    return plain if plain is not None else _load_other_private_key(path, data, passphrase)


def _load_other_private_key(path: str, data: bytes, passphrase: bytes | None) -> Ed25519PrivateKey:
    """Any PEM private key form but the device's own (encrypted, PKCS#8 v2, or not Ed25519 at all)."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415 - 3.1 MB the agent never needs (key_pem)
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError:
        fix = "give --passphrase-file" if passphrase is None else "this key is not encrypted: drop --passphrase-file"
        raise InputError.single(path, "the key's encryption and the passphrase do not agree", fix) from None
    except ValueError:
        raise InputError.single(path, "not a PEM private key, or a wrong passphrase",
                                "check the key file and the passphrase") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError.single(path, "not an Ed25519 key", "make one with 'banwatch keys generate'")
    return key


def load_public_key(path: str) -> Ed25519PublicKey:
    return parse_public_key(_read_key_file(path), path)


def parse_public_key(data: bytes, where: str) -> Ed25519PublicKey:
    """An Ed25519 public key has one PEM form, so nothing else is one (key_pem)."""
    key = key_pem.parse_public_pem(data)
    if key is None:
        raise InputError.single(where, "not a PEM public key of an Ed25519 key",
                                "use the .pub file 'banwatch keys generate' wrote")
    return key


def read_passphrase(path: str | None) -> bytes | None:
    if path is None:
        return None
    data = _read_key_file(path).rstrip(b"\r\n")
    if not data:
        raise InputError.single(path, "the passphrase file is empty", "write the passphrase on its first line")
    return data


def sign(payload: bytes, payload_type: str, keys: Sequence[Ed25519PrivateKey]) -> dict[str, Any]:
    message = pae(payload_type, payload)
    return {
        "payloadType": payload_type,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [{"keyid": key_id(key.public_key()), "sig": base64.b64encode(key.sign(message)).decode("ascii")}
                       for key in keys],
    }


def parse_envelope(envelope_data: bytes) -> dict[str, Any]:
    """The envelope's fields, checked for shape only (nothing is verified yet)."""
    try:
        envelope = strict_json.loads(envelope_data)
    except ValueError as exc:
        raise VerificationError(f"not a signed envelope: malformed JSON ({exc})") from None
    if not isinstance(envelope, dict) or set(envelope) != ENVELOPE_KEYS:
        found = sorted(envelope) if isinstance(envelope, dict) else type(envelope).__name__
        raise VerificationError(f"not a signed envelope: expected fields {sorted(ENVELOPE_KEYS)}, found {found}")
    return envelope


def verify(envelope_data: bytes, payload_type: str, trusted: Mapping[str, Ed25519PublicKey],
           threshold: int = 1) -> bytes:
    """The payload, once `threshold` signatures by trusted keys check out; else VerificationError."""
    return verify_envelope(parse_envelope(envelope_data), payload_type, trusted, threshold)


def signature_valid(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


SignatureCheck = Callable[[Ed25519PublicKey, bytes, bytes], bool]


def verify_envelope(envelope: dict[str, Any], payload_type: str, trusted: Mapping[str, Ed25519PublicKey],
                    threshold: int = 1, *, payload: bytes | None = None,
                    signature_check: SignatureCheck = signature_valid) -> bytes:
    """`verify` for an envelope already parsed (by `parse_envelope`), so a reader parses it once;
    `payload`: the envelope's payload when the reader has decoded it already; `signature_check`:
    another Ed25519 verifier (the fleet's ingest brings a faster one)."""
    if envelope["payloadType"] != payload_type:
        raise VerificationError(f"wrong payload type {envelope['payloadType']!r}, expected {payload_type!r}")
    if payload is None:
        payload = decode_base64(envelope["payload"], "payload")
    signatures = envelope["signatures"]
    if not isinstance(signatures, list) or not signatures:
        raise VerificationError("missing signature: the envelope carries none")
    message = pae(payload_type, payload)
    good: set[str] = set()
    unknown: list[str] = []
    for index, entry in enumerate(signatures):
        if not isinstance(entry, dict) or set(entry) != {"keyid", "sig"} or not isinstance(entry["keyid"], str):
            raise VerificationError(f"signature {index + 1} is malformed: expected fields keyid and sig")
        key = trusted.get(entry["keyid"])
        if key is None:
            unknown.append(entry["keyid"])
            continue
        if not signature_check(key, decode_base64(entry["sig"], f"signature {index + 1}"), message):
            raise VerificationError(f"bad signature by key {entry['keyid']}: the content was changed "
                                    "after signing, or the signature was")
        good.add(entry["keyid"])
    if len(good) < threshold:
        detail = f"signed by unknown key(s) {', '.join(unknown)}" if unknown else "no trusted signature"
        raise VerificationError(f"{detail}; this device trusts {', '.join(sorted(trusted)) or 'no key'}"
                                + (f" and needs {threshold} signatures" if threshold > 1 else ""))
    return payload


def decode_base64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise VerificationError(f"{what} is not base64 text")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise VerificationError(f"{what} is not valid base64") from None
