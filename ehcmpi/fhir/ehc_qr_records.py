"""``GET /fhir/$ehc-qr-records``: QR generation and verification records (guideline §4.2.3
二维码的生成和验证记录管理 … 查询; 二维码使用过程的监控).  Semantics:
:meth:`ehcmpi.core.qr.QrService.query`.

OperationDefinition ``http://ehcmpi.org/fhir/OperationDefinition/ehc-qr-records``, system
level, affectsState false.  IN (query string, all optional): ``since``, ``until`` (date or
dateTime with zone; a date is midnight China Standard Time), ``event`` (generate | verify),
``terminal``, ``ehcId``, ``outcome`` (``ok`` or a refusal reason), ``failures`` (true: only
refusals), ``_count`` (1–1000, default 100).  OUT: one ``record`` per record, newest first
(parts ``event``, ``outcome``, ``at``, ``dynamic``, ``terminal``, ``app``, ``careStep``,
``channel``, ``actor``, ``ehcId``, ``patient``).  Bad parameter 400.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from ehcmpi.core.card_types import QrEvent, RecordQuery
from ehcmpi.fhir import parameters as p
from ehcmpi.fhir.capability import Capability, Operation
from ehcmpi.fhir.context import container
from ehcmpi.fhir.ehc_common import bad, call, count, instant, query, record_part, system_definition
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
ALLOWED = ("since", "until", "event", "terminal", "ehcId", "outcome", "failures", "_count")
PARAMS = (
    p.Param("since", "in", 0, "1", "dateTime", "起始时间 (from, inclusive)"),
    p.Param("until", "in", 0, "1", "dateTime", "截止时间 (until, exclusive)"),
    p.Param("event", "in", 0, "1", "code", "generate | verify"),
    p.Param("terminal", "in", 0, "1", "string", "识读终端编码 (terminal code)"),
    p.Param("ehcId", "in", 0, "1", "string", "电子健康卡 ID"),
    p.Param("outcome", "in", 0, "1", "code", "ok 或拒绝原因 (ok or a refusal reason)"),
    p.Param("failures", "in", 0, "1", "boolean", "仅失败记录 (only refusals)"),
    p.Param("_count", "in", 0, "1", "integer", "最多条数 (at most, 1–1000; default 100)"),
    p.Param("record", "out", 0, "*", None, "记录 (one record, newest first)"),
)
DEFINITION = system_definition(
    "ehc-qr-records",
    "二维码生成与验证记录 (QR records)",
    "Query the QR code generation and verification records (guideline §4.2.3).",
    PARAMS,
    affects_state=False,
)
CAPABILITY = Capability(
    "",
    operations=(
        Operation("ehc-qr-records", DEFINITION["url"], "二维码记录查询 (QR records)", DEFINITION),
    ),
)


def record_query(given: dict[str, str]) -> RecordQuery:
    event = given.get("event")
    if event is not None and event not in {e.value for e in QrEvent}:
        raise bad(f"event 须为 generate 或 verify: {event}", "event")
    failures = given.get("failures", "false")
    if failures not in ("true", "false"):
        raise bad(f"failures 须为 true 或 false: {failures}", "failures")
    return RecordQuery(
        since=instant(given.get("since"), "since"),
        until=instant(given.get("until"), "until"),
        event=QrEvent(event) if event else None,
        terminal=given.get("terminal"),
        ehc_id=given["ehcId"].upper() if given.get("ehcId") else None,
        outcome=given.get("outcome"),
        failures_only=failures == "true",
        limit=count(given.get("_count"), 100),
    )


@router.get("/$ehc-qr-records", summary="二维码生成与验证记录 (QR records, §4.2.3)")
async def qr_records(request: Request) -> FhirResponse:
    wanted = record_query(query(request, ALLOWED))
    records = await call(container(request).qr.query, wanted)
    return FhirResponse(
        {"resourceType": "Parameters", "parameter": [record_part(r) for r in records]}
    )
