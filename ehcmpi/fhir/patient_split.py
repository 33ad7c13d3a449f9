"""``POST /fhir/Patient/$split`` and ``POST /fhir/Patient/[id]/$split``: take a hospital
system's record out of a golden record (guideline §4.1.1 索引拆分).

OperationDefinition ``http://ehcmpi.org/fhir/OperationDefinition/Patient-split``, type and
instance level, affects state:

- IN ``patient`` 0..1 Reference(Patient) — the golden record to split (``Patient/[id]`` or a
  Reference with an identifier); required at type level, and at instance level it must name
  the same record as the URL if given;
- IN ``source-identifier`` 1..1 Identifier — the hospital system's record to take out
  (``system`` = that system's domain, ``value`` = its local patient ID);
- IN ``reason`` 0..1 string — kept with the link events and the NO_MATCH decision;
- IN ``preview`` 0..1 boolean — true: answer what the split would give, change nothing (a new
  record's id in a preview is not the one a real split would mint);
- OUT ``input`` 1..1 Parameters, ``outcome`` 1..1 OperationOutcome, ``result`` 1..1 Patient —
  the record the source now rests in, ``remaining`` 1..1 Patient — the one it left.

The split is :meth:`MergeService.split_in`, as for ``ehcmpi patient split`` and the review
queue: if the source came in by a merge the merge is undone (the retired record comes back
with what the merge moved), otherwise it gets a new golden record with the documents only it
sent; the pair is remembered as a MANUAL NO_MATCH so automatic matching never joins it again.

Errors (nothing written): no ``patient`` or ``source-identifier`` 400; an unknown record 404; a
source not linked to that record 404; the record's only source, or a record that is merged or
cancelled 409; ``patient`` naming another record than the URL 422.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from ehcmpi.bootstrap import Container
from ehcmpi.core.errors import InvalidInputError
from ehcmpi.core.model import Actor, PatientRecord, SourceIdentifier
from ehcmpi.fhir import parameters as p
from ehcmpi.fhir.capability import Capability, Operation
from ehcmpi.fhir.context import actor, container
from ehcmpi.fhir.patient_merge import resolve_patient, result_parameters
from ehcmpi.fhir.patient_resource import patient_resource
from ehcmpi.fhir.request_body import read_json
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
_PARAMS = (
    p.Param("patient", "in", 0, "1", "Reference",
            "要拆分的索引，实例级取自 URL (the golden record; at instance level the URL's)"),
    p.Param("source-identifier", "in", 1, "1", "Identifier",
            "要拆出的院内记录 system|value (the hospital system's record to take out)"),
    p.Param("reason", "in", 0, "1", "string", "拆分原因 (reason)"),
    p.Param("preview", "in", 0, "1", "boolean", "true: 只预览不修改 (answer, change nothing)"),
    p.Param("input", "out", 1, "1", "Parameters", "请求参数 (the request)"),
    p.Param("outcome", "out", 1, "1", "OperationOutcome", "结果说明 (what happened)"),
    p.Param("result", "out", 1, "1", "Patient",
            "来源记录现在所属的索引 (the record the source now rests in)"),
    p.Param("remaining", "out", 1, "1", "Patient", "被拆分的索引 (the record it left)"),
)  # fmt: skip
DEFINITION = p.operation_definition(
    "split",
    "拆分患者索引 (split a source record out of a golden record)",
    "Takes one hospital system's record out of a golden record (guideline §4.1.1 索引拆分); "
    "undoes the merge that brought it in, if any.",
    _PARAMS,
    affects_state=True,
    instance=True,
)
CAPABILITY = Capability(
    "Patient",
    operations=(Operation("split", DEFINITION["url"], "索引拆分 (split)", DEFINITION),),
)
DECLARED = {param.name: param.max for param in _PARAMS if param.use == "in"}


def _split(
    wired: Container, url_id: str | None, given: p.Given, who: Actor
) -> tuple[PatientRecord, PatientRecord]:
    if url_id is None:
        p.required(given, "patient")
    p.required(given, "source-identifier")
    ((system, value),) = p.identifiers(given, "source-identifier")
    source = SourceIdentifier(system, value)
    ref_id, ref_identifier = p.reference(given, "patient")
    preview = p.boolean(given, "preview")
    with wired.audit.call(who, "split-preview" if preview else "split") as call, \
            wired.uow(write=True) as uow:  # fmt: skip
        named = [ref_identifier] if ref_identifier else []
        mpi_id = resolve_patient(uow, "patient", ref_id or url_id, named)
        if url_id is not None and mpi_id != url_id.upper():
            raise InvalidInputError("参数 patient 与 URL 中的患者不同 (the patient parameter "
                                    "names another record than the URL)")  # fmt: skip
        call.target, call.detail = mpi_id, f"{system}|{value}"
        moved = wired.merges.split_in(uow, mpi_id, source, who, p.text(given, "reason") or "")
        remaining = uow.patients.get(mpi_id)
        assert remaining is not None
        if not preview:
            uow.commit()
        return moved, remaining


async def _answer(request: Request, url_id: str | None) -> FhirResponse:
    body = await read_json(request, "Parameters")
    given = p.read_parameters(body, DECLARED)
    moved, remaining = await asyncio.to_thread(
        _split, container(request), url_id, given, actor(request)
    )
    preview = p.boolean(given, "preview")
    message = (
        f"预览：将拆出到 {moved.mpi_id}，未作任何修改 (preview: nothing changed)"
        if preview
        else f"已从 {remaining.mpi_id} 拆出到 {moved.mpi_id} (split)"
    )
    named = [("result", patient_resource(moved)), ("remaining", patient_resource(remaining))]
    return FhirResponse(result_parameters(body, message, named))


@router.post("/Patient/$split", summary="Split a source record out (索引拆分)")
async def split(request: Request) -> FhirResponse:
    return await _answer(request, None)


@router.post("/Patient/{patient_id}/$split", summary="Split a source record out (索引拆分)")
async def split_instance(patient_id: str, request: Request) -> FhirResponse:
    return await _answer(request, patient_id)
