"""``GET /fhir/$ehc-qr-stats``: QR generation and verification summarised (guideline §4.2.3
对二维码生成和验证记录的分析; 二维码使用过程的监控).  Semantics:
:meth:`ehcmpi.core.qr.QrService.summary`.

OperationDefinition ``http://ehcmpi.org/fhir/OperationDefinition/ehc-qr-stats``, system
level, affectsState false.  IN (query string): ``by`` 1..1 — ``day`` (calendar days in
``[qr] report_utc_offset_hours``, China Standard Time by default), ``terminal``, ``outcome``
(``ok`` and each refusal reason: the failures), ``care-step`` or ``channel``; ``since`` and
``until`` (date or dateTime with zone; default the last 7 days).  OUT: one ``group`` per key
(parts ``key``, ``generated``, ``verified``, ``verifiedOk``, ``failed`` — refused
verifications and generations).  Bad parameter 400.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request

from ehcmpi.core.card_types import SummaryKey
from ehcmpi.fhir import parameters as p
from ehcmpi.fhir.capability import Capability, Operation
from ehcmpi.fhir.context import container
from ehcmpi.fhir.ehc_common import bad, call, instant, query, system_definition
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
KEYS = " | ".join(k.value for k in SummaryKey)
PARAMS = (
    p.Param("by", "in", 1, "1", "code", f"分组 (group by): {KEYS}"),
    p.Param("since", "in", 0, "1", "dateTime", "起始时间 (from; default 7 days ago)"),
    p.Param("until", "in", 0, "1", "dateTime", "截止时间 (until; default now)"),
    p.Param("group", "out", 0, "*", None, "分组 (key, generated, verified, verifiedOk, failed)"),
)
DEFINITION = system_definition(
    "ehc-qr-stats",
    "二维码使用统计 (QR statistics)",
    "Summarise QR code generations and verifications per day, terminal, outcome, care step "
    "or channel (guideline §4.2.3).",
    PARAMS,
    affects_state=False,
)
CAPABILITY = Capability(
    "",
    operations=(
        Operation("ehc-qr-stats", DEFINITION["url"], "二维码使用统计 (QR statistics)", DEFINITION),
    ),
)


@router.get("/$ehc-qr-stats", summary="二维码使用统计 (QR statistics, §4.2.3)")
async def qr_stats(request: Request) -> FhirResponse:
    given = query(request, ("by", "since", "until"))
    try:
        key = SummaryKey(given.get("by", ""))
    except ValueError:
        raise bad(f"by 须为 (by must be) {KEYS}: {given.get('by')}", "by") from None
    until = instant(given.get("until"), "until") or dt.datetime.now(dt.UTC)
    since = instant(given.get("since"), "since") or until - dt.timedelta(days=7)
    rows = await call(container(request).qr.summary, since, until, key)
    groups = [
        {
            "name": "group",
            "part": [
                {"name": "key", "valueString": r.key},
                {"name": "generated", "valueInteger": r.generated},
                {"name": "verified", "valueInteger": r.verified},
                {"name": "verifiedOk", "valueInteger": r.verified_ok},
                {"name": "failed", "valueInteger": r.failed},
            ],
        }
        for r in rows
    ]
    return FhirResponse({"resourceType": "Parameters", "parameter": groups})
