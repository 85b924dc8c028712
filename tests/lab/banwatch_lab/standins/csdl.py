"""Microsoft Graph request bodies checked against Graph's own metadata (CSDL): a vendored slice
of v1.0-Prod.csdl (tests/fixtures/vendor/msgraph-metadata). An `@odata.type` names the type; its
properties are those of the type and of its base types (BaseType); each value is held to its
declared type (Edm primitives, enums, complex types, collections) and nullability; a property no
type in the chain declares is refused, as Graph refuses it.

Beta (`version="beta"`), for the one body banwatch sends there: the full beta CSDL is not vendored,
only Microsoft's beta type list for the types that body reaches (`beta-ios-compliance.json`).
A type listed there has beta's property names, each typed as v1.0 types it (or, for the few beta
adds that banwatch sends, as the extract says); an enum listed there has the members both agree
on; the rest is v1.0's."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SLICE = Path(__file__).resolve().parents[3] / "fixtures" / "vendor" / "msgraph-metadata" / "intune-slice.csdl.xml"
BETA_EXTRACT = SLICE.with_name("beta-ios-compliance.json")
_EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
_PREFIX = "#microsoft.graph."
_TYPE = re.compile(r"^(Collection\()?((?:graph|Edm)\.\w+)\)?$")


@dataclass(frozen=True)
class Member:
    """A property or navigation property: its type ('graph.x' or 'Edm.String'), a collection or not."""

    type: str
    collection: bool
    nullable: bool


@dataclass
class GraphType:
    kind: str  # EntityType, ComplexType, EnumType
    base: str | None = None
    abstract: bool = False
    members: dict[str, Member] = field(default_factory=dict)
    values: tuple[str, ...] = ()
    flags: bool = False


@functools.lru_cache(maxsize=1)
def types() -> dict[str, GraphType]:
    found: dict[str, GraphType] = {}
    for element in ET.parse(SLICE).getroot().iter():  # noqa: S314 - the vendored metadata, not outside input
        kind = element.tag.removeprefix(_EDM)
        if kind not in ("EntityType", "ComplexType", "EnumType"):
            continue
        graph_type = GraphType(kind, (element.get("BaseType") or "").removeprefix("graph.") or None,
                               element.get("Abstract") == "true", flags=element.get("IsFlags") == "true")
        if kind == "EnumType":
            graph_type.values = tuple(member.get("Name", "") for member in element.findall(f"{_EDM}Member"))
        for child in element:
            if child.tag in (f"{_EDM}Property", f"{_EDM}NavigationProperty"):
                match = _TYPE.match(child.get("Type", ""))
                if match:
                    graph_type.members[child.get("Name", "")] = Member(
                        match.group(2), bool(match.group(1)), child.get("Nullable") != "false")
        found[element.get("Name", "")] = graph_type
    return found


@dataclass(frozen=True)
class BetaList:
    """Beta's property names per type, its enum members, and the types of the beta adds banwatch sends."""

    names: dict[str, frozenset[str]]
    values: dict[str, frozenset[str]]
    added: dict[str, dict[str, Member]]


@functools.lru_cache(maxsize=1)
def beta() -> BetaList:
    extract = json.loads(BETA_EXTRACT.read_text())
    names = {name: frozenset(listed["properties"]) | frozenset(listed["navigationProperties"])
             for kind in ("entityTypes", "complexTypes") for name, listed in extract[kind].items()}
    added = {}
    for name, properties in extract["betaOnlyPropertyTypes"].items():
        added[name] = {}
        for key, declared in properties.items():
            match = _TYPE.match(declared)
            if match is None or key not in names[name]:
                raise ValueError(f"{BETA_EXTRACT}: {name}.{key} is no beta property of a known type")
            added[name][key] = Member(match.group(2), bool(match.group(1)), True)
    return BetaList(names, {name: frozenset(values) for name, values in extract["enumTypes"].items()}, added)


def derives(name: str, base: str) -> bool:
    """Whether `name` is `base` or has it in its BaseType chain."""
    known = types()
    while name in known:
        if name == base:
            return True
        name = known[name].base or ""
    return False


def members(name: str, version: str = "v1.0") -> dict[str, Member]:
    chain: list[str] = []
    known = types()
    while name in known:
        chain.append(name)
        name = known[name].base or ""
    found: dict[str, Member] = {}
    for link in reversed(chain):
        declared = known[link].members
        if version == "beta" and link in beta().names:
            declared = {key: member for key, member in {**declared, **beta().added.get(link, {})}.items()
                        if key in beta().names[link]}
        found.update(declared)
    return found


def _beta_listed(name: str, key: str) -> bool:
    while name in types():
        if key in beta().names.get(name, frozenset()):
            return True
        name = types()[name].base or ""
    return False


def enum_values(name: str, version: str = "v1.0") -> tuple[str, ...]:
    values = types()[name].values
    return tuple(value for value in values if value in beta().values[name]) \
        if version == "beta" and name in beta().values else values


def problem(body: Any, base: str, version: str = "v1.0") -> str | None:
    """The first way `body` is no valid instance of a type deriving from `base` in that version, or None."""
    return _object(body, base, "(body)", version, root=True)


def _object(value: Any, declared: str, where: str, version: str, *, root: bool = False) -> str | None:
    if not isinstance(value, Mapping):
        return f"{where}: expected an object of type microsoft.graph.{declared}"
    named = value.get("@odata.type")
    if named is not None or root or types().get(declared, GraphType("")).abstract:
        if not isinstance(named, str) or not named.startswith(_PREFIX):
            return f"{where}: @odata.type is required and must be {_PREFIX}<type>"
        name = named.removeprefix(_PREFIX)
        if name not in types() or not derives(name, declared):
            return f"{where}: @odata.type {named} is not a type deriving from microsoft.graph.{declared}"
        if types()[name].abstract:
            return f"{where}: @odata.type {named} is abstract"
        declared = name
    allowed = members(declared, version)
    for key, item in value.items():
        if key == "@odata.type":
            continue
        if key not in allowed and version == "beta" and _beta_listed(declared, key):
            return f"{where}: property '{key}' is beta's, but its type is outside the stand-in's slice"
        if key not in allowed:
            return f"{where}: property '{key}' does not exist on type 'microsoft.graph.{declared}'"
        found = _value(item, allowed[key], f"{where}/{key}", version)
        if found is not None:
            return found
    return None


def _value(value: Any, member: Member, where: str, version: str) -> str | None:
    if value is None:
        return None if member.nullable or member.collection else f"{where}: null is not allowed"
    if member.collection:
        if not isinstance(value, list):
            return f"{where}: expected a collection"
        single = Member(member.type, False, False)
        return next((found for index, item in enumerate(value)
                     if (found := _value(item, single, f"{where}/{index}", version)) is not None), None)
    if member.type.startswith("Edm."):
        return None if _primitive(value, member.type) else f"{where}: not a valid {member.type}"
    name = member.type.removeprefix("graph.")
    graph_type = types().get(name)
    if graph_type is None:
        return f"{where}: type {member.type} is outside the stand-in's slice of the metadata"
    if graph_type.kind == "EnumType":
        parts = value.split(",") if isinstance(value, str) and graph_type.flags else [value]
        return None if all(part in enum_values(name, version) for part in parts) else \
            f"{where}: {value!r} is not a member of enum {member.type}"
    return _object(value, name, where, version)


def _primitive(value: Any, edm: str) -> bool:
    if edm == "Edm.String":
        return isinstance(value, str)
    if edm == "Edm.Boolean":
        return isinstance(value, bool)
    if edm in ("Edm.Int32", "Edm.Int64"):
        return isinstance(value, int) and not isinstance(value, bool)
    if edm == "Edm.Double":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if not isinstance(value, str):
        return False
    try:
        if edm == "Edm.DateTimeOffset":
            dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        elif edm == "Edm.Guid":
            uuid.UUID(value)
        elif edm == "Edm.Binary":
            base64.b64decode(value, validate=True)
        else:
            return False
    except (ValueError, binascii.Error):
        return False
    return True
