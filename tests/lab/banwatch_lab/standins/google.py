"""The Android Management API stand-in: Google's OAuth token endpoint (the JWT bearer grant a
service account uses), `enterprises.policies` / `enterprises.devices` get and patch, and
`enterprises.devices.list`: the listing the fleet import reads, in pages (`pageSize`, at most 100,
10 when unset, as the API says; an opaque `pageToken`).

Bodies are checked against the discovery document's Policy and Device schemas (closed objects:
an unknown field, a wrong type or enum value is a 400). Errors are Google's JSON error bodies,
`{"error": {"code", "message", "status"}}`; the token endpoint answers as OAuth 2.0 does,
`{"error", "error_description"}`. State (policies, devices) is a JSON file, written after each
change, so a second push reads what the first wrote and a test can read it too; it is read again
when the file changes, so a test sets a device's apps or last report by writing it. Each listing
page is checked against the discovery document's ListDevicesResponse before it is served: a
device a test wrote wrong is the stand-in's 500 (and its log), never a page Google could not send.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from banwatch_lab.standins import discovery
from banwatch_lab.standins.http import Request, Response, StateFile, injected_fault, json_body

SCOPE = "https://www.googleapis.com/auth/androidmanagement"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_PATH = "/token"  # noqa: S105 - the token endpoint's path, no secret
TOKEN_SECONDS = 3599
CLOCK_SKEW = 300
MAX_ASSERTION_SECONDS = 3600
STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
_RESOURCE = re.compile(r"^/v1/(enterprises/([^/]+)/(policies|devices)/([^/]+))$")
_LISTING = re.compile(r"^/v1/enterprises/([^/]+)/devices$")
PAGE_SIZE, MAX_PAGE_SIZE = 10, 100


def google_error(status: int, message: str) -> Response:
    return Response(status, {"error": {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN")}})


def oauth_error(error: str, description: str) -> Response:
    return Response(400, {"error": error, "error_description": description})


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class AndroidStandin(StateFile):
    """One enterprise's worth of the API, for the service accounts whose public keys it holds."""

    def __init__(self, state_file: str, token_url: str, accounts: Mapping[str, str], *,
                 faults_file: str | None = None, clock: Callable[[], float] = time.time) -> None:
        self.state_file, self.token_url, self.faults_file, self.clock = state_file, token_url, faults_file, clock
        self.accounts = {email: serialization.load_pem_public_key(pem.encode()) for email, pem in accounts.items()}
        StateFile.__init__(self, state_file)
        self.tokens: dict[str, float] = {}

    def __call__(self, request: Request) -> Response:
        if request.path == TOKEN_PATH:
            return self._token(request) if request.method == "POST" else google_error(404, "Not found.")
        if not self._authorised(request):
            return google_error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token.")
        fault = injected_fault(self.faults_file, request)
        if fault is not None:
            return google_error(fault, f"Injected failure for {request.method} {request.path}.")
        self._reload()
        listing = _LISTING.match(request.path)
        if listing is not None and request.method == "GET":
            return self._list_devices(listing.group(1), request.query)
        match = _RESOURCE.match(request.path)
        if match is None or request.method not in ("GET", "PATCH"):
            return google_error(404, "Method not found.")
        name, enterprise, collection, _ = match.groups()
        if not any(key.startswith(f"enterprises/{enterprise}/") for key in self.state["devices"]):
            return google_error(403, f"Caller does not have access to enterprises/{enterprise}.")
        stored = self.state[collection].get(name)
        if request.method == "GET":
            return Response(200, stored) if stored is not None else google_error(404, f"Resource {name} not found.")
        parsed, body = json_body(request.body)
        if not parsed:
            return google_error(400, "Invalid JSON payload received.")
        if collection == "policies":
            return self._patch_policy(name, body, request.query)
        return self._patch_device(name, enterprise, body, request.query, stored)

    # --- OAuth 2.0: the JWT bearer grant -----------------------------------------------------

    def _token(self, request: Request) -> Response:
        try:
            form = parse_qs(request.body.decode("ascii"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            return oauth_error("invalid_request", "The request body is not application/x-www-form-urlencoded.")
        if form.get("grant_type") != [JWT_BEARER] or len(form.get("assertion", [])) != 1:
            return oauth_error("unsupported_grant_type", "Invalid grant_type or no assertion.")
        problem = self._assertion_problem(form["assertion"][0])
        if problem is not None:
            return oauth_error("invalid_grant", problem)
        token = "ya29.lab-" + secrets.token_urlsafe(24)
        self.tokens[token] = self.clock() + TOKEN_SECONDS
        return Response(200, {"access_token": token, "expires_in": TOKEN_SECONDS, "token_type": "Bearer"})

    def _assertion_problem(self, assertion: str) -> str | None:
        parts = assertion.split(".")
        if len(parts) != 3:
            return "Invalid JWT: not three parts."
        try:
            header, claims = (json.loads(_b64url(part)) for part in parts[:2])
            signature = _b64url(parts[2])
        except (ValueError, binascii.Error):
            return "Invalid JWT: a part is not base64url JSON."
        if not isinstance(header, dict) or header.get("alg") != "RS256" or not isinstance(claims, dict):
            return "Invalid JWT: alg must be RS256."
        key = self.accounts.get(claims.get("iss")) if isinstance(claims.get("iss"), str) else None
        if not isinstance(key, rsa.RSAPublicKey):
            return "Invalid JWT: iss is no service account of this project."
        try:
            key.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, UnicodeEncodeError):
            return "Invalid JWT Signature."
        if claims.get("aud") != self.token_url:
            return f"Invalid JWT: aud must be {self.token_url}."
        if SCOPE not in str(claims.get("scope", "")).split():
            return f"Invalid JWT: scope must include {SCOPE}."
        iat, exp, now = claims.get("iat"), claims.get("exp"), self.clock()
        if not isinstance(iat, int) or not isinstance(exp, int) or isinstance(iat, bool) or isinstance(exp, bool):
            return "Invalid JWT: iat and exp must be integers."
        if exp <= now or iat > now + CLOCK_SKEW or exp - iat > MAX_ASSERTION_SECONDS:
            return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
        return None

    def _authorised(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme == "Bearer" and self.tokens.get(token, 0) > self.clock()

    # --- enterprises.policies.patch, enterprises.devices.patch --------------------------------

    def _patch_policy(self, name: str, body: Any, query: Mapping[str, list[str]]) -> Response:
        if set(query) - {"updateMask"}:
            return google_error(400, f"Unknown query parameter {sorted(set(query) - {'updateMask'})[0]!r}.")
        if "updateMask" in query:
            return google_error(400, "stand-in: only a full replacement (no updateMask) is implemented.")
        problem = discovery.problem("Policy", body)
        if problem is not None:
            return google_error(400, problem)
        if "name" in body and body["name"] != name:
            return google_error(400, f"Policy name {body['name']!r} does not match {name}.")
        earlier = self.state["policies"].get(name)
        version = int(earlier["version"]) + 1 if earlier else 1
        self.state["policies"][name] = {**body, "name": name, "version": str(version)}
        self._save()
        return Response(200, self.state["policies"][name])

    def _patch_device(self, name: str, enterprise: str, body: Any, query: Mapping[str, list[str]],
                      stored: dict[str, Any] | None) -> Response:
        if stored is None:
            return google_error(404, f"Resource {name} not found.")
        if query != {"updateMask": ["policyName"]}:
            return google_error(400, "stand-in: only updateMask=policyName is implemented.")
        problem = discovery.problem("Device", body)
        if problem is not None:
            return google_error(400, problem)
        policy = body.get("policyName")
        if not isinstance(policy, str) or not policy:
            return google_error(400, "policyName is required by updateMask.")
        full = policy if "/" in policy else f"enterprises/{enterprise}/policies/{policy}"
        if full not in self.state["policies"]:
            return google_error(400, f"Policy {full} not found.")
        stored["policyName"] = full
        self._save()
        return Response(200, stored)

    # --- enterprises.devices.list ---------------------------------------------------------------

    def _list_devices(self, enterprise: str, query: Mapping[str, list[str]]) -> Response:
        prefix = f"enterprises/{enterprise}/devices/"
        names = sorted(name for name in self.state["devices"] if name.startswith(prefix))
        if not names:
            return google_error(403, f"Caller does not have access to enterprises/{enterprise}.")
        unknown = set(query) - {"pageSize", "pageToken"}
        if unknown:
            return google_error(400, f"Invalid JSON payload received. Unknown name {sorted(unknown)[0]!r}.")
        size, start = _page_size(query.get("pageSize")), _page_start(query.get("pageToken"), len(names))
        if size is None:
            return google_error(400, "Invalid value at 'page_size' (TYPE_INT32).")
        if start is None:
            return google_error(400, "Invalid page token.")
        page: dict[str, Any] = {"devices": [self.state["devices"][name] for name in names[start:start + size]]}
        if start + size < len(names):
            page["nextPageToken"] = _token_for(start + size)
        problem = discovery.problem("ListDevicesResponse", page)
        if problem is not None:
            raise ValueError(f"the stand-in's state is no valid ListDevicesResponse: {problem}")
        return Response(200, page)




def _page_size(values: list[str] | None) -> int | None:
    """pageSize as the API takes it: unset is 10, above 100 is 100, no int32 is an error (None)."""
    if values is None:
        return PAGE_SIZE
    if len(values) != 1 or re.fullmatch(r"-?[0-9]{1,10}", values[0]) is None or not 0 <= int(values[0]) < 2**31:
        return None
    return min(int(values[0]) or PAGE_SIZE, MAX_PAGE_SIZE)


def _token_for(start: int) -> str:
    return base64.urlsafe_b64encode(f"lab-page:{start}".encode()).decode().rstrip("=")


def _page_start(values: list[str] | None, total: int) -> int | None:
    """Where a page token says to start (0 without one), or None for a token this stand-in never gave."""
    if values is None or values == [""]:
        return 0
    try:
        text = _b64url(values[0]).decode("ascii")
    except (ValueError, binascii.Error):
        return None
    match = re.fullmatch(r"lab-page:([1-9][0-9]{0,8})", text)
    return int(match.group(1)) if match is not None and int(match.group(1)) < total else None
