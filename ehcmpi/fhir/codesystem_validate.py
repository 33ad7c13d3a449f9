"""``GET|POST /fhir/CodeSystem/$validate-code`` and ``/CodeSystem/{id}/$validate-code``: is
this code in the code system (FHIR R4 §4.8.16 CodeSystem-validate-code; POST: the same
parameters in a ``Parameters`` body)?

OperationDefinition ``http://ehcmpi.org/fhir/OperationDefinition/CodeSystem-validate-code``
(base HL7 ``CodeSystem-validate-code``): IN ``url`` 0..1 uri (1..1 at type level), ``code``
1..1, ``display`` 0..1 (Chinese or English name), ``version`` 0..1, ``displayLanguage`` 0..1;
OUT ``result`` boolean, ``message`` when false, ``display``.  A code that is not in the system
is ``result=false`` with the reason, not an error; an unknown code system is 404.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request

from ehcmpi.fhir.capability import Capability, Operation
from ehcmpi.fhir.codesystem_catalog import (
    VALIDATION_OUT,
    CodeTable,
    check_version,
    get_and_post,
    instance_table,
    language,
    need,
    operation_definition,
    operation_input,
    table_by_url,
    validation,
)
from ehcmpi.fhir.parameters import Param
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
_IN = (
    Param("url", "in", 0, "1", "uri", "代码系统 URL；类型级调用必填 (required at type level)"),
    Param("code", "in", 1, "1", "code", "要校验的代码 (the code to validate)"),
    Param("display", "in", 0, "1", "string", "要核对的显示名，中文或英文 (a display to check)"),
    Param("version", "in", 0, "1", "string", "代码系统版本 (the code system's version)"),
    Param("displayLanguage", "in", 0, "1", "code", "zh | en"),
)  # fmt: skip
ALLOWED = tuple(p.name for p in _IN)
DEFINITION = operation_definition(
    "CodeSystem", "validate-code", "校验代码 (validate a code)", (*_IN, *VALIDATION_OUT),
    instance=True,
)  # fmt: skip
CAPABILITY = Capability(
    "CodeSystem",
    operations=(
        Operation("validate-code", DEFINITION["url"], "校验代码 (validate a code)", DEFINITION),
    ),
)


def _answer(table: CodeTable, params: Mapping[str, str]) -> FhirResponse:
    check_version(table, params)
    code = need(params, "code")
    return FhirResponse(validation(table, code, params.get("display"), language(params)))


@get_and_post(router, "/CodeSystem/$validate-code", "Validate a code (校验代码: $validate-code)")
async def validate_code(request: Request) -> FhirResponse:
    params = await operation_input(request, ALLOWED)
    return _answer(table_by_url(need(params, "url")), params)


@get_and_post(
    router,
    "/CodeSystem/{codesystem_id}/$validate-code",
    "Validate a code in this code system (校验代码: $validate-code)",
)
async def validate_code_in(codesystem_id: str, request: Request) -> FhirResponse:
    params = await operation_input(request, ALLOWED)
    return _answer(instance_table(codesystem_id, "CodeSystem", params), params)
