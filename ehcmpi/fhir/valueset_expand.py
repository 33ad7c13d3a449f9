"""``GET|POST /fhir/ValueSet/$expand`` and ``/ValueSet/{id}/$expand``: the codes of a value
set (FHIR R4 §4.9.18 ValueSet-expand; POST: the same parameters in a ``Parameters`` body).

OperationDefinition ``http://ehcmpi.org/fhir/OperationDefinition/ValueSet-expand`` (base HL7
``ValueSet-expand``): IN ``url`` 0..1 (1..1 at type level), ``filter`` 0..1 (a substring of the
code or of its Chinese or English name, case-insensitive), ``offset`` and ``count`` 0..1
(paging), ``displayLanguage`` 0..1; OUT ``return`` — the ValueSet with ``expansion.total``
(every match), ``offset`` and ``contains`` (this page).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request

from ehcmpi.fhir.capability import Capability, Operation
from ehcmpi.fhir.codesystem_catalog import (
    CodeTable,
    display_in,
    get_and_post,
    instance_table,
    language,
    need,
    operation_definition,
    operation_input,
    table_by_url,
    valueset_resource,
)
from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.parameters import Param
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
_PARAMS = (
    Param("url", "in", 0, "1", "uri", "值集的规范 URL；类型级调用必填 (required at type level)"),
    Param("filter", "in", 0, "1", "string", "代码或名称中的片段 (text in the code or its name)"),
    Param("offset", "in", 0, "1", "integer", "跳过的代码数 (codes to skip)"),
    Param("count", "in", 0, "1", "integer", "返回的代码数 (codes to return)"),
    Param("displayLanguage", "in", 0, "1", "code", "zh | en"),
    Param("return", "out", 1, "1", "ValueSet", "展开后的值集 (the expanded value set)"),
)  # fmt: skip
ALLOWED = tuple(p.name for p in _PARAMS if p.use == "in")
DEFINITION = operation_definition(
    "ValueSet", "expand", "展开值集 (expand a value set)", _PARAMS, instance=True
)
CAPABILITY = Capability(
    "ValueSet",
    operations=(Operation("expand", DEFINITION["url"], "展开值集 (expand)", DEFINITION),),
)


def _number(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise FhirError(400, "invalid", f"{name} 须为非负整数 (expected a non-negative "
                        f"integer): {raw}", expression=name)  # fmt: skip
    return int(raw)


def _expansion(table: CodeTable, params: Mapping[str, str]) -> dict[str, Any]:
    text = params.get("filter", "").strip().lower()
    lang = language(params)
    matches = [
        c for c in table.concepts
        if not text or text in c.code.lower() or text in c.display or text in c.english.lower()
    ]  # fmt: skip
    offset = _number(params, "offset", 0)
    count = _number(params, "count", len(matches))
    parameters: list[dict[str, Any]] = []
    if text:
        parameters.append({"name": "filter", "valueString": text})
    return {
        "identifier": f"urn:uuid:{uuid.uuid4()}",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "total": len(matches),
        "offset": offset,
        **({"parameter": parameters} if parameters else {}),
        "contains": [
            {"system": table.url, "version": table.version, "code": c.code,
             "display": display_in(c, lang)}
            for c in matches[offset : offset + count]
        ],
    }  # fmt: skip


def _answer(table: CodeTable, params: Mapping[str, str]) -> FhirResponse:
    expanded = valueset_resource(table)
    expanded["expansion"] = _expansion(table, params)
    if not expanded["expansion"]["contains"]:
        del expanded["expansion"]["contains"]  # FHIR: no empty arrays
    return FhirResponse(expanded)


@get_and_post(router, "/ValueSet/$expand", "Expand a value set (展开值集: $expand)")
async def expand(request: Request) -> FhirResponse:
    params = await operation_input(request, ALLOWED)
    return _answer(table_by_url(need(params, "url"), valueset=True), params)


@get_and_post(
    router, "/ValueSet/{valueset_id}/$expand", "Expand this value set (展开值集: $expand)"
)
async def expand_one(valueset_id: str, request: Request) -> FhirResponse:
    params = await operation_input(request, ALLOWED)
    return _answer(instance_table(valueset_id, "ValueSet", params), params)
