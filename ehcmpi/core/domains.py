"""Identifier domains (assigning authorities) of the hospital systems that feed the index.

A domain is what HL7 v2 calls an assigning authority (PID-3 CX.4 ``namespace&oid&ISO``) and
FHIR an ``Identifier.system`` (``urn:oid:<oid>``).  ``source`` is the sending application
(MSH-3) whose feeds own the domain; the HL7 feed uses it to fill a missing CX.4.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
        # the first domain of each OID, namespace and source, as a scan in order finds it
        # (every feed looks up the authorities of its PID-3 and its sender)
        self._by_oid = _first_by(self._domains, lambda d: d.oid)
        self._by_namespace = _first_by(self._domains, lambda d: d.namespace)
        self._by_source = _first_by(self._domains, lambda d: d.source)

    def all(self) -> tuple[IdentifierDomain, ...]:
        return self._domains

    def by_system(self, system: str) -> IdentifierDomain | None:
        return self._by_system.get(system)

    def by_oid(self, oid: str) -> IdentifierDomain | None:
        return self._by_oid.get(oid)

    def by_namespace(self, namespace: str) -> IdentifierDomain | None:
        return self._by_namespace.get(namespace)

    def trust(self, system: str) -> int:
        """Survivorship rank of a source system's domain (unknown domains: 0)."""
        domain = self._by_system.get(system)
        return domain.trust if domain else 0

    def by_source(self, source: str) -> IdentifierDomain | None:
        return self._by_source.get(source)


def _first_by(
    domains: Iterable[IdentifierDomain], key: Callable[[IdentifierDomain], str | None]
) -> dict[str | None, IdentifierDomain]:
    found: dict[str | None, IdentifierDomain] = {}
    for domain in domains:
        found.setdefault(key(domain), domain)
    return found
