"""core/key_pem.py writes and reads the bytes cryptography's `serialization` does, and refuses
(returns None for) every other input without raising: a key file is outside data."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from banwatch.core import key_pem, signing
from banwatch.core.errors import InputError

PEM, SPKI, PKCS8 = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo, \
    serialization.PrivateFormat.PKCS8


def test_written_as_serialization_writes_them_and_read_back():
    for _ in range(20):
        key = Ed25519PrivateKey.generate()
        public = key.public_key()
        assert key_pem.public_pem(public) == public.public_bytes(PEM, SPKI)
        assert key_pem.private_pem(key) == key.private_bytes(PEM, PKCS8, serialization.NoEncryption())
        assert key_pem.parse_public_pem(public.public_bytes(PEM, SPKI)) == public
        read = key_pem.parse_private_pem(key.private_bytes(PEM, PKCS8, serialization.NoEncryption()))
        assert read is not None and read.private_bytes_raw() == key.private_bytes_raw()


def test_other_forms_are_left_to_serialization(tmp_path):
    """An encrypted key is not key_pem's; signing.load_private_key still reads it, with its passphrase."""
    key = Ed25519PrivateKey.generate()
    encrypted = key.private_bytes(PEM, PKCS8, serialization.BestAvailableEncryption(b"s3cret"))
    assert key_pem.parse_private_pem(encrypted) is None
    path = tmp_path / "control.key"
    path.write_bytes(encrypted)
    assert signing.load_private_key(str(path), b"s3cret").private_bytes_raw() == key.private_bytes_raw()
    with pytest.raises(InputError, match="encryption and the passphrase do not agree"):
        signing.load_private_key(str(path))


def test_a_public_key_of_another_kind_is_refused_by_name(tmp_path):
    """An RSA public key (or a private key where the public one belongs) is not an Ed25519 key."""
    private = Ed25519PrivateKey.generate().private_bytes(PEM, PKCS8, serialization.NoEncryption())
    path = tmp_path / "policy.pub"
    path.write_bytes(private)
    with pytest.raises(InputError, match=r"policy\.pub: not a PEM public key of an Ed25519 key"):
        signing.load_public_key(str(path))


def agrees_with_serialization(kind: str, data: bytes) -> None:
    """What key_pem reads, serialization reads as the same key: key_pem may refuse more, never
    accept other bytes or read them as another key; and it never raises."""
    ours = (key_pem.parse_public_pem if kind == "public" else key_pem.parse_private_pem)(data)
    if ours is None:
        return
    if kind == "public":
        assert serialization.load_pem_public_key(data) == ours
    else:
        theirs = serialization.load_pem_private_key(data, password=None)
        assert isinstance(theirs, Ed25519PrivateKey) and theirs.private_bytes_raw() == ours.private_bytes_raw()


@given(st.sampled_from(["public", "private"]), st.binary(max_size=200))
def test_arbitrary_bytes_are_read_only_as_serialization_would(kind, data):
    agrees_with_serialization(kind, data)


@given(st.sampled_from(["public", "private"]), st.integers(min_value=0, max_value=120),
       st.integers(min_value=0, max_value=3), st.binary(max_size=3))
def test_an_edited_key_file_is_read_only_as_serialization_would(kind, position, removed, inserted):
    key = Ed25519PrivateKey.generate()
    pem = key_pem.public_pem(key.public_key()) if kind == "public" else key_pem.private_pem(key)
    agrees_with_serialization(kind, pem[:position] + inserted + pem[position + removed:])
