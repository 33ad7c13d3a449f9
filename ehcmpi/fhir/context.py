"""Per-request context for FHIR handlers: the wired container and the calling actor."""

from __future__ import annotations

from starlette.requests import Request

from ehcmpi.bootstrap import Container
from ehcmpi.core.model import Actor


def container(request: Request) -> Container:
    wired: Container = request.app.state.container
    return wired


def actor(request: Request) -> Actor:
    """The caller for the call audit: the client address until authentication lands."""
    host = request.client.host if request.client else "unknown"
    return Actor(f"fhir:{host}", channel="fhir")
