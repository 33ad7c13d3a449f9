"""PIXm Patient Identity Feed FHIR (IHE ITI-104, PIXm 3.1.0 2:3.104; RULES.md 26):
``PUT /fhir/Patient?identifier=<system>|<value>`` (FHIR R4 http "cond-update") and
``DELETE /fhir/Patient?identifier=<system>|<value>`` (FHIR R4 http "3.1.0.7.1" conditional
delete), the FHIR twin of HL7 v2 ITI-8: both run the same ``PixManager`` code.  Bodies and
answers in JSON or XML, as PIXm asks (2:3.104.4.1.2).

The condition names a hospital system's patient: its identifier in a configured identifier
domain (the Patient Identity Source's domain; one source per domain).

- **Add / Revise Patient** (2:3.104.4.1, ≙ ITI-8 A01/A04/A08): ``PixManager.feed`` creates or
  updates that source record and links it to a golden record by the matcher.  201 Created when
  the identifier was new, 200 when it was known; the body is the golden Patient, with
  ``Location`` and ``ETag``.
- **Resolve Duplicate** (2:3.104.4.2, ≙ A40): the body is the subsumed record, ``active=false``
  with one ``link`` of type ``replaced-by`` whose ``other`` is the surviving identifier
  (``identifier`` of the same domain, or ``reference`` ``Patient/<id>`` holding exactly one
  identifier of that domain).  ``PixManager.merge`` replaces every reference to the subsumed
  id and re-links; afterwards ITI-83 for it is 404.  200 with the survivor; replaying a merge
  already done answers the same.
- **Remove Patient** (2:3.104.4.3, Remove Patient option): ``PixManager.remove`` deletes the
  source record, so ITI-83 never returns the identifier again.  200 with an OperationOutcome;
  an identifier the manager does not hold: 200 with a warning, nothing deleted (a delete is
  idempotent in FHIR).

Errors (OperationOutcome; nothing is written): a condition other than one ``identifier``
parameter 400; a system that is no configured domain 400 ``code-invalid`` (as ITI-83, RULES
25); several source records matched (``identifier=a|1,a|2``) 412 (FHIR R4 conditional
update/delete, multiple matches); a body ``id`` that is not the matched patient 400; another
hospital identifier in the body, ``active=false`` without ``replaced-by``, other link types, a
survivor in another domain or the id itself 422; merging where neither id is known 404;
``If-Match`` 400 (conditional updates are not version-aware here).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request

from ehcmpi.bootstrap import Container
from ehcmpi.core.errors import NotFoundError
from ehcmpi.core.model import (
    Actor,
    PatientRecord,
    RegistrationMode,
    RegistrationRequest,
    SourceIdentifier,
)
from ehcmpi.fhir.capability import Capability
from ehcmpi.fhir.context import actor, container
from ehcmpi.fhir.outcome import FhirError, operation_outcome
from ehcmpi.fhir.patient_create import read_json
from ehcmpi.fhir.patient_read import version_headers
from ehcmpi.fhir.patient_resource import patient_resource, registration_request
from ehcmpi.fhir.responses import FhirResponse, base_url
from ehcmpi.ihe.results import PixError

router = APIRouter()
# The ``update`` and ``delete`` interactions are declared by patient_update / patient_delete.
CAPABILITY = Capability("Patient", extra={"conditionalUpdate": True, "conditionalDelete": "single"})
ALLOWED = frozenset({"identifier", "_format"})
#: PixError kind → (HTTP status, issue code)
_PIX_ERRORS = {
    "unknown_domain": (400, "code-invalid"),
    "unknown_id": (404, "not-found"),
    "domain_mismatch": (422, "business-rule"),
    "same_id": (422, "business-rule"),
}


def _from_pix(exc: PixError) -> FhirError:
    status, code = _PIX_ERRORS.get(exc.kind, (422, "processing"))
    return FhirError(status, code, exc.message, expression="identifier")


# --- the condition -------------------------------------------------------------------------


def _condition(request: Request) -> list[SourceIdentifier]:
    """``identifier=system|value`` (a comma-separated list means any of them)."""
    unknown = sorted(set(request.query_params) - ALLOWED)
    if unknown:
        raise FhirError(400, "not-supported", "条件仅支持 identifier 参数 (only identifier is "
                        f"supported in the condition): {unknown[0]}")  # fmt: skip
    given = request.query_params.getlist("identifier")
    if len(given) != 1:
        raise FhirError(400, "required", "条件须且仅须一个 identifier=system|value (the "
                        "condition needs exactly one identifier parameter)",
                        expression="identifier")  # fmt: skip
    found: list[SourceIdentifier] = []
    for token in given[0].split(","):
        system, sep, value = token.partition("|")
        if not sep or not system or not value:
            raise FhirError(400, "invalid", "identifier 须为 system|value 格式 (expected "
                            f"system|value): {token}", expression="identifier")  # fmt: skip
        found.append(SourceIdentifier(system, value))
    return list(dict.fromkeys(found))


def _match(wired: Container, condition: list[SourceIdentifier]) -> dict[SourceIdentifier, str]:
    """The source records the condition matches, with their golden records; >1 is 412."""
    try:
        owners = {ident: wired.pix.owner(ident) for ident in condition}
    except PixError as exc:
        raise _from_pix(exc) from None
    matched = {ident: owner for ident, owner in owners.items() if owner is not None}
    if len(matched) > 1:
        raise FhirError(412, "multiple-matches", f"条件匹配了 {len(matched)} 个患者标识，"
                        "请缩小条件 (the condition matched several patients)")  # fmt: skip
    return matched


# --- the body ------------------------------------------------------------------------------


def _replaced_by(resource: dict[str, Any]) -> dict[str, Any] | None:
    """The one ``replaced-by`` link (a merge), or None (add or revise)."""
    links = resource.get("link", [])
    if any(link.get("type") != "replaced-by" for link in links) or len(links) > 1:
        raise FhirError(422, "not-supported", "仅支持一个 replaced-by 链接 (only one link of type "
                        "replaced-by is supported)", expression="Patient.link")  # fmt: skip
    active = resource.get("active")
    if links and active is not False:
        raise FhirError(422, "business-rule", "被合并的记录须 active=false (a record replaced by "
                        "another must be active=false)", expression="Patient.active")  # fmt: skip
    if not links and active is False:
        raise FhirError(422, "business-rule", "active=false 须带 replaced-by 链接；删除请用 DELETE "
                        "(active=false needs a replaced-by link; remove with a conditional DELETE)",
                        expression="Patient.active")  # fmt: skip
    return dict(links[0]) if links else None


def _survivor(
    wired: Container, link: dict[str, Any], subsumed: SourceIdentifier, who: Actor
) -> SourceIdentifier:
    other = link.get("other", {})
    ident = other.get("identifier") or {}
    if ident.get("system") and ident.get("value"):
        return SourceIdentifier(ident["system"], ident["value"])
    parts = str(other.get("reference", "")).rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == "Patient":
        try:
            patient = wired.query.get(parts[-1], who)
        except NotFoundError as exc:
            where = "Patient.link.other"
            raise FhirError(422, "not-found", exc.message, expression=where) from None
        same_domain = [s for s in patient.source_ids if s.system == subsumed.system]
        if len(same_domain) == 1:
            return same_domain[0]
    raise FhirError(422, "invalid", "replaced-by 须指向本域的存续标识或持有唯一本域标识的 Patient "
                    "(replaced-by must name the surviving identifier of the same domain)",
                    expression="Patient.link.other")  # fmt: skip


def _checked_body(
    wired: Container, resource: dict[str, Any], target: SourceIdentifier
) -> RegistrationRequest:
    """The feed request: the body's data, with the condition's identifier as its only
    hospital identifier (a source feeds its own domain only: PIXm 2:3.104.5)."""
    feed = registration_request(resource, wired.domains, RegistrationMode.FEED)
    if any(s != target for s in feed.source_ids):
        raise FhirError(422, "business-rule", "请求体中的院内标识须与条件一致 (the body's hospital "
                        "identifiers must be the condition's identifier)",
                        expression="Patient.identifier")  # fmt: skip
    return replace(feed, source_ids=(target,))


# --- the interactions ----------------------------------------------------------------------


def _merge(
    wired: Container, subsumed: SourceIdentifier, surviving: SourceIdentifier, who: Actor
) -> PatientRecord:
    try:
        return wired.pix.merge(surviving, subsumed, who, transaction="ITI-104")
    except PixError as exc:
        owner = wired.pix.owner(surviving) if exc.kind == "unknown_id" else None
        if owner is None:
            raise _from_pix(exc) from None
        return wired.query.get(owner, who)  # merged before: the same answer again


def _feed(
    wired: Container, condition: list[SourceIdentifier], resource: dict[str, Any], who: Actor
) -> tuple[PatientRecord, bool]:
    """(the golden record, whether the source record was created)."""
    matched = _match(wired, condition)
    if not matched and len(condition) > 1:
        raise FhirError(412, "multiple-matches", "条件列出多个标识且均不存在，无法确定新建哪一个 "
                        "(several identifiers and none known: which one to create?)")  # fmt: skip
    target, owner = next(iter(matched.items()), (condition[0], None))
    if resource.get("id") not in (None, owner):
        raise FhirError(400, "invalid", "资源 id 与条件匹配的患者不一致 (resource id does not "
                        "match the patient the condition found)",
                        expression="Patient.id")  # fmt: skip
    link = _replaced_by(resource)
    feed = _checked_body(wired, resource, target)
    if link is not None:
        return _merge(wired, target, _survivor(wired, link, target, who), who), False
    try:
        return wired.pix.feed(feed, who).patient, owner is None
    except PixError as exc:
        raise _from_pix(exc) from None


@router.put("/Patient", summary="PIXm ITI-104: add, revise or merge a source patient")
async def conditional_update(request: Request) -> FhirResponse:
    resource = await read_json(request, "Patient")
    if "if-match" in request.headers:
        raise FhirError(400, "not-supported", "条件更新不支持 If-Match (If-Match is not supported "
                        "on a conditional update)")  # fmt: skip
    condition = _condition(request)
    wired, who = container(request), actor(request)
    patient, created = await asyncio.to_thread(_feed, wired, condition, resource, who)
    location = f"{base_url(request)}/Patient/{patient.mpi_id}/_history/{patient.version}"
    return FhirResponse(
        patient_resource(patient),
        status_code=201 if created else 200,
        headers=version_headers(patient) | {"Location": location},
    )


@router.delete("/Patient", summary="PIXm ITI-104: remove a source patient")
def conditional_delete(request: Request) -> FhirResponse:
    condition = _condition(request)
    wired, who = container(request), actor(request)
    matched = _match(wired, condition)
    removed = None
    for identifier in matched:
        try:
            removed = wired.pix.remove(identifier, who)
        except PixError as exc:
            raise _from_pix(exc) from None
    if removed is None:
        text = "未找到匹配的患者标识，未删除任何内容 (no identifier matched; nothing deleted)"
        return FhirResponse(operation_outcome("not-found", text, severity="warning"))
    (identifier,) = matched
    text = f"已删除患者标识 {identifier.system}|{identifier.value} (patient identifier removed)"
    return FhirResponse(operation_outcome("informational", text, severity="information"))
