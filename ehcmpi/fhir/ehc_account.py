"""``GET|POST /fhir/$ehc-account``: electronic health card accounts and their lifecycle
(guideline §4.2.2 电子健康卡管理: 账户信息管理, 账户生命周期管理).  Semantics:
:class:`ehcmpi.core.cards.CardService`.

OperationDefinition ``http://ehcmpi.org/fhir/OperationDefinition/ehc-account``, system level,
affectsState true for ``POST`` (FHIR R4 §3.1.0.10: the ``GET`` form only reads).

``GET /fhir/$ehc-account?ehcId=…`` or ``?patient=<id>``: the account(s) with their history.

``POST`` with a Parameters body: ``action`` 1..1 code — ``suspend`` (正常→暂停), ``resume``
(暂停→正常), ``cancel`` (→注销), ``reissue`` (补发: →正常, codes made before are void; ``kind``
may change the card to ``formal`` or ``temporary``), ``issue-temporary`` (电子就诊卡 for a
patient without an EHC ID; needs ``patient``); ``ehcId`` 0..1 string or Identifier (every
action but issue-temporary); ``patient`` 0..1 Reference(Patient); ``reason`` 0..1 string
(required but for resume); ``kind`` 0..1 code.

OUT: one ``account`` per card (parts ``ehcId``, ``patient``, ``documentType``, ``status``
normal | suspended | revoked, ``kind``, ``issued``, and one ``event`` per history entry:
``action``, ``from``, ``to``, ``kind``, ``reason``, ``actor``, ``at``).  Errors: unknown card
or patient 404; a change the card's state does not allow 409; missing reason or bad
parameter 400.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ehcmpi.bootstrap import Container
from ehcmpi.core.card_types import AccountAction
from ehcmpi.core.model import Actor, EhcAccount, EhcCardKind
from ehcmpi.fhir import parameters as p
from ehcmpi.fhir.capability import Capability, Operation
from ehcmpi.fhir.context import actor, container
from ehcmpi.fhir.ehc_common import account_part, bad, call, query, system_definition
from ehcmpi.fhir.request_body import read_json
from ehcmpi.fhir.responses import FhirResponse

router = APIRouter()
ACTIONS = ("suspend", "resume", "cancel", "reissue", "issue-temporary")
PARAMS = (
    p.Param("action", "in", 0, "1", "code", "操作 (POST): " + " | ".join(ACTIONS)),
    p.Param("ehcId", "in", 0, "1", "string", "电子健康卡 ID (string or Identifier)"),
    p.Param("patient", "in", 0, "1", "Reference", "患者 (patient; GET: its id)"),
    p.Param("reason", "in", 0, "1", "string", "原因 (reason; required but for resume)"),
    p.Param("kind", "in", 0, "1", "code", "补发后的卡类型 (reissue: formal | temporary)"),
    p.Param("account", "out", 0, "*", None, "电子健康卡账户及其历史 (account with history)"),
)
DEFINITION = system_definition(
    "ehc-account",
    "电子健康卡账户 (EHC accounts)",
    "Read an electronic health card account and its history; suspend, resume, cancel or "
    "re-issue it; issue a temporary card (guideline §4.2.2).",
    PARAMS,
    affects_state=True,
)
CAPABILITY = Capability(
    "",
    operations=(
        Operation("ehc-account", DEFINITION["url"], "电子健康卡账户 (EHC accounts)", DEFINITION),
    ),
)
DECLARED = {x.name: x.max for x in PARAMS if x.use == "in"}


def _accounts(wired: Container, ehc_id: str | None, mpi_id: str | None) -> list[dict[str, Any]]:
    cards = wired.cards
    accounts = [cards.account(ehc_id)] if ehc_id else cards.accounts_of(str(mpi_id))
    return [account_part(a, cards.history(a.ehc_id)) for a in accounts]


def _answer(parts: list[dict[str, Any]]) -> FhirResponse:
    return FhirResponse({"resourceType": "Parameters", "parameter": parts})


@router.get("/$ehc-account", summary="电子健康卡账户 (EHC accounts, §4.2.2)")
async def read_accounts(request: Request) -> FhirResponse:
    given = query(request, ("ehcId", "patient"))
    ehc_id, mpi_id = given.get("ehcId"), given.get("patient")
    if (ehc_id is None) == (mpi_id is None):
        raise bad("须且仅须给出 ehcId 或 patient (give ehcId or patient)")
    return _answer(await call(_accounts, container(request), ehc_id, mpi_id))


def _ehc_id(given: p.Given) -> str | None:
    if "ehcId" not in given:
        return None
    identifier = given["ehcId"][0].get("valueIdentifier")
    if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
        return str(identifier["value"]).strip()
    return p.text(given, "ehcId")


def _kind(given: p.Given) -> EhcCardKind | None:
    kind = p.text(given, "kind")
    if kind is None:
        return None
    try:
        return EhcCardKind(kind)
    except ValueError:
        raise bad(f"kind 须为 formal 或 temporary (kind must be formal or temporary): {kind}",
                  "kind") from None  # fmt: skip


def _apply(wired: Container, action: str, given: p.Given, who: Actor) -> EhcAccount:
    reason = p.text(given, "reason")
    if action == "issue-temporary":
        mpi_id, _ = p.reference(given, "patient")
        if mpi_id is None:
            raise bad("issue-temporary 须给出 patient (patient reference required)", "patient")
        return wired.cards.issue_temporary(mpi_id, reason, who)
    ehc_id = _ehc_id(given)
    if ehc_id is None:
        raise bad(f"{action} 须给出 ehcId (ehcId required)", "ehcId")
    return wired.cards.change(ehc_id, AccountAction(action), reason, who, kind=_kind(given))


@router.post("/$ehc-account", summary="电子健康卡账户状态变更 (EHC account lifecycle, §4.2.2)")
async def change_account(request: Request) -> FhirResponse:
    given = p.read_parameters(await read_json(request, "Parameters"), DECLARED)
    p.required(given, "action")
    action = p.text(given, "action") or ""
    if action not in ACTIONS:
        raise bad(f"未知的操作 (unknown action) {action}; 可选 (one of): {', '.join(ACTIONS)}",
                  "action")  # fmt: skip
    wired = container(request)
    account = await call(_apply, wired, action, given, actor(request))
    return _answer(await call(_accounts, wired, account.ehc_id, None))
