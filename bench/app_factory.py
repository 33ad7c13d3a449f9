"""The FHIR app for ``uvicorn --workers N --factory``, to compare with ``ehcmpi serve``.

``ehcmpi serve`` forks its own ``[server] http_workers`` on the stdlib asyncio loop; this
factory runs the same app under uvicorn's process manager (and uvloop) instead::

    EHCMPI_CONFIG=ehcmpi.toml uvicorn app_factory:create --factory --app-dir bench --workers 2

Each worker builds its own container (engine, pool, audit writer) from ``EHCMPI_CONFIG``.
"""

from __future__ import annotations

from fastapi import FastAPI

from ehcmpi.bootstrap import build
from ehcmpi.fhir.app import create_app
from ehcmpi.settings import load_settings


def create() -> FastAPI:
    return create_app(build(load_settings()))
