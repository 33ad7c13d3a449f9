"""What each FHIR module declares for the CapabilityStatement (FHIR R4 §3.1.0.14 capabilities).

Every route module may define ``CAPABILITY``: the resource type it serves, the interactions,
search parameters and operations it implements.  ``create_app`` collects them from the modules
it mounts and ``metadata`` renders the statement from what was collected, so the statement
lists exactly what is mounted — a module that is not mounted is not claimed.

An operation names its OperationDefinition: ``definition`` is the canonical URL (an IHE one
for ITI transactions, ours for the rest) and ``resource`` the full OperationDefinition that
``GET /fhir/OperationDefinition/{id}`` serves, when we define it ourselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Capability", "Interaction", "Operation", "SearchParam", "merge"]


@dataclass(frozen=True)
class Interaction:
    code: str  # read | vread | update | patch | delete | history-instance | create | search-type…
    documentation: str = ""


@dataclass(frozen=True)
class SearchParam:
    name: str
    type: str  # string | token | date | reference | number | uri …
    documentation: str = ""


@dataclass(frozen=True)
class Operation:
    name: str  # without the leading $
    definition: str  # canonical URL of the OperationDefinition
    documentation: str = ""
    resource: Mapping[str, Any] | None = None  # our own OperationDefinition, served by id


@dataclass(frozen=True)
class Capability:
    """One module's share of ``CapabilityStatement.rest[0].resource`` (``type`` "" = system)."""

    type: str
    interactions: tuple[Interaction, ...] = ()
    search_params: tuple[SearchParam, ...] = ()
    operations: tuple[Operation, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)  # e.g. versioning, conditionalUpdate


def merge(capabilities: Iterable[Capability]) -> list[Capability]:
    """One :class:`Capability` per resource type, in first-seen order."""
    merged: dict[str, Capability] = {}
    for cap in capabilities:
        seen = merged.get(cap.type)
        if seen is None:
            merged[cap.type] = cap
            continue
        merged[cap.type] = Capability(
            cap.type,
            seen.interactions + cap.interactions,
            seen.search_params + cap.search_params,
            seen.operations + cap.operations,
            {**seen.extra, **cap.extra},
        )
    return list(merged.values())
