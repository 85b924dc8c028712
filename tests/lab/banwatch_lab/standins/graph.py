"""The Microsoft Graph stand-in for the Intune push: the identity platform's token endpoint
(client credentials), device configurations and compliance policies (list by displayName with
their assignments, create, patch, assign) and groups by displayName, on v1.0; on beta, compliance
policies alone (the push sends the iOS compliance policy there), over the same tenant's objects.

Bodies are held to Graph's own metadata (the vendored CSDL slice and, on beta, beta's type list:
`csdl`), so v1.0 refuses the iOS compliance policy's restrictedApps as Graph v1.0 does, and the AppLocker
rule collections inside OMA settings are parsed with the `applocker` package (a RuleCollection
it cannot parse, or of another type than its CSP node, is a 400). Errors are Graph's error
bodies, `{"error": {"code", "message"}}`; the token endpoint answers as the identity platform
does, `{"error", "error_description"}`. As Graph may, it returns OMA string values encrypted,
so a client can only compare what it wrote by something it keeps itself.

The listings the fleet import reads, on v1.0: `deviceManagement/managedDevices` and
`deviceManagement/detectedApps?$expand=managedDevices` (v1.0 has no detectedApps under a
managedDevice; the collection joins the two), in pages of `value[]` with an absolute
`@odata.nextLink` (`$top`, at most 1000; an opaque `$skiptoken`). Each item is held to the CSDL
slice before it is served: a device a test wrote wrong is the stand-in's 500, never a page Graph
could not send. The state file is read again when it changes, so a test sets devices by writing it.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

import applocker

from banwatch_lab.standins import csdl
from banwatch_lab.standins.http import Request, Response, StateFile, injected_fault, json_body

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
TOKEN_SECONDS = 3599
CODES = {400: "BadRequest", 401: "InvalidAuthenticationToken", 403: "Forbidden", 404: "ResourceNotFound",
         409: "Conflict", 429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable"}
COLLECTIONS = {"deviceConfigurations": ("deviceConfiguration", "deviceConfigurationAssignment"),
               "deviceCompliancePolicies": ("deviceCompliancePolicy", "deviceCompliancePolicyAssignment")}
_FILTER = re.compile(r"^displayName eq '((?:[^']|'')*)'$")
_PATH = re.compile(r"^/(v1\.0|beta)/deviceManagement/(deviceConfigurations|deviceCompliancePolicies)"
                   r"(?:/([0-9a-f-]{36})(/assign|/assignments)?)?$")
_LISTINGS = {"/v1.0/deviceManagement/managedDevices": ("managedDevices", "managedDevice"),
             "/v1.0/deviceManagement/detectedApps": ("detectedApps", "detectedApp")}
PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000
# The AppLocker CSP's node for each rule collection type.
_CSP_NODES = {"StoreApps": "Appx", "EXE": "Exe", "MSI": "Msi", "Script": "Script", "DLL": "Dll"}


def graph_error(status: int, message: str) -> Response:
    return Response(status, {"error": {"code": CODES.get(status, "UnknownError"), "message": message}})


def identity_error(status: int, error: str, description: str) -> Response:
    return Response(status, {"error": error, "error_description": description})


def _encrypted(body: dict[str, Any]) -> dict[str, Any]:
    """The body as Graph may return it: OMA string values encrypted."""
    settings = body.get("omaSettings")
    if not isinstance(settings, list):
        return body
    return {**body, "omaSettings": [
        {**setting, "value": base64.b64encode(hashlib.sha256(str(setting.get("value")).encode()).digest()).decode()}
        if setting.get("@odata.type") == "#microsoft.graph.omaSettingString" else setting for setting in settings]}


def applocker_problem(setting: Mapping[str, Any]) -> str | None:
    """Why an AppLocker OMA setting's value is not one rule collection of its node's type, or None."""
    node = str(setting.get("omaUri", "")).rstrip("/").rsplit("/", 2)
    expected = _CSP_NODES.get(node[-2]) if len(node) == 3 and node[-1] == "Policy" else None
    if expected is None:
        return f"omaUri {setting.get('omaUri')!r} is not an AppLocker CSP rule collection node"
    try:
        policy = applocker.loads(f'<AppLockerPolicy Version="1">{setting.get("value", "")}</AppLockerPolicy>')
        collections = policy.rule_collections
    except (ET.ParseError, AttributeError, TypeError, ValueError) as exc:
        return f"the AppLocker value does not parse ({type(exc).__name__}: {str(exc)[:200]})"
    if len(collections) != 1 or collections[0].get("Type") != expected:
        return f"the AppLocker value must be one RuleCollection of Type {expected}"
    if any(rule.get("Action") not in ("Allow", "Deny") for rule in collections[0]):
        return "an AppLocker rule's Action must be Allow or Deny"
    return None


class GraphStandin(StateFile):
    """One tenant, one app registration, the groups it was given."""

    def __init__(self, state_file: str, tenant: str, clients: Mapping[str, str], *,
                 faults_file: str | None = None, clock: Callable[[], float] = time.time) -> None:
        self.state_file, self.tenant, self.faults_file, self.clock = state_file, tenant, faults_file, clock
        self.clients = dict(clients)  # client id -> sha256 of its secret
        StateFile.__init__(self, state_file)
        self.tokens: dict[str, float] = {}

    def __call__(self, request: Request) -> Response:
        if request.path == f"/{self.tenant}/oauth2/v2.0/token":
            return self._token(request) if request.method == "POST" else graph_error(404, "Not found.")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or self.tokens.get(token, 0) <= self.clock():
            return graph_error(401, "Access token is empty or invalid.")
        fault = injected_fault(self.faults_file, request)
        if fault is not None:
            return graph_error(fault, f"Injected failure for {request.method} {request.path}.")
        self._reload()
        if request.path in _LISTINGS and request.method == "GET":
            return self._listing(request, *_LISTINGS[request.path])
        if request.path == "/v1.0/groups" and request.method == "GET":
            return self._list(request, {gid: {"id": gid, "displayName": name}
                                        for gid, name in self.state["groups"].items()}, expand=False)
        match = _PATH.match(request.path)
        if match is None:
            return graph_error(400, f"Resource not found for the segment '{request.path.rsplit('/', 1)[-1]}'.")
        version, collection, item, action = match.groups()
        if version == "beta" and collection != "deviceCompliancePolicies":
            return graph_error(400, f"The stand-in serves beta for deviceCompliancePolicies only, not {collection}.")
        stored = self.state[collection]
        if item is None:
            if request.method == "GET":
                return self._list(request, {key: self._shown(key, body, version) for key, body in stored.items()},
                                  expand=True)
            return self._create(collection, request, version) if request.method == "POST" else \
                graph_error(405, "Not allowed.")
        if item not in stored:
            return graph_error(404, f"Resource {item} not found.")
        if action == "/assignments" and request.method == "GET":
            return Response(200, {"value": self.state["assignments"].get(item, [])})
        if action == "/assign" and request.method == "POST":
            return self._assign(collection, item, request, version)
        if action is None and request.method == "GET":
            return Response(200, self._shown(item, stored[item], version))
        if action is None and request.method == "PATCH":
            return self._patch(collection, item, request, version)
        return graph_error(405, "The HTTP method is not allowed on this resource.")

    def _token(self, request: Request) -> Response:
        try:
            form = {key: values[0] for key, values in
                    parse_qs(request.body.decode("ascii"), strict_parsing=True).items() if len(values) == 1}
        except (UnicodeDecodeError, ValueError):
            return identity_error(400, "invalid_request", "AADSTS900144: The request body must be form-encoded.")
        if form.get("grant_type") != "client_credentials":
            return identity_error(400, "unsupported_grant_type", "AADSTS70003: The grant type is not supported.")
        if form.get("scope") != GRAPH_SCOPE:
            return identity_error(400, "invalid_scope", f"AADSTS1002012: The scope must be {GRAPH_SCOPE}.")
        expected = self.clients.get(form.get("client_id", ""))
        given = hashlib.sha256(form.get("client_secret", "").encode()).hexdigest()
        if expected is None or not secrets.compare_digest(expected, given):
            return identity_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        token = "eyJ0.lab-" + secrets.token_urlsafe(24)
        self.tokens[token] = self.clock() + TOKEN_SECONDS
        return Response(200, {"token_type": "Bearer", "expires_in": TOKEN_SECONDS, "access_token": token})

    def _list(self, request: Request, items: Mapping[str, dict[str, Any]], *, expand: bool) -> Response:
        query = {key: values[-1] for key, values in request.query.items()}
        if set(query) - {"$filter", "$expand"} or (query.get("$expand") not in (None, "assignments")) or \
                ("$expand" in query and not expand):
            return graph_error(400, "Query option not supported by the stand-in.")
        match = _FILTER.match(query.get("$filter", ""))
        if match is None:
            return graph_error(400, "Invalid filter clause: only displayName eq '...' is supported.")
        name = match.group(1).replace("''", "'")
        found = [{**body, **({"assignments": self.state["assignments"].get(key, [])} if "$expand" in query else {})}
                 for key, body in items.items() if body.get("displayName") == name]
        return Response(200, {"value": found})

    def _shown(self, key: str, body: dict[str, Any], version: str) -> dict[str, Any]:
        """The body as that version shows it: v1.0 leaves out what only beta has (restrictedApps)."""
        known = csdl.members(str(body.get("@odata.type", "")).removeprefix("#microsoft.graph."), version)
        return {**{name: value for name, value in _encrypted(body).items() if name in known or name == "@odata.type"},
                "id": key}

    def _checked(self, collection: str, request: Request, version: str, *, stored: dict[str, Any] | None = None) -> \
            dict[str, Any] | Response:
        parsed, body = json_body(request.body)
        if not parsed:
            return graph_error(400, "Unable to read JSON request payload.")
        problem = csdl.problem(body, COLLECTIONS[collection][0], version)
        if problem is not None:
            return graph_error(400, problem)
        if stored is not None and body["@odata.type"] != stored["@odata.type"]:
            return graph_error(400, "A PATCH cannot change the @odata.type.")
        if stored is None and not body.get("displayName"):
            return graph_error(400, "displayName is required.")
        if stored is None and collection == "deviceCompliancePolicies" and not body.get("scheduledActionsForRule"):
            return graph_error(400, "scheduledActionsForRule is required to create a compliance policy.")
        for setting in body.get("omaSettings") or []:
            if "/AppLocker/" in str(setting.get("omaUri")) and (found := applocker_problem(setting)) is not None:
                return graph_error(400, found)
        return body

    def _create(self, collection: str, request: Request, version: str) -> Response:
        body = self._checked(collection, request, version)
        if isinstance(body, Response):
            return body
        key, now = str(uuid.uuid4()), _now(self.clock)
        self.state[collection][key] = {**body, "createdDateTime": now, "lastModifiedDateTime": now, "version": 1}
        self._save()
        return Response(201, self._shown(key, self.state[collection][key], version))

    def _patch(self, collection: str, item: str, request: Request, version: str) -> Response:
        stored = self.state[collection][item]
        body = self._checked(collection, request, version, stored=stored)
        if isinstance(body, Response):
            return body
        self.state[collection][item] = {**stored, **body, "lastModifiedDateTime": _now(self.clock),
                                        "version": int(stored.get("version", 1)) + 1}
        self._save()
        return Response(204, None)

    def _assign(self, collection: str, item: str, request: Request, version: str) -> Response:
        parsed, body = json_body(request.body)
        if not parsed or not isinstance(body, dict) or set(body) != {"assignments"} or \
                not isinstance(body["assignments"], list):
            return graph_error(400, "The request body must be {\"assignments\": [...]}.")
        assignment_type = COLLECTIONS[collection][1]
        stored = []
        for index, assignment in enumerate(body["assignments"]):
            problem = csdl.problem({"@odata.type": f"#microsoft.graph.{assignment_type}", **assignment}
                                   if isinstance(assignment, dict) else assignment, assignment_type, version)
            target = assignment.get("target") if isinstance(assignment, dict) else None
            if problem is None and (not isinstance(target, dict) or target.get("groupId") not in self.state["groups"]):
                problem = f"assignments/{index}: the target's groupId is no group of this tenant"
            if problem is not None:
                return graph_error(400, problem)
            stored.append({"id": f"{item}_{target['groupId']}", "target": target})
        self.state["assignments"][item] = stored
        self._save()
        return Response(200, {"value": stored})

    def _listing(self, request: Request, collection: str, item_type: str) -> Response:
        query = {key: values[-1] for key, values in request.query.items()}
        expand = "managedDevices" if collection == "detectedApps" else None
        if set(query) - {"$top", "$skiptoken", "$expand"} or query.get("$expand", expand) != expand:
            return graph_error(400, "Query option not supported by the stand-in.")
        if expand is not None and "$expand" not in query:
            return graph_error(400, "stand-in: detectedApps are listed with $expand=managedDevices only.")
        items = [self._item(collection, key) for key in sorted(self.state.get(collection, {}))]
        top, start = query.get("$top", str(PAGE_SIZE)), query.get("$skiptoken", "0")
        if not top.isdigit() or not 1 <= int(top) <= MAX_PAGE_SIZE:
            return graph_error(400, f"Invalid value '{top}' for query option $top.")
        if not start.isdigit() or int(start) >= max(len(items), 1):
            return graph_error(400, "Invalid $skiptoken.")
        first, size = int(start), int(top)
        page: dict[str, Any] = {"@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#deviceManagement/"
                                                  f"{collection}", "value": items[first:first + size]}
        if first + size < len(items):
            more = {**query, "$top": top, "$skiptoken": str(first + size)}
            page["@odata.nextLink"] = f"https://{request.headers.get('host', 'graph.invalid')}{request.path}?" + \
                "&".join(f"{key}={value}" for key, value in more.items())
        problem = listing_problem(page, item_type)
        if problem is not None:
            raise ValueError(f"the stand-in's state is no valid {item_type} listing: {problem}")
        return Response(200, page)

    def _item(self, collection: str, key: str) -> dict[str, Any]:
        """A listed item: a detected app with its managed devices expanded (the state keeps their ids)."""
        body = {**self.state[collection][key], "id": key}
        if collection == "detectedApps":
            devices = self.state.get("managedDevices", {})
            body["managedDevices"] = [{"id": ident, "deviceName": devices.get(ident, {}).get("deviceName")}
                                      for ident in body.get("managedDevices", [])]
            body["deviceCount"] = len(body["managedDevices"])
        return body



def listing_problem(page: Any, item_type: str) -> str | None:
    """The first way `page` is no v1.0 collection page of `item_type`, or None."""
    if not isinstance(page, dict) or not isinstance(page.get("value"), list) or \
            set(page) - {"@odata.context", "@odata.nextLink", "value"}:
        return "a page is {\"@odata.context\", \"value\": [...], \"@odata.nextLink\"}"
    if not all(isinstance(page.get(key, ""), str) for key in ("@odata.context", "@odata.nextLink")):
        return "@odata.context and @odata.nextLink are strings"
    for index, item in enumerate(page["value"]):
        typed = {"@odata.type": f"#microsoft.graph.{item_type}", **item} if isinstance(item, dict) else item
        problem = csdl.problem(typed, item_type)
        if problem is not None:
            return f"value/{index}: {problem}"
    return None



def _now(clock: Callable[[], float]) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock()))
