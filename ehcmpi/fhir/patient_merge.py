"""``POST /fhir/Patient/$merge``: merge two golden records (guideline §4.1.1 索引合并 人工合并;
FHIR R5 Patient $merge, https://build.fhir.org/patient-operation-merge.html, on R4 resources).

OperationDefinition ``http://ehcmpi.org/fhir/OperationDefinition/Patient-merge`` (base
``http://hl7.org/fhir/OperationDefinition/Patient-merge``), type level, affects state:

- IN ``source-patient`` 0..1 Reference(Patient) — the record to retire (``Patient/[id]``, or a
  Reference holding an ``identifier``); ``source-patient-identifier`` 0..* Identifier — any
  identifier the index resolves (ID card or other document, EHC ID, master-index ID, archive
  number, a hospital's local ID); all given must name one record, and one of the two is needed;
- IN ``target-patient`` / ``target-patient-identifier``: the same for the surviving record;
- IN ``result-patient`` 0..1 Patient — demographics to give the survivor after the merge (its
  ``id``, if any, must be the target's; it may name only identifiers the merged record holds);
- IN ``preview`` 0..1 boolean — true: answer what the merge would give and change nothing;
- IN ``reason`` 0..1 string (ehcmpi) — kept with the merge and its link events;
- OUT ``input`` 1..1 Parameters (the request), ``outcome`` 1..1 OperationOutcome, ``result``
  1..1 Patient — the survivor, with ``link`` ``replaces`` → the retired record.

The merge is :meth:`MergeService.merge_in`, as for ``ehcmpi patient merge`` and the review
queue: sources, documents and EHC accounts move to the survivor, the retired record stays as
MERGED (read as ``active: false``), and a split can undo it (``$split``).  ``result-patient``
demographics are written as the survivor's next version in the same transaction; a later
change of its links recomputes survivorship from the sources.  A preview runs the same merge
in a transaction that is rolled back.

Errors (nothing written): no source or target 400; an unknown record or identifier 404;
source and target the same record, identifiers naming two records, or a ``result-patient``
that does not fit 422; a record already merged or cancelled 409.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from ehcmpi.bootstrap import Container
from ehcmpi.core.documents import check_demographics, derived_demographics
from ehcmpi.core.errors import InvalidInputError, NotFoundError
from ehcmpi.core.links import LinkOrigin
from ehcmpi.core.maintenance import save_version
from ehcmpi.core.model import Actor, PatientRecord, RegistrationMode, RegistrationRequest
from ehcmpi.core.ports import UnitOfWork
from ehcmpi.core.query import resolve_identifier
from ehcmpi.core.registration import utcnow
from ehcmpi.fhir import parameters as p
from ehcmpi.fhir.capability import Capability, Operation
from ehcmpi.fhir.context import actor, container
from ehcmpi.fhir.outcome import operation_outcome
from ehcmpi.fhir.patient_resource import parse_patient, patient_resource, registration_request
from ehcmpi.fhir.request_body import read_json
from ehcmpi.fhir.responses import FhirResponse
from ehcmpi.terminology.validators import check_document, cross_check

router = APIRouter()
_IN = (
    p.Param("source-patient", "in", 0, "1", "Reference", "要注销的索引 (the record to retire)"),
    p.Param("source-patient-identifier", "in", 0, "*", "Identifier",
            "按标识指定源记录 (the record to retire, by any identifier the index resolves)"),
    p.Param("target-patient", "in", 0, "1", "Reference", "保留的索引 (the surviving record)"),
    p.Param("target-patient-identifier", "in", 0, "*", "Identifier",
            "按标识指定目标记录 (the surviving record, by identifier)"),
    p.Param("result-patient", "in", 0, "1", "Patient",
            "合并后保留记录的人口学信息 (demographics to give the survivor)"),
    p.Param("preview", "in", 0, "1", "boolean", "true: 只预览不修改 (answer, change nothing)"),
    p.Param("reason", "in", 0, "1", "string", "合并原因 (reason, kept with the merge)"),
    p.Param("input", "out", 1, "1", "Parameters", "请求参数 (the request)"),
    p.Param("outcome", "out", 1, "1", "OperationOutcome", "结果说明 (what happened)"),
    p.Param("result", "out", 1, "1", "Patient", "保留的索引 (the surviving record)"),
)  # fmt: skip
DEFINITION = p.operation_definition(
    "merge",
    "合并患者索引 (merge golden records)",
    "Folds the source golden record into the target (guideline §4.1.1 索引合并); R5 $merge.",
    _IN,
    affects_state=True,
    base="http://hl7.org/fhir/OperationDefinition/Patient-merge",
)
CAPABILITY = Capability(
    "Patient",
    operations=(Operation("merge", DEFINITION["url"], "索引合并 (merge)", DEFINITION),),
)
DECLARED = {param.name: param.max for param in _IN if param.use == "in"}


def resolve_patient(
    uow: UnitOfWork, role: str, patient_id: str | None, identifiers: list[tuple[str, str]]
) -> str:
    """The one master-index ID a Reference and identifiers name (404 unknown, 422 several)."""
    found = {patient_id.upper()} if patient_id else set()
    for system, value in identifiers:
        mpi_id = resolve_identifier(uow, system, value)
        if mpi_id is None:
            raise NotFoundError(
                f"{role} 标识 {system}|{value} 未找到患者 (no patient has this identifier)"
            )
        found.add(mpi_id)
    if len(found) > 1:
        raise InvalidInputError(
            f"{role} 的引用和标识指向不同的患者 (the {role} reference and identifiers name "
            f"different patients): {', '.join(sorted(found))}"
        )
    return found.pop()


def _side(given: p.Given, role: str) -> tuple[str | None, list[tuple[str, str]]]:
    patient_id, identifier = p.reference(given, f"{role}-patient")
    identifiers = p.identifiers(given, f"{role}-patient-identifier")
    if patient_id is None and identifier is None and not identifiers:
        p.required(given, f"{role}-patient")
    return patient_id, identifiers + ([identifier] if identifier else [])


def _apply_result(
    uow: UnitOfWork, wired: Container, survivor: PatientRecord, wanted: RegistrationRequest,
    who: Actor,
) -> PatientRecord:  # fmt: skip
    """``result-patient``: the survivor's next version, in the merge's transaction."""
    held = {(d.doc_type, d.number) for d in survivor.documents}
    for doc in wanted.documents:
        check = check_document(doc.doc_type, doc.number)
        if (check.doc_type, check.number) not in held:
            raise InvalidInputError(f"result-patient 的证件 {doc.doc_type}:{doc.number} 不在合并后"
                                    "的记录上 (result-patient names a document the merged "
                                    "record does not hold)")  # fmt: skip
    for source in wanted.source_ids:
        if source not in survivor.source_ids:
            raise InvalidInputError(f"result-patient 的标识 {source.system}|{source.value} 不在合并"
                                    "后的记录上 (result-patient names an identifier the merged "
                                    "record does not hold)")  # fmt: skip
    demographics = wanted.demographics
    primary = survivor.primary_document
    if primary is not None:
        encoded = check_document(primary.doc_type, primary.number)
        problems = cross_check(
            encoded, birth_date=demographics.birth_date, gender=demographics.gender
        )
        if problems:
            raise InvalidInputError("; ".join(problems), location="demographics")
    demographics = derived_demographics(demographics, survivor.documents)
    changed = survivor.with_changes(demographics=demographics)
    updated = save_version(uow, survivor, changed, "merge-result", who, utcnow())
    wired.linker.matcher.index(uow, updated)
    return updated


def _merge(
    wired: Container, given: p.Given, wanted: RegistrationRequest | None, result_id: str | None,
    who: Actor,
) -> tuple[PatientRecord, str]:  # fmt: skip
    preview = p.boolean(given, "preview")
    reason = p.text(given, "reason") or ""
    source_ref, target_ref = _side(given, "source"), _side(given, "target")
    with wired.audit.call(who, "merge-preview" if preview else "merge") as call, \
            wired.uow(write=True) as uow:  # fmt: skip
        source = resolve_patient(uow, "source", *source_ref)
        target = resolve_patient(uow, "target", *target_ref)
        call.target, call.detail = target, f"retired {source}"
        if source == target:
            raise InvalidInputError(f"不能将索引 {source} 与自身合并 (source and target are the "
                                    "same patient)")  # fmt: skip
        if result_id is not None and result_id.upper() != target:
            raise InvalidInputError("result-patient 的 id 须为目标患者 (result-patient.id must be "
                                    "the target patient's id)")  # fmt: skip
        survivor = wired.merges.merge_in(uow, target, source, who, reason, LinkOrigin.MANUAL)
        if wanted is not None:
            survivor = _apply_result(uow, wired, survivor, wanted, who)
        if not preview:
            uow.commit()
        return survivor, source


def result_parameters(
    body: dict[str, Any], message: str, named: list[tuple[str, dict[str, Any]]]
) -> dict[str, Any]:
    """The answer of an operation that changes records: input, outcome and the records."""
    outcome = operation_outcome("informational", message, severity="information")
    parameter = [{"name": "input", "resource": body}, {"name": "outcome", "resource": outcome}]
    parameter += [{"name": name, "resource": resource} for name, resource in named]
    return {"resourceType": "Parameters", "parameter": parameter}


@router.post("/Patient/$merge", summary="Merge two golden records (索引合并)")
async def merge(request: Request) -> FhirResponse:
    body = await read_json(request, "Parameters")
    given = p.read_parameters(body, DECLARED)
    wired = container(request)
    result = p.resource(given, "result-patient", "Patient")
    wanted = None
    if result is not None:
        wanted = registration_request(parse_patient(result), wired.domains, RegistrationMode.DIRECT)
        check_demographics(wanted.demographics)
    result_id = str(result["id"]) if result and result.get("id") else None
    survivor, retired = await asyncio.to_thread(
        _merge, wired, given, wanted, result_id, actor(request)
    )
    resource = patient_resource(survivor)
    resource["link"] = [{"other": {"reference": f"Patient/{retired}"}, "type": "replaces"}]
    preview = p.boolean(given, "preview")
    message = (
        f"预览：将 {retired} 合并入 {survivor.mpi_id}，未作任何修改 (preview: nothing changed)"
        if preview
        else f"已将 {retired} 合并入 {survivor.mpi_id} (merged)"
    )
    return FhirResponse(result_parameters(body, message, [("result", resource)]))
