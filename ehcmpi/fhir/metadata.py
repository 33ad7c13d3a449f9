"""``GET /fhir/metadata``: the CapabilityStatement (FHIR R4 §3.1.0.14 capabilities).

Truthful: it lists exactly the interactions and search parameters this server implements.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request

import ehcmpi
from ehcmpi.fhir.responses import FhirResponse, base_url

router = APIRouter()
STARTED = dt.datetime.now(dt.UTC).isoformat()

SEARCH_PARAMS = [
    ("identifier", "token", "system|value: 证件、电子健康卡 ID、主索引 ID、档案号或院内标识"),
    ("name", "string", "姓名前缀，汉字或拼音 (name prefix, characters or pinyin)"),
    ("birthdate", "date", "出生日期 YYYY-MM-DD"),
    ("gender", "token", "male | female | other | unknown"),
    ("telecom", "token", "电话号码 (exact phone number)"),
]


def capability_statement(base: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": STARTED,
        "kind": "instance",
        "software": {"name": "ehcmpi", "version": ehcmpi.__version__},
        "implementation": {"description": "ehcmpi patient master index", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "resource": [
                    {
                        "type": "Patient",
                        "profile": "http://hl7.org/fhir/StructureDefinition/Patient",
                        "interaction": [
                            {"code": "create", "documentation": "索引注册 (idempotent)"},
                            {"code": "read"},
                            {"code": "update", "documentation": "患者基本信息维护; If-Match"},
                            {"code": "search-type"},
                        ],
                        "versioning": "versioned",
                        "readHistory": False,
                        "updateCreate": False,
                        "searchParam": [
                            {"name": n, "type": t, "documentation": doc}
                            for n, t, doc in SEARCH_PARAMS
                        ]
                        + [{"name": "_count", "type": "number"}],
                        "operation": [
                            {
                                "name": "ihe-pix",
                                "definition": "https://profiles.ihe.net/ITI/PIXm/"
                                "OperationDefinition/IHE.PIXm.pix",
                                "documentation": "PIXm ITI-83: corresponding identifiers",
                            }
                        ],
                    }
                ],
            }
        ],
    }


@router.get("/metadata", summary="CapabilityStatement")
def metadata(request: Request) -> FhirResponse:
    return FhirResponse(capability_statement(base_url(request)))
