"""``POST /fhir/Patient/$review-decide``: decide a review task (guideline §4.1.1 索引合并
人工确认, 索引拆分).

OperationDefinition ``http://ehcmpi.org/fhir/OperationDefinition/Patient-review-decide``,
type level, affects state:

- IN ``task`` 1..1 string — the task id (from ``$review-list``); ``decision`` 1..1 code —
  ``match`` (the same person) or ``no-match`` (different people); ``reason`` 0..1 string;
- OUT ``input`` 1..1 Parameters, ``outcome`` 1..1 OperationOutcome, ``result`` 1..1 Patient —
  the golden record the pair now rests in.

The decision is :meth:`ReviewService.decide`, as for ``ehcmpi review decide``: ``match``
merges the newer record into the one on file (or confirms a doubted automatic link);
``no-match`` is remembered as a MANUAL decision the matcher never overturns (or splits the
doubted link off).  The first decision wins: deciding a task that is already decided is 409
and changes nothing.  Other errors: a missing parameter or a decision other than
``match`` / ``no-match`` 400; an unknown task 404.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from ehcmpi.core.links import LinkState
from ehcmpi.fhir import parameters as p
from ehcmpi.fhir.capability import Capability, Operation
from ehcmpi.fhir.context import actor, container
from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.patient_merge import result_parameters
from ehcmpi.fhir.patient_resource import patient_resource
from ehcmpi.fhir.request_body import read_json
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
_PARAMS = (
    p.Param("task", "in", 1, "1", "string", "审核任务 id (the task id from $review-list)"),
    p.Param("decision", "in", 1, "1", "code",
            "match（同一人，合并）或 no-match（不同人） (match: same person; no-match: different)"),
    p.Param("reason", "in", 0, "1", "string", "理由 (reason, kept with the decision)"),
    p.Param("input", "out", 1, "1", "Parameters", "请求参数 (the request)"),
    p.Param("outcome", "out", 1, "1", "OperationOutcome", "结果说明 (what happened)"),
    p.Param("result", "out", 1, "1", "Patient", "这对记录所属的索引 (where the pair now rests)"),
)  # fmt: skip
DEFINITION = p.operation_definition(
    "review-decide",
    "处理审核任务 (decide a review task)",
    "An operator's decision on a possible match: match merges, no-match keeps apart. The "
    "first decision wins; a second is 409.",
    _PARAMS,
    affects_state=True,
)
CAPABILITY = Capability(
    "Patient",
    operations=(Operation("review-decide", DEFINITION["url"], "人工审核决定 (decide a task)",
                          DEFINITION),),
)  # fmt: skip
DECLARED = {param.name: param.max for param in _PARAMS if param.use == "in"}
DECISIONS = {"match": LinkState.MATCH, "no-match": LinkState.NO_MATCH}


@router.post("/Patient/$review-decide", summary="Decide a review task (人工审核)")
async def review_decide(request: Request) -> FhirResponse:
    body = await read_json(request, "Parameters")
    given = p.read_parameters(body, DECLARED)
    p.required(given, "task")
    p.required(given, "decision")
    task_id, decision = p.text(given, "task"), p.text(given, "decision")
    assert task_id is not None and decision is not None
    if decision not in DECISIONS:
        raise FhirError(400, "code-invalid", f"decision 须为 match 或 no-match (decision must be "
                        f"match or no-match): {decision}", expression="decision")  # fmt: skip
    resolution = DECISIONS[decision]
    kept = await asyncio.to_thread(
        container(request).review.decide,
        task_id,
        resolution,
        actor(request),
        reason=p.text(given, "reason") or "",
    )
    message = f"任务 {task_id} 已处理：{decision} → {kept.mpi_id} (decided)"
    return FhirResponse(result_parameters(body, message, [("result", patient_resource(kept))]))
