"""Identifier domains (assigning authorities) of the hospital systems that feed the index.

A domain is what HL7 v2 calls an assigning authority (PID-3 CX.4 ``namespace&oid&ISO``) and
FHIR an ``Identifier.system`` (``urn:oid:<oid>``).  ``source`` is the sending application
(MSH-3) whose feeds own the domain; the HL7 feed uses it to fill a missing CX.4.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IdentifierDomain:
    namespace: str
    oid: str
    system: str
    name: str
    source: str | None = None
    trust: int = 0


class DomainRegistry:
    """The configured domains, looked up by FHIR system, OID, namespace or sending app."""

    def __init__(self, domains: Iterable[IdentifierDomain] = ()) -> None:
        self._domains = tuple(domains)
        self._by_system = {d.system: d for d in self._domains}

    def all(self) -> tuple[IdentifierDomain, ...]:
        return self._domains

    def by_system(self, system: str) -> IdentifierDomain | None:
        return self._by_system.get(system)

    def by_oid(self, oid: str) -> IdentifierDomain | None:
        return next((d for d in self._domains if d.oid == oid), None)

    def by_namespace(self, namespace: str) -> IdentifierDomain | None:
        return next((d for d in self._domains if d.namespace == namespace), None)

    def trust(self, system: str) -> int:
        """Survivorship rank of a source system's domain (unknown domains: 0)."""
        domain = self._by_system.get(system)
        return domain.trust if domain else 0

    def by_source(self, source: str) -> IdentifierDomain | None:
        return next((d for d in self._domains if d.source == source), None)
