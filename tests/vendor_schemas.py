"""Vendors' own schemas, read offline, for the tests that check banwatch's documents and fixtures
against them: the Android Management API's discovery document (inside the google-api-python-client
wheel) as JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import googleapiclient

DISCOVERY = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "androidmanagement.v1.json"


def discovery_schema(name: str) -> dict[str, Any]:
    """A discovery document's schema as JSON Schema: its `$ref`s to definitions, and every object
    closed to the properties the API declares (so a misspelt field fails, as the API rejects it)."""
    schemas = json.loads(DISCOVERY.read_text())["schemas"]

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return {"$ref": f"#/definitions/{node['$ref']}"}
        converted = {key: convert(value) for key, value in node.items()
                     if key not in ("id", "description", "enumDescriptions", "enumDeprecated", "format", "readOnly",
                                    "annotations", "deprecated")}
        if converted.get("type") == "object" and "properties" in converted:
            converted.setdefault("additionalProperties", False)
        return converted

    return {"$ref": f"#/definitions/{name}", "definitions": {key: convert(value) for key, value in schemas.items()}}
