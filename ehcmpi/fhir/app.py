"""The FastAPI application: FHIR routes under ``/fhir``, errors as OperationOutcome.

Every error leaves as an OperationOutcome with the right status — unknown route 404, wrong
method 405, unsupported format 406 — and an unexpected failure as a 500 without a stack
trace (the trace goes to the log).  Interactive API docs are at ``/docs``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ehcmpi.bootstrap import Container
from ehcmpi.core.errors import DomainError
from ehcmpi.fhir import (
    metadata,
    patient_create,
    patient_read,
    patient_search,
    patient_update,
    pix_query,
)
from ehcmpi.fhir.capability import Capability, merge
from ehcmpi.fhir.outcome import FhirError, operation_outcome
from ehcmpi.fhir.responses import FhirResponse, wants_unsupported_format

log = logging.getLogger(__name__)
Lifespan = Callable[[FastAPI], Any]
_HTTP_CODES = {404: "not-found", 405: "not-supported", 406: "not-supported"}


def _outcome(error: FhirError, headers: Mapping[str, str] | None = None) -> FhirResponse:
    body = operation_outcome(error.code, error.message, expression=error.expression)
    return FhirResponse(body, status_code=error.status, headers=headers)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(FhirError)
    async def _fhir(_: Request, exc: FhirError) -> Response:
        return _outcome(exc)

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> Response:
        return _outcome(FhirError.from_domain(exc))

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
    extra tasks): 406 for a request that will take only XML, and a 500 OperationOutcome for an
    unexpected error.

    The 500 is answered here rather than by the ``Exception`` handler: Starlette re-raises
    after that handler, and uvicorn then drops the keep-alive connection, so the client's next
    request on it would fail.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if scope["path"].startswith("/fhir") and wants_unsupported_format(request):
            error = FhirError(406, "not-supported", "仅支持 JSON 格式 (only JSON is supported)")
            await _outcome(error)(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if started:
                raise
            await _internal_error(request)(scope, receive, send)


def create_app(container: Container, *, lifespan: Lifespan | None = None) -> FastAPI:
    @asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        # As many request threads as pooled connections: more threads would only queue for
        # a connection (or open overflow ones) and fight over the GIL.
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = container.settings.database.pool_size
        container.start()
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    yield
        finally:
            container.close()

    app = FastAPI(
        title="ehcmpi 患者主索引 (patient master index)",
        version="0.1.0",
        description="FHIR R4 API of the ehcmpi patient master index.",
        lifespan=_lifespan,
    )
    app.state.container = container

    app.add_middleware(FhirGuard)
    _install_handlers(app)
    # $ihe-pix before Patient/{id}: the operation's path would otherwise read as an id.
    modules = (metadata, pix_query, patient_create, patient_read, patient_search, patient_update)
    capabilities: list[Capability] = []
    for module in modules:
        app.include_router(module.router, prefix="/fhir", tags=["FHIR"])
        declared = getattr(module, "CAPABILITY", None)
        if declared is not None:
            capabilities.append(declared)
    app.state.capabilities = merge(capabilities)
    return app
