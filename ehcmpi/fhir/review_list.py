"""``GET /fhir/Patient/$review-list``: the review queue of possible matches (guideline §4.1.1
索引合并 人工确认 — "疑似重复的索引由人工确认后合并").

OperationDefinition ``http://ehcmpi.org/fhir/OperationDefinition/Patient-review-list``, type
level, affectsState false (so GET is allowed, FHIR R4 §3.1.0.10.2):

- IN ``_count`` 0..1 integer (default 20, at most 200), ``_offset`` 0..1 integer — a page of
  the open tasks, highest weight first; ``task`` 0..1 string — that one task instead, open or
  decided (what ``ehcmpi review show`` prints);
- OUT ``total`` 1..1 integer — open tasks in all; ``task`` 0..* — one per task, with parts
  ``id``, ``status`` (OPEN | DONE), ``weight`` (Fellegi–Sunter), ``score`` and ``grade`` (under
  the current rules, :mod:`ehcmpi.core.matching.grading`), ``created``, ``source`` (Identifier:
  set when an automatic link of that hospital record is in doubt), ``resolution``,
  ``resolvedBy``, ``resolvedAt`` (once decided), ``record`` and ``candidate`` (both Patients,
  side by side: is ``record`` the same person as ``candidate``?) and ``explanation`` — the
  stored decision that queued the task: ``outcome``, ``origin``, ``weight``, ``rules``,
  ``reason``, ``actor``, ``at`` and one ``field`` part (``name``, ``level``, ``weight``) per
  comparison.

Decide a task with ``$review-decide``.  Errors: a parameter that is not a number or unknown
400; an unknown task 404.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from fastapi import APIRouter, Request

from ehcmpi.core.links import MatchDecision
from ehcmpi.core.matching.grading import grade, score
from ehcmpi.core.matching.rules import RuleSet
from ehcmpi.core.review import ReviewItem
from ehcmpi.fhir import parameters as p
from ehcmpi.fhir.capability import Capability, Operation
from ehcmpi.fhir.context import actor, container
from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.patient_resource import patient_resource
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
_PARAMS = (
    p.Param("_count", "in", 0, "1", "integer", "每页任务数，默认 20 (tasks per page, default 20)"),
    p.Param("_offset", "in", 0, "1", "integer", "跳过的任务数 (tasks to skip)"),
    p.Param("task", "in", 0, "1", "string", "只看这一个任务 (only this task, open or decided)"),
    p.Param("total", "out", 1, "1", "integer", "待审核任务总数 (open tasks in all)"),
    p.Param("task", "out", 0, "*", None, "一个审核任务，两条记录并列，附匹配说明 (a task: both "
            "records side by side with the stored explanation)"),
)  # fmt: skip
DEFINITION = p.operation_definition(
    "review-list",
    "待审核的疑似重复 (review queue of possible matches)",
    "Open POSSIBLE_MATCH tasks with both records and the stored per-field explanation.",
    _PARAMS,
    affects_state=False,
)
CAPABILITY = Capability(
    "Patient",
    operations=(Operation("review-list", DEFINITION["url"], "人工审核队列 (review queue)",
                          DEFINITION),),
)  # fmt: skip
DEFAULT_COUNT, MAX_COUNT = 20, 200


def instant(at: dt.datetime) -> str:
    return (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).isoformat()


def explanation_parts(decision: MatchDecision) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [
        {"name": "outcome", "valueCode": decision.outcome.value},
        {"name": "origin", "valueCode": decision.origin.value},
        {"name": "weight", "valueDecimal": round(decision.weight, 3)},
        {"name": "rules", "valueString": decision.rules_version},
        {"name": "reason", "valueString": decision.reason},
        {"name": "actor", "valueString": decision.actor},
        {"name": "at", "valueDateTime": instant(decision.at)},
    ]
    for f in decision.fields:
        field: list[dict[str, Any]] = [{"name": "name", "valueString": f.name}]
        if f.level is not None:
            field.append({"name": "level", "valueCode": f.level})
        field.append({"name": "weight", "valueDecimal": round(f.weight, 3)})
        parts.append({"name": "field", "part": field})
    return parts


def task_parameter(item: ReviewItem, rules: RuleSet) -> dict[str, Any]:
    task = item.task
    parts: list[dict[str, Any]] = [
        {"name": "id", "valueString": task.id},
        {"name": "status", "valueCode": task.status.value},
        {"name": "weight", "valueDecimal": round(task.weight, 3)},
        {"name": "score", "valueDecimal": score(task.weight)},
        {"name": "grade", "valueCode": grade(task.weight, rules).value},
        {"name": "created", "valueDateTime": instant(task.created_at)},
    ]
    if task.source is not None:
        identifier = {"system": task.source.system, "value": task.source.value}
        parts.append({"name": "source", "valueIdentifier": identifier})
    if task.resolution is not None:
        parts.append({"name": "resolution", "valueCode": task.resolution.value})
    if task.resolved_by is not None:
        parts.append({"name": "resolvedBy", "valueString": task.resolved_by})
    if task.resolved_at is not None:
        parts.append({"name": "resolvedAt", "valueDateTime": instant(task.resolved_at)})
    parts.append({"name": "record", "resource": patient_resource(item.record)})
    parts.append({"name": "candidate", "resource": patient_resource(item.candidate)})
    if item.decision is not None:
        parts.append({"name": "explanation", "part": explanation_parts(item.decision)})
    return {"name": "task", "part": parts}


def _number(request: Request, name: str, default: int, lowest: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < lowest:
        raise FhirError(400, "invalid", f"参数 {name} 须为不小于 {lowest} 的整数 (expected an "
                        f"integer of at least {lowest})", expression=name)  # fmt: skip
    return int(raw)


@router.get("/Patient/$review-list", summary="Review queue of possible matches (人工审核)")
async def review_list(request: Request) -> FhirResponse:
    unknown = sorted(set(request.query_params) - {"_count", "_offset", "task", "_format"})
    if unknown:
        raise FhirError(400, "not-supported", f"不支持的参数 (unsupported parameter): {unknown[0]}")
    count = min(_number(request, "_count", DEFAULT_COUNT, 1), MAX_COUNT)
    offset = _number(request, "_offset", 0, 0)
    wired, who = container(request), actor(request)
    task_id = request.query_params.get("task")
    if task_id:
        items = [await asyncio.to_thread(wired.review.get, task_id, who)]
        total, _ = await asyncio.to_thread(wired.review.queue, who, 0)
    else:
        total, items = await asyncio.to_thread(wired.review.queue, who, count, offset)
    rules = wired.linker.matcher.rules
    parameter = [{"name": "total", "valueInteger": total}]
    parameter += [task_parameter(item, rules) for item in items]
    return FhirResponse({"resourceType": "Parameters", "parameter": parameter})
