"""``GET /fhir/Patient/{id}/_history``: one patient's version history (FHIR R4 http
``history-instance``; guideline §4.1.2 患者基本信息维护: the old values stay on record).

A ``Bundle`` of type ``history``, newest version first, one entry per version: the Patient
as it was (``meta.versionId`` = the version), ``request`` the interaction that made it
(registration ``POST``, maintenance, linking and merges ``PUT``, cancellation 索引注销
``DELETE`` — an entry without a resource, as FHIR records deletions) and ``response`` its
status, ETag and time.  Parameters: ``_count`` (the newest n versions), ``_since`` (versions
made at or after an instant), ``_format``.  An unknown patient is 404; a cancelled one still
has its history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request

from ehcmpi.core.model import PatientVersion
from ehcmpi.fhir.capability import Capability, Interaction
from ehcmpi.fhir.context import actor, container
from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.patient_resource import patient_resource
from ehcmpi.fhir.responses import FhirResponse, base_url

router = APIRouter()
CAPABILITY = Capability(
    "Patient",
    (Interaction("history-instance", "患者基本信息维护的版本历史 (version history)"),),
    extra={"readHistory": True},
)
ALLOWED = frozenset({"_count", "_since", "_format"})
#: version action → (Bundle.entry.request.method, Bundle.entry.response.status)
_INTERACTIONS = {"create": ("POST", "201 Created"), "cancel": ("DELETE", "200 OK")}


def version_snapshot(version: PatientVersion) -> dict[str, Any] | None:
    """The Patient as this version left it; None for a cancellation (a deletion in FHIR)."""
    if version.action == "cancel":
        return None
    snapshot = version.snapshot.with_changes(version=version.version, updated_at=version.at)
    return patient_resource(snapshot)


def _entry(base: str, mpi_id: str, version: PatientVersion) -> dict[str, Any]:
    method, status = _INTERACTIONS.get(version.action, ("PUT", "200 OK"))
    entry: dict[str, Any] = {"fullUrl": f"{base}/Patient/{mpi_id}"}
    resource = version_snapshot(version)
    if resource is not None:
        entry["resource"] = resource
    entry["request"] = {
        "method": method,
        "url": "Patient" if method == "POST" else f"Patient/{mpi_id}",
    }
    entry["response"] = {
        "status": status,
        "etag": f'W/"{version.version}"',
        "lastModified": version.at.isoformat(),
    }
    return entry


def _count(request: Request) -> int | None:
    value = request.query_params.get("_count")
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        raise FhirError(400, "invalid", f"_count 须为正整数 (_count must be a positive integer): "
                        f"{value}", expression="_count")  # fmt: skip
    return int(value)


def _since(request: Request) -> dt.datetime | None:
    value = request.query_params.get("_since")
    if value is None:
        return None
    try:
        since = dt.datetime.fromisoformat(value)
    except ValueError:
        raise FhirError(400, "invalid", f"_since 须为时间 (_since must be an instant): {value}",
                        expression="_since") from None  # fmt: skip
    return since if since.tzinfo else since.replace(tzinfo=dt.UTC)


@router.get("/Patient/{patient_id}/_history", summary="Version history of a patient")
def patient_history(patient_id: str, request: Request) -> FhirResponse:
    unknown = sorted(set(request.query_params) - ALLOWED)
    if unknown:
        raise FhirError(400, "not-supported", f"不支持的参数 (unsupported parameter): {unknown[0]}")
    count, since = _count(request), _since(request)
    versions = container(request).query.history(patient_id, actor(request))
    newest_first = [v for v in reversed(versions) if since is None or v.at >= since]
    base, mpi_id = base_url(request), versions[0].mpi_id
    return FhirResponse(
        {
            "resourceType": "Bundle",
            "type": "history",
            "total": len(newest_first),
            "link": [{"relation": "self", "url": str(request.url)}],
            "entry": [_entry(base, mpi_id, v) for v in newest_first[:count]],
        }
    )
