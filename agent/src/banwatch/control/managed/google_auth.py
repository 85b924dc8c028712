"""A Google service account's signed JWT, exchanged at its token_uri for an access token.

The OAuth 2.0 JWT bearer grant (RFC 7523) as Google's service accounts use it: an RS256 JWT
signed with the account's private key, `iss` its client_email, `scope` the API's scope, `aud`
its token_uri. The key never leaves the control node; messages never quote it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from banwatch.control.managed.push import PushRefused

ANDROID_SCOPE = "https://www.googleapis.com/auth/androidmanagement"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Google accepts assertions that live at most an hour.
LIFETIME_SECONDS = 3600
_REQUIRED = ("client_email", "private_key", "token_uri")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def service_account_fields(account: Any, where: str) -> tuple[str, rsa.RSAPrivateKey, str]:
    """(client_email, private key, token_uri) of a service-account key file's JSON."""
    fix = "fix: set it to the JSON key file Google issued for the service account (vault-encrypted)"
    if isinstance(account, str):  # the key file's text, as `ansible-vault encrypt_string` keeps it
        try:
            account = json.loads(account)
        except ValueError:
            raise PushRefused(f"{where}: not JSON; {fix}") from None
    if not account:
        raise PushRefused(f"{where} is not set; {fix}")
    if not isinstance(account, Mapping):
        raise PushRefused(f"{where}: not a service-account key (a JSON object); {fix}")
    if account.get("type") != "service_account":
        raise PushRefused(f"{where}: 'type' is not 'service_account'; {fix}")
    for name in _REQUIRED:
        if not isinstance(account.get(name), str) or not account[name]:
            raise PushRefused(f"{where}: no '{name}'; {fix}")
    if not account["token_uri"].startswith("https://"):
        raise PushRefused(f"{where}: 'token_uri' is not an https URL; {fix}")
    try:
        key = serialization.load_pem_private_key(account["private_key"].encode(), password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise PushRefused(f"{where}: 'private_key' is not an RSA private key in PEM; {fix}")
    return account["client_email"], key, account["token_uri"]


def assertion(account: Any, scope: str, now: int, where: str) -> tuple[str, str]:
    """(the signed JWT, the token_uri to post it to)."""
    email, key, token_uri = service_account_fields(account, where)
    header = {"alg": "RS256", "typ": "JWT"}
    claims = {"iss": email, "scope": scope, "aud": token_uri, "iat": now, "exp": now + LIFETIME_SECONDS}
    signing_input = ".".join(b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims))
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}", token_uri
