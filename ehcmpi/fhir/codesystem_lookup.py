"""``GET|POST /fhir/CodeSystem/$lookup``: a code's display and designations (FHIR R4 §4.8.16
CodeSystem-lookup; POST: the same parameters in a ``Parameters`` body).

OperationDefinition ``http://ehcmpi.org/fhir/OperationDefinition/CodeSystem-lookup`` (base
HL7 ``CodeSystem-lookup``): IN ``system`` 1..1 uri, ``code`` 1..1 code, ``version`` 0..1,
``displayLanguage`` 0..1 (zh | en); OUT a Parameters with ``name`` (the code system's title),
``version``, ``display`` (Chinese, or English when asked) and one ``designation`` per language
(``language``, ``value``).  An unknown system, version or code is 404; a missing parameter 400.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ehcmpi.fhir.capability import Capability, Operation
from ehcmpi.fhir.codesystem_catalog import (
    check_version,
    designations,
    display_in,
    get_and_post,
    language,
    need,
    operation_definition,
    operation_input,
    table_by_url,
)
from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.parameters import Param
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
_PARAMS = (
    Param("system", "in", 1, "1", "uri", "代码系统的规范 URL (the code system's canonical URL)"),
    Param("code", "in", 1, "1", "code", "要查找的代码 (the code to look up)"),
    Param("version", "in", 0, "1", "string", "代码系统版本 (the code system's version)"),
    Param("displayLanguage", "in", 0, "1", "code", "zh | en"),
    Param("name", "out", 1, "1", "string", "代码系统名称 (the code system's title)"),
    Param("version", "out", 0, "1", "string", "代码系统版本 (the code system's version)"),
    Param("display", "out", 1, "1", "string", "显示名 (the code's display)"),
    Param("designation", "out", 0, "*", None, "各语言的名称 (the name in each language)", (
        Param("language", "out", 0, "1", "code", "zh | en"),
        Param("value", "out", 1, "1", "string", "名称 (the name)"),
    )),
)  # fmt: skip
DEFINITION = operation_definition(
    "CodeSystem", "lookup", "查找代码 (look up a code)", _PARAMS, instance=False
)
CAPABILITY = Capability(
    "CodeSystem",
    operations=(Operation("lookup", DEFINITION["url"], "查找代码 (look up a code)", DEFINITION),),
)


@get_and_post(router, "/CodeSystem/$lookup", "Look up a code (查找代码: $lookup)")
async def lookup(request: Request) -> FhirResponse:
    params = await operation_input(request, ("system", "code", "version", "displayLanguage"))
    table = table_by_url(need(params, "system"))
    check_version(table, params)
    code, lang = need(params, "code"), language(params)
    concept = table.concept(code)
    if concept is None:
        raise FhirError(404, "not-found", f"代码 '{code}' 不在《{table.title}》中 (code not "
                        f"found in {table.url})", expression="code")  # fmt: skip
    parameter: list[dict[str, Any]] = [
        {"name": "name", "valueString": table.title},
        {"name": "version", "valueString": table.version},
        {"name": "display", "valueString": display_in(concept, lang)},
    ]
    parameter.extend(
        {"name": "designation", "part": [{"name": "language", "valueCode": d["language"]},
                                         {"name": "value", "valueString": d["value"]}]}
        for d in designations(concept)
    )  # fmt: skip
    return FhirResponse({"resourceType": "Parameters", "parameter": parameter})
