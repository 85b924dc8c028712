"""The lab's own CA and the stand-ins' server certificate (for their IP address), so the push
checks the server as it would the vendor's, trusting only the lab CA (`ca_path`)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from banwatch.core.atomic import write_atomic

VALID_DAYS = 365


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def write_certificates(folder: str, address: str) -> tuple[str, str, str]:
    """(CA certificate, server certificate, server key) in `folder`, made once per address."""
    ca_path, cert_path, key_path = (os.path.join(folder, name) for name in ("ca.pem", "server.pem", "server.key"))
    marker = os.path.join(folder, "server.address")
    if all(os.path.exists(path) for path in (ca_path, cert_path, key_path)) and \
            Path(marker).read_text(encoding="ascii") == address:
        return ca_path, cert_path, key_path
    now = dt.datetime.now(dt.timezone.utc)
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "banwatch lab CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)])).issuer_name(ca_name)
              .public_key(server_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=VALID_DAYS))
              .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
                             critical=False)
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
              .sign(ca_key, hashes.SHA256()))
    write_atomic(ca_path, ca.public_bytes(serialization.Encoding.PEM), 0o644)
    write_atomic(cert_path, server.public_bytes(serialization.Encoding.PEM), 0o644)
    write_atomic(key_path, _pem_key(server_key), 0o600)
    write_atomic(marker, address.encode(), 0o644)
    return ca_path, cert_path, key_path
