"""``GET|POST /fhir/ValueSet/$validate-code`` and ``/ValueSet/{id}/$validate-code``: is this
code in the value set (FHIR R4 §4.9.18 ValueSet-validate-code; POST: the same parameters in a
``Parameters`` body)?

OperationDefinition ``http://ehcmpi.org/fhir/OperationDefinition/ValueSet-validate-code``
(base HL7 ``ValueSet-validate-code``): IN ``url`` 0..1 (1..1 at type level), ``code`` 1..1,
``system`` 0..1 (the code system; when given it must be the value set's), ``display`` 0..1,
``valueSetVersion`` 0..1, ``displayLanguage`` 0..1; OUT ``result``, ``message`` when false,
``display``.  An unknown value set is 404.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request

from ehcmpi.fhir.capability import Capability, Operation
from ehcmpi.fhir.codesystem_catalog import (
    VALIDATION_OUT,
    CodeTable,
    get_and_post,
    instance_table,
    language,
    need,
    operation_definition,
    operation_input,
    table_by_url,
    validation,
    verdict,
)
from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.parameters import Param
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
_IN = (
    Param("url", "in", 0, "1", "uri", "值集的规范 URL；类型级调用必填 (required at type level)"),
    Param("code", "in", 1, "1", "code", "要校验的代码 (the code to validate)"),
    Param("system", "in", 0, "1", "uri", "代码所属的代码系统 (the code's system)"),
    Param("display", "in", 0, "1", "string", "要核对的显示名，中文或英文 (a display to check)"),
    Param("valueSetVersion", "in", 0, "1", "string", "值集版本 (the value set's version)"),
    Param("displayLanguage", "in", 0, "1", "code", "zh | en"),
)  # fmt: skip
ALLOWED = tuple(p.name for p in _IN)
DEFINITION = operation_definition(
    "ValueSet", "validate-code", "校验代码是否在值集中 (validate a code against a value set)",
    (*_IN, *VALIDATION_OUT), instance=True,
)  # fmt: skip
CAPABILITY = Capability(
    "ValueSet",
    operations=(
        Operation("validate-code", DEFINITION["url"], "校验代码 (validate a code)", DEFINITION),
    ),
)


def _answer(table: CodeTable, params: Mapping[str, str]) -> FhirResponse:
    version = params.get("valueSetVersion")
    if version is not None and version != table.version:
        raise FhirError(404, "not-found", f"{table.valueset_url} 没有版本 {version} (no such "
                        "version)", expression="valueSetVersion")  # fmt: skip
    code = need(params, "code")
    system = params.get("system")
    if system is not None and system != table.url:
        message = (
            f"代码系统 {system} 不在值集 {table.valueset_url} 中 (system not in the value set)"
        )
        return FhirResponse(verdict(False, message))
    return FhirResponse(validation(table, code, params.get("display"), language(params)))


@get_and_post(router, "/ValueSet/$validate-code", "Validate a code (校验代码: $validate-code)")
async def validate_code(request: Request) -> FhirResponse:
    params = await operation_input(request, ALLOWED)
    return _answer(table_by_url(need(params, "url"), valueset=True), params)


@get_and_post(
    router,
    "/ValueSet/{valueset_id}/$validate-code",
    "Validate a code in this value set (校验代码: $validate-code)",
)
async def validate_code_in(valueset_id: str, request: Request) -> FhirResponse:
    params = await operation_input(request, ALLOWED)
    return _answer(instance_table(valueset_id, "ValueSet", params), params)
