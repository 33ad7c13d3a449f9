"""Reading operation input and declaring our OperationDefinitions (FHIR R4 §2.36 Parameters,
§6.1.8 OperationDefinition, §3.1.0.10 extended operations).

An operation's ``Parameters`` body is checked against the names, cardinalities and types its
OperationDefinition declares: an unknown parameter, a repeated one, a missing one or a value
of the wrong type is a 400 OperationOutcome naming the parameter — never silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ehcmpi.fhir.outcome import FhirError

OPERATION_BASE = "http://ehcmpi.org/fhir/OperationDefinition"
_REFERENCE = re.compile(r"(?:^|/)Patient/([^/]+)(?:/_history/[^/]+)?$")

#: parameter name → its values, in the order given
Given = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class Param:
    """One parameter of an OperationDefinition."""

    name: str
    use: str  # in | out
    min: int
    max: str  # "1" | "*"
    type: str | None  # FHIR type; None for a parameter made of parts
    documentation: str
    parts: tuple[Param, ...] = ()

    def definition(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "use": self.use, "min": self.min,
                               "max": self.max, "documentation": self.documentation}  # fmt: skip
        if self.type:
            out["type"] = self.type
        if self.parts:
            out["part"] = [p.definition() for p in self.parts]
        return out


def operation_definition(
    code: str,
    title: str,
    description: str,
    parameters: Sequence[Param],
    *,
    affects_state: bool,
    resource: str | None = "Patient",
    instance: bool = False,
    base: str | None = None,
) -> dict[str, Any]:
    """Our OperationDefinition (FHIR R4 §6.1.8) of ``[resource]/$code``, canonical
    ``OPERATION_BASE/<resource>-<code>``; with ``resource=None`` a system-level ``$code``,
    canonical ``OPERATION_BASE/<code>``."""
    key = f"{resource}-{code}" if resource else code
    definition: dict[str, Any] = {
        "resourceType": "OperationDefinition",
        "id": key,
        "url": f"{OPERATION_BASE}/{key}",
        "name": (resource or "") + "".join(w.capitalize() for w in re.split(r"[-_]", code)),
        "title": title,
        "status": "active",
        "kind": "operation",
        "description": description,
        "affectsState": affects_state,
        "code": code,
    }
    if resource:
        definition["resource"] = [resource]
    definition |= {
        "system": resource is None,
        "type": resource is not None,
        "instance": instance,
        "parameter": [p.definition() for p in parameters],
    }
    if base:
        definition["base"] = base
    return definition


def _bad(message: str, name: str | None = None, code: str = "invalid") -> FhirError:
    where = f"Parameters.parameter.where(name='{name}')" if name else "Parameters"
    return FhirError(400, code, message, expression=where)


def read_parameters(body: Any, declared: Mapping[str, str]) -> Given:
    """The parameters of a ``Parameters`` body; ``declared`` maps each name to its max."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise _bad("请求体必须是 Parameters 资源 (body must be a Parameters resource)",
                   code="structure")  # fmt: skip
    items = body.get("parameter", [])
    if not isinstance(items, list) or not all(isinstance(p, dict) for p in items):
        raise _bad("Parameters.parameter 须为数组 (parameter must be an array)", code="structure")
    given: Given = {}
    for item in items:
        name = item.get("name")
        if not isinstance(name, str) or name not in declared:
            raise _bad(f"不支持的参数 (unsupported parameter): {name}", str(name), "not-supported")
        given.setdefault(name, []).append(item)
        if declared[name] == "1" and len(given[name]) > 1:
            raise _bad(f"参数 {name} 只能出现一次 (parameter given more than once)", name)
    return given


def required(given: Given, name: str) -> None:
    if name not in given:
        raise _bad(f"缺少参数 {name} (missing parameter {name})", name, "required")


def _value(given: Given, name: str, *types: str) -> Any:
    if name not in given:
        return None
    item = given[name][0]
    for kind in types:
        if f"value{kind}" in item:
            return item[f"value{kind}"]
    raise _bad(f"参数 {name} 须为 {'/'.join(types)} (parameter {name} must be "
               f"value{' or value'.join(types)})", name)  # fmt: skip


def boolean(given: Given, name: str, default: bool = False) -> bool:
    value = _value(given, name, "Boolean")
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _bad(f"参数 {name} 须为 true 或 false (expected a boolean)", name)
    return value


def positive_int(given: Given, name: str) -> int | None:
    value = _value(given, name, "Integer", "PositiveInt")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _bad(f"参数 {name} 须为正整数 (expected a positive integer)", name)
    return value


def text(given: Given, name: str) -> str | None:
    value = _value(given, name, "String", "Code", "Id")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"参数 {name} 须为非空字符串 (expected a non-empty string)", name)
    return value.strip()


def resource(given: Given, name: str, resource_type: str) -> dict[str, Any] | None:
    if name not in given:
        return None
    value = given[name][0].get("resource")
    if not isinstance(value, dict) or value.get("resourceType") != resource_type:
        raise _bad(f"参数 {name} 须为 {resource_type} 资源 (parameter {name} must be a "
                   f"{resource_type} resource)", name, "structure")  # fmt: skip
    return value


def identifiers(given: Given, name: str) -> list[tuple[str, str]]:
    """Every ``valueIdentifier`` of a repeating parameter, as ``(system, value)``."""
    out = []
    for item in given.get(name, []):
        ident = item.get("valueIdentifier")
        if not isinstance(ident, dict) or not ident.get("system") or not ident.get("value"):
            raise _bad(f"参数 {name} 须为含 system 和 value 的 Identifier "
                       "(expected an Identifier with system and value)", name)  # fmt: skip
        out.append((str(ident["system"]), str(ident["value"]).strip()))
    return out


def reference(given: Given, name: str) -> tuple[str | None, tuple[str, str] | None]:
    """A ``valueReference`` as ``(Patient id, identifier)``; either may be None."""
    value = _value(given, name, "Reference")
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise _bad(f"参数 {name} 须为 Reference (expected a Reference)", name)
    patient_id = None
    if value.get("reference") is not None:
        match = _REFERENCE.search(str(value["reference"]))
        if match is None:
            raise _bad(f"参数 {name} 须引用 Patient/[id] (expected a Patient reference)", name)
        patient_id = match.group(1)
    ident = value.get("identifier")
    found = (str(ident["system"]), str(ident["value"])) if isinstance(ident, dict) and \
        ident.get("system") and ident.get("value") else None  # fmt: skip
    if patient_id is None and found is None:
        raise _bad(f"参数 {name} 须含 reference 或 identifier (empty Reference)", name)
    return patient_id, found
