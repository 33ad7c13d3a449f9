"""Per-request context for FHIR handlers: the wired container and the calling actor."""

from __future__ import annotations

from starlette.requests import Request

from ehcmpi.bootstrap import Container
from ehcmpi.core.model import Actor
from ehcmpi.fhir.read_batch import ReadBatch


def container(request: Request) -> Container:
    wired: Container = request.app.state.container
    return wired


def reads(request: Request) -> ReadBatch:
    """This worker's batch of reads (``create_app`` makes one per application)."""
    batch: ReadBatch = request.app.state.reads
    return batch


def actor(request: Request) -> Actor:
    """The caller for the call audit: the client address until authentication lands."""
    host = request.client.host if request.client else "unknown"
    return Actor(f"fhir:{host}", channel="fhir")
