"""The FastAPI application: FHIR routes under ``/fhir``, errors as OperationOutcome.

Every error leaves as an OperationOutcome with the right status — unknown route 404, wrong
method 405, unsupported format 406 — and an unexpected failure as a 500 without a stack
trace (the trace goes to the log); in XML when the client asked for XML.  Interactive API
docs are at ``/docs`` (Swagger UI) and ``/redoc``, served with their scripts from the
``fastapi-offline`` package: a hospital intranet has no CDN.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ehcmpi.bootstrap import Container
from ehcmpi.core.errors import DomainError
from ehcmpi.fhir import (
    codesystem_lookup,
    codesystem_read,
    codesystem_search,
    codesystem_validate,
    ehc_account,
    ehc_client_app,
    ehc_qr,
    ehc_qr_records,
    ehc_qr_stats,
    ehc_qr_verify,
    ehc_terminal,
    metadata,
    operation_definition,
    patient_bind_medium,
    patient_create,
    patient_delete,
    patient_feed,
    patient_history,
    patient_match,
    patient_media,
    patient_merge,
    patient_read,
    patient_read_medium,
    patient_search,
    patient_split,
    patient_unbind_medium,
    patient_update,
    patient_vread,
    pix_query,
    review_decide,
    review_list,
    valueset_expand,
    valueset_read,
    valueset_search,
    valueset_validate,
)
from ehcmpi.fhir.capability import Capability, merge
from ehcmpi.fhir.hot import HotRoute, HotRoutes
from ehcmpi.fhir.outcome import FhirError
from ehcmpi.fhir.responses import JSON, FhirResponse, negotiate, reset_format, use_format
from ehcmpi.ihe.turn_batch import TurnBatch

log = logging.getLogger(__name__)
Lifespan = Callable[[FastAPI], Any]
_HTTP_CODES = {404: "not-found", 405: "not-supported", 406: "not-supported"}


def _outcome(
    error: FhirError, headers: Mapping[str, str] | None = None, *, fmt: str | None = None
) -> FhirResponse:
    return FhirResponse(error.outcome(), status_code=error.status, headers=headers, fmt=fmt)


def _refusal(exc: FhirError | DomainError) -> FhirResponse:
    """The OperationOutcome for an error an endpoint raised on purpose."""
    return _outcome(exc if isinstance(exc, FhirError) else FhirError.from_domain(exc))


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(FhirError)
    async def _fhir(_: Request, exc: FhirError) -> Response:
        return _refusal(exc)

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> Response:
        return _refusal(exc)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "processing")
        # Keep Starlette's headers: a 405 must say which methods are allowed (RFC 9110 §15.5.6).
        return _outcome(FhirError(exc.status_code, code, f"{exc.detail}"), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        return _outcome(FhirError(400, "invalid", f"请求无效 (invalid request): {exc.errors()[0]}"))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        return _internal_error(request)


def _internal_error(request: Request) -> FhirResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _outcome(FhirError(500, "exception", "服务器内部错误 (internal server error)"))


class FhirGuard:
    """Pure ASGI middleware (cheaper than ``@app.middleware``, which wraps every request in
    extra tasks) for every request that reaches FastAPI: content negotiation for ``/fhir`` and
    a 500 OperationOutcome for an unexpected error (:func:`_negotiated`).  The hot routes never
    get here: :class:`_HotFront` answers them first."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def onward(request: Request, send: Send) -> None:
            await self.app(scope, receive, send)

        await _negotiated(scope, receive, send, onward)


Answer = Callable[[Request, Send], Awaitable[None]]


async def _negotiated(scope: Scope, receive: Receive, send: Send, answer: Answer) -> None:
    """406 for a ``/fhir`` request that will take neither JSON nor XML, else ``answer`` with
    the chosen format for every response of the request, and a 500 OperationOutcome for an
    unexpected error.

    The 500 is answered here rather than by the ``Exception`` handler: Starlette re-raises
    after that handler, and uvicorn then drops the keep-alive connection, so the client's next
    request on it would fail.
    """
    request = Request(scope, receive)
    fmt = negotiate(request) if scope["path"].startswith("/fhir") else JSON
    if fmt is None:
        error = FhirError(406, "not-supported", "仅支持 JSON 和 XML 格式 (only JSON and XML "
                          "are supported: _format=json|xml, Accept: application/fhir+json|"
                          "application/fhir+xml)")  # fmt: skip
        await _outcome(error, fmt=JSON)(scope, receive, send)
        return
    token = use_format(fmt)
    started = False

    async def tracking_send(message: Message) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await answer(request, tracking_send)
    except Exception:
        if started:
            raise
        await _internal_error(request)(scope, receive, send)
    finally:
        reset_format(token)


def _hot_answer(route: HotRoute, params: dict[str, Any]) -> Answer:
    async def answer(request: Request, send: Send) -> None:
        try:
            response = await route.endpoint(request=request, **params)
        except (FhirError, DomainError) as exc:
            response = _refusal(exc)
        await response(request.scope, request.receive, send)

    return answer


class _HotFront:
    """The hot routes (:mod:`ehcmpi.fhir.hot`) answered in front of FastAPI's middleware —
    Starlette's error and body-limit middleware, the router — by the very endpoint FastAPI
    would call, after the same negotiation and with the same error mapping
    (:func:`_negotiated`).  Every other request goes through the whole stack.  It is the
    application's ``middleware_stack``, which Starlette calls after setting ``scope["app"]``."""

    def __init__(self, app: ASGIApp, hot: HotRoutes) -> None:
        self.app = app
        self._hot = hot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found = self._hot.find(scope["method"], scope["path"])
            if found is not None:
                await _negotiated(scope, receive, send, _hot_answer(*found))
                return
        await self.app(scope, receive, send)


def create_app(container: Container, *, lifespan: Lifespan | None = None) -> FastAPI:
    @asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Few request threads ([server] request_threads): more would fight over the GIL.  This
        # limiter is for FastAPI's ``def`` endpoints; ``async`` ones hand blocking work to the
        # loop's executor (asyncio.to_thread, sized by ``ehcmpi serve``: a cheaper hand-off).
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = container.settings.server.request_threads
        container.start()
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    yield
        finally:
            container.close()

    app = FastAPIOffline(
        title="ehcmpi 患者主索引 (patient master index)",
        version="0.1.0",
        description="FHIR R4 API of the ehcmpi patient master index.",
        lifespan=_lifespan,
        # ehcmpi configures no OpenTelemetry; FastAPI would look for it on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.container = container
    app.state.reads = TurnBatch(container.query.get_each)
    app.state.lookups = TurnBatch(container.pdq.query_each)
    # One registration group at a time per worker (HL7 feeds keep ``request_threads``): the
    # loop does about half of a FHIR registration's CPU — parse, validate, render — and a
    # second group would take the GIL from it while the first waits on the database.  With
    # one, groups grow and so does the loop's share (bench/loadgen.py, 32 clients, 2 workers,
    # after 35,000 registrations, 3 alternating pairs: 1,598-1,620 → 1,648-1,695
    # registrations/s, p99 35-37 → 27-30 ms, server CPU 0.70-0.73 → 0.64-0.66 ms each;
    # offered 1,000/s: p50 17-20 → 12-14 ms).
    app.state.registrations = TurnBatch(container.registration.register_each, threads=1)
    modules = (
        # The frequent ones first: routes are tried in order (ids.py keeps /Patient/{id} from
        # capturing an operation, so the order is free); every scan comes to $ehc-qr-verify.
        metadata, patient_search, patient_read, patient_create, ehc_qr_verify, pix_query,
        patient_update, patient_delete, patient_feed, patient_history, patient_vread,
        patient_match, patient_merge, patient_split, review_list, review_decide,
        patient_read_medium, patient_bind_medium, patient_unbind_medium, patient_media,
        ehc_qr, ehc_account, ehc_terminal, ehc_client_app, ehc_qr_records, ehc_qr_stats,
        # terminology: the $operations before CodeSystem/{id} and ValueSet/{id}
        codesystem_search, codesystem_lookup, codesystem_validate, codesystem_read,
        valueset_search, valueset_validate, valueset_expand, valueset_read, operation_definition,
    )  # fmt: skip
    app.add_middleware(FhirGuard)
    _install_handlers(app)
    capabilities: list[Capability] = []
    for module in modules:
        app.include_router(module.router, prefix="/fhir", tags=["FHIR"])
        declared = getattr(module, "CAPABILITY", None)
        if declared is not None:
            capabilities.append(declared)
    app.state.capabilities = merge(capabilities)
    hot = HotRoutes(r for m in modules for r in getattr(m, "HOT_ROUTES", ()))
    app.middleware_stack = _HotFront(app.build_middleware_stack(), hot)
    return app
