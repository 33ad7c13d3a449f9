"""Per-request context for FHIR handlers: the wired container and the calling actor."""

from __future__ import annotations

from starlette.requests import Request

from ehcmpi.bootstrap import Container
from ehcmpi.core.model import Actor, PatientRecord, RegistrationRequest, RegistrationResult
from ehcmpi.ihe.pdq import PdqQuery, SearchPage
from ehcmpi.ihe.turn_batch import TurnBatch

Reads = TurnBatch[tuple[str, Actor], PatientRecord]
Lookups = TurnBatch[PdqQuery, SearchPage]
Registrations = TurnBatch[tuple[RegistrationRequest, Actor], RegistrationResult]


def container(request: Request) -> Container:
    wired: Container = request.app.state.container
    return wired


def reads(request: Request) -> Reads:
    """This worker's batch of reads by ID (``create_app`` makes one per application)."""
    batch: Reads = request.app.state.reads
    return batch


def lookups(request: Request) -> Lookups:
    """This worker's batch of exact lookups by identifier (one per application)."""
    batch: Lookups = request.app.state.lookups
    return batch


def registrations(request: Request) -> Registrations:
    """This worker's registrations answered together (one per application)."""
    batch: Registrations = request.app.state.registrations
    return batch


def actor(request: Request) -> Actor:
    """The caller for the call audit: the client address until authentication lands."""
    host = request.client.host if request.client else "unknown"
    return Actor(f"fhir:{host}", channel="fhir")
