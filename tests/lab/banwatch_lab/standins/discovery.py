"""The Android Management API's discovery document (shipped in the google-api-python-client
wheel) as JSON Schema: what the stand-in and the export's tests hold bodies to."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import googleapiclient
import jsonschema

DISCOVERY = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "androidmanagement.v1.json"
_DROPPED = ("id", "description", "enumDescriptions", "enumDeprecated", "format", "readOnly", "annotations",
            "deprecated")


@functools.lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    return json.loads(DISCOVERY.read_text(encoding="utf-8"))


def schema(name: str) -> dict[str, Any]:
    """A discovery schema as JSON Schema: its `$ref`s to definitions, and every object closed to
    the properties the API declares (so a misspelt field fails, as the API rejects it)."""

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return {"$ref": f"#/definitions/{node['$ref']}"}
        converted = {key: convert(value) for key, value in node.items() if key not in _DROPPED}
        if converted.get("type") == "any":  # discovery's "any JSON value", which JSON Schema says by no type
            del converted["type"]
        if converted.get("type") == "object" and "properties" in converted:
            converted.setdefault("additionalProperties", False)
        return converted

    return {"$ref": f"#/definitions/{name}",
            "definitions": {key: convert(value) for key, value in document()["schemas"].items()}}


@functools.cache
def validator(name: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(schema(name))


def problem(name: str, body: Any) -> str | None:
    """The first way `body` is not a valid `name` resource, or None."""
    error = jsonschema.exceptions.best_match(validator(name).iter_errors(body))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "(body)"
    return f"Invalid JSON payload received. {where}: {error.message[:300]}"
